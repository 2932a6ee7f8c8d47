#!/usr/bin/env python3
"""Verify an organization's audit log offline, without trusting the service that wrote it.

    audit_verify.py export --api https://<api> --org acme > acme-audit.json   (token in $TRUSTFN_TOKEN)
    audit_verify.py verify acme-audit.json [--head SEQ:HASH]
                           [--checkpoints acme-checkpoints.json --public-key checkpoint-key.jwk]
                           [--retention-days 2562]

`export` pages through POST /v1/audit/query (view-audit-log on the organization) and writes the
entries as one JSON array. `verify` recomputes the chain from the entries alone (standard
library only):
- sequence numbers run 1, 2, 3 ... without a gap, all of one organization;
- each prevEntryHash is the previous entry's entryHash (`GENESIS` for the first);
- each entryHash is the lower-case hex SHA-256 of the entry's canonical JSON (RFC 8785) without
  its entryHash member. Entries hold only strings, integers, booleans, null, arrays and objects
  with ASCII member names, for which RFC 8785 is exactly Python's
  json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False);
- with --head, the last entry is that one (a head taken earlier from audit/verify or a signed
  checkpoint: entries cut off at the end are found too);
- with --checkpoints (the answer of GET /v1/audit/checkpoints?organization=...) and --public-key
  (the checkpoint key's public JWK, from a source you trust: `aws kms get-public-key` on the
  stack's AuditCheckpointKey, not the service's answer), every checkpoint's ES256 signature
  verifies and names the entry the export holds at its sequence number: a chain rewritten with
  every later hash recomputed, or cut short, no longer leads to the signed heads. This part needs
  the `cryptography` package.
- entries expire at the end of the retention period (the stack's AuditRetentionDays, given as
  --retention-days), so a long-lived chain starts after 1. That is accepted only with
  --checkpoints: a signed checkpoint below the first remaining entry must be older than the
  retention period (with a day's margin for the refresh and DynamoDB's TTL), and when it signs
  the entry just before, the first remaining entry must follow it. Entries cut off the start of
  a chain while they were young are found this way.
Prints the result as JSON and exits 0 when valid, 1 when not, 2 on unusable input.
"""
import argparse
import hashlib
import json
import os
import sys
import urllib.request

GENESIS = "GENESIS"


def canonical(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def entry_hash(entry):
    body = {k: v for k, v in entry.items() if k != "entryHash"}
    for v in _walk(body):
        if isinstance(v, float):
            raise ValueError("an audit entry holds no floating-point numbers")
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def _walk(v):
    yield v
    if isinstance(v, dict):
        for x in v.values():
            yield from _walk(x)
    elif isinstance(v, list):
        for x in v:
            yield from _walk(x)


DAY_MS = 86_400_000
# How much later than the entries it signs a checkpoint may be taken, and DynamoDB's TTL may lag.
EXPIRY_SLACK_MS = DAY_MS


def verify(entries, head=None, first=1, prev=GENESIS):
    """Returns {"valid", "entries", "head", "firstBrokenSequence", "reason"}. `first` and `prev`:
    where a chain whose oldest entries expired starts (see expired_start)."""
    org = None
    for n, e in enumerate(entries, start=first):
        def broken(why):
            return {"valid": False, "entries": n - first, "head": None, "firstBrokenSequence": n, "reason": why}
        if not isinstance(e, dict):
            return broken("not an entry")
        if e.get("sequenceNumber") != n:
            return broken(f"sequence number {e.get('sequenceNumber')} where {n} was due")
        org = org or e.get("organization")
        if e.get("organization") != org:
            return broken("entry of another organization")
        if e.get("prevEntryHash") != prev:
            return broken("prevEntryHash is not the previous entry's hash")
        try:
            if entry_hash(e) != e.get("entryHash"):
                return broken("entryHash does not match the entry")
        except ValueError as err:
            return broken(str(err))
        prev = e["entryHash"]
    count = len(entries)
    end = first + count - 1
    last = {"sequenceNumber": end, "entryHash": prev} if count else None
    if head is not None and (end, prev) != head:
        return {"valid": False, "entries": count, "head": None, "firstBrokenSequence": end + 1,
                "reason": f"the head given is entry {head[0]}, but the entries end at {end}"}
    out = {"valid": True, "entries": count, "head": last, "firstBrokenSequence": None}
    if first > 1:
        out["expiredBefore"] = first
    return out


def expired_start(entries, checkpoints, jwk, retention_days, now_ms):
    """None when the entries before the first one given may be missing because they expired:
    a signed checkpoint below it is older than the retention period; else why not."""
    first = entries[0]
    k = first.get("sequenceNumber")
    missing = f"entries 1 to {k - 1} are missing"
    if checkpoints is None:
        return f"{missing}; give --checkpoints and --public-key to show they expired"
    below = [cp for cp in checkpoints if cp.get("sequenceNumber", 0) < k]
    if not below:
        return f"{missing}, and no signed checkpoint below them shows they expired"
    cp = max(below, key=lambda c: c["sequenceNumber"])
    claims = open_checkpoint(cp["jws"], jwk)
    if claims["sequenceNumber"] != cp["sequenceNumber"] or claims["organization"] != first.get("organization"):
        return f"the checkpoint at {cp['sequenceNumber']} signs another entry"
    if claims["timestamp"] + retention_days * DAY_MS > now_ms + EXPIRY_SLACK_MS:
        return (f"{missing}, but entry {claims['sequenceNumber']} was signed at {claims['timestamp']} and is not "
                "past its retention period: the chain was cut")
    if claims["sequenceNumber"] + 1 == k and first.get("prevEntryHash") != claims["entryHash"]:
        return f"the first remaining entry does not follow the entry checkpoint {claims['sequenceNumber']} signed"
    return None


def _b64d(s):
    import base64
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def open_checkpoint(jws, jwk):
    """The claims of a checkpoint JWS whose ES256 signature verifies with the P-256 `jwk`."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    h, p, s = jws.split(".")
    header = json.loads(_b64d(h))
    if header.get("alg") != "ES256" or header.get("typ") != "trustfn-audit-checkpoint+jwt" or jwk.get("crv") != "P-256":
        raise ValueError("not an ES256 audit checkpoint")
    key = ec.EllipticCurvePublicNumbers(int.from_bytes(_b64d(jwk["x"]), "big"), int.from_bytes(_b64d(jwk["y"]), "big"),
                                        ec.SECP256R1()).public_key()
    sig = _b64d(s)
    der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
    try:
        key.verify(der, f"{h}.{p}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("the checkpoint's signature does not verify") from None
    return json.loads(_b64d(p))


def check_checkpoints(entries, checkpoints, jwk):
    """None when every signed checkpoint names the entry the export holds (those below its first
    entry: only their signatures); else what breaks."""
    first = entries[0]["sequenceNumber"] if entries else 1
    end = first + len(entries) - 1
    for cp in checkpoints:
        try:
            claims = open_checkpoint(cp["jws"], jwk)
        except (ValueError, KeyError) as e:
            return {"valid": False, "entries": len(entries), "head": None,
                    "firstBrokenSequence": cp.get("sequenceNumber"), "reason": str(e)}
        seq = claims["sequenceNumber"]
        if seq > end:
            return {"valid": False, "entries": len(entries), "head": None, "firstBrokenSequence": end + 1,
                    "reason": f"the entries end at {end}, but a signed checkpoint names entry {seq}"}
        if seq < first:
            continue
        if entries[seq - first].get("entryHash") != claims["entryHash"]:
            return {"valid": False, "entries": len(entries), "head": None, "firstBrokenSequence": seq,
                    "reason": "the entry is not the one its signed checkpoint names: the chain was rewritten"}
    return None


def export(api, org, token):
    out, cursor = [], None
    while True:
        body = {"target": org, "limit": 1000}
        if cursor:
            body["cursor"] = cursor
        req = urllib.request.Request(f"{api.rstrip('/')}/v1/audit/query", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            out.extend(json.loads(r.read()))
            cursor = r.headers.get("x-next-cursor")
        print(f"exported {len(out)} entries", file=sys.stderr)
        if not cursor:
            return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export")
    ex.add_argument("--api", required=True)
    ex.add_argument("--org", required=True)
    ve = sub.add_parser("verify")
    ve.add_argument("file")
    ve.add_argument("--head", help="SEQ:HASH the chain must end at")
    ve.add_argument("--checkpoints", help="the answer of GET /v1/audit/checkpoints")
    ve.add_argument("--public-key", help="the checkpoint key's public JWK (a file)")
    ve.add_argument("--retention-days", type=int, default=2562, help="the stack's AuditRetentionDays")
    ve.add_argument("--now", type=int, help="Unix milliseconds to judge expiry at (default: now)")
    args = ap.parse_args(argv)
    if args.cmd == "export":
        token = os.environ.get("TRUSTFN_TOKEN")
        if not token:
            print("set TRUSTFN_TOKEN", file=sys.stderr)
            return 2
        json.dump(export(args.api, args.org, token), sys.stdout)
        return 0
    try:
        with open(args.file, encoding="utf-8") as f:
            entries = json.load(f)
        head = None
        if args.head:
            seq, _, h = args.head.partition(":")
            head = (int(seq), h)
        checkpoints = jwk = None
        if bool(args.checkpoints) != bool(args.public_key):
            raise ValueError("--checkpoints and --public-key go together")
        if args.checkpoints:
            with open(args.checkpoints, encoding="utf-8") as f:
                checkpoints = json.load(f)["checkpoints"]
            with open(args.public_key, encoding="utf-8") as f:
                jwk = json.load(f)
    except (OSError, ValueError, KeyError) as e:
        print(f"unusable input: {e}", file=sys.stderr)
        return 2
    first, prev = 1, GENESIS
    if entries and isinstance(entries[0], dict) and isinstance(entries[0].get("sequenceNumber"), int) \
            and entries[0]["sequenceNumber"] > 1:
        import time
        now_ms = args.now if args.now is not None else int(time.time() * 1000)
        try:
            why = expired_start(entries, checkpoints, jwk, args.retention_days, now_ms)
        except (ValueError, KeyError) as e:
            why = f"the checkpoint below the first entry: {e}"
        if why:
            print(json.dumps({"valid": False, "entries": 0, "head": None, "firstBrokenSequence": 1, "reason": why}))
            return 1
        first, prev = entries[0]["sequenceNumber"], entries[0].get("prevEntryHash")
    result = verify(entries, head, first, prev)
    if result["valid"] and checkpoints is not None:
        result = check_checkpoints(entries, checkpoints, jwk) or dict(result, checkpoints=len(checkpoints))
    print(json.dumps(result))
    return 0 if result["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Verify an organization's audit log offline, without trusting the service that wrote it.

    audit_verify.py export --api https://<api> --org acme > acme-audit.json   (token in $TRUSTFN_TOKEN)
    audit_verify.py verify acme-audit.json [--head SEQ:HASH]

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
  checkpoint: entries cut off at the end are found too).
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


def verify(entries, head=None):
    """Returns {"valid", "entries", "head", "firstBrokenSequence", "reason"}."""
    prev, org = GENESIS, None
    for n, e in enumerate(entries, start=1):
        def broken(why):
            return {"valid": False, "entries": n - 1, "head": None, "firstBrokenSequence": n, "reason": why}
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
    last = {"sequenceNumber": count, "entryHash": prev} if count else None
    if head is not None and (count, prev) != head:
        return {"valid": False, "entries": count, "head": None, "firstBrokenSequence": count + 1,
                "reason": f"the head given is entry {head[0]}, but the entries end at {count}"}
    return {"valid": True, "entries": count, "head": last, "firstBrokenSequence": None}


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
    except (OSError, ValueError) as e:
        print(f"unusable input: {e}", file=sys.stderr)
        return 2
    result = verify(entries, head)
    print(json.dumps(result))
    return 0 if result["valid"] else 1


if __name__ == "__main__":
    sys.exit(main())

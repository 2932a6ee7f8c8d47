#!/usr/bin/env python3
"""Make one DynamoDB table's items equal to another's: the last step of a point-in-time restore
(docs/RELIABILITY.md). Items of SOURCE are written to TARGET; items of TARGET that SOURCE does not
have are deleted. Prints what it would do without --apply.

    table_sync.py --source trustfn-restore-20261124 --target <live table> [--apply] [--exact]
                  [--no-fetch] [--endpoint-url URL]

Nothing published is rolled back (unless --exact):
- Status lists: a restored list's statuses are merged with the newer ones, taken from the live
  table's chunks (read before they are overwritten) and from the list as published at its public
  URI (unless --no-fetch); of the three values of an entry, the newest non-zero one wins, so no
  revocation or suspension made after the restore point is lost (a reinstatement made after it
  is: the entry stays revoked or suspended; reinstate it again). Pending changes accepted after
  the restore point are kept, and so are the lists' change sequences. Every restored list is
  marked full (its allocation counter set to its size: indices handed out after the restore point
  are never handed out again; new entries go to new lists) and due for the next refresh, which
  republishes it.
- The audit log: every entry, chain head and signed checkpoint of the live table stays.
- Certificates: a revocation recorded in the live table survives (revocations are final); each
  IACA's CRL keeps the larger of the two cRLNumbers and is due at once with every revocation of
  both tables, expecting the registry object the live table last wrote.
- Services, configurations, lists, issued certificates and published VICAL versions created after
  the restore point (and the keys they sign with) are kept, with their items and edges:
  credentials, certificates and verifiers in the world refer to them. A VICAL service's latest is
  its kept version with the largest vicalIssueID, and its issue counter keeps the live table's
  larger value (an id is never handed out twice).
Counters (children, dependants) are recomputed from the resulting items.

Progress goes to stderr every 1,000 items. Uses the standard AWS credential chain.
"""
import argparse
import base64
import gzip
import json
import sys
import time
import urllib.request
import zlib

import boto3

CHUNK_BYTES = 2048


def scan(ddb, table):
    kw = {"TableName": table, "ConsistentRead": True}
    while True:
        page = ddb.scan(**kw)
        yield from page["Items"]
        if "LastEvaluatedKey" not in page:
            return
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def key(item):
    return (item["pk"]["S"], item["sk"]["S"])


def sync(ddb, source, target, apply=False, progress=lambda msg: print(msg, file=sys.stderr),
         merge_statuses=False, fetch=True):
    """Returns (written, deleted, unchanged). With `merge_statuses`, status lists keep every
    newer non-zero status (see the module's help)."""
    wanted = {key(i): i for i in scan(ddb, source)}
    progress(f"{len(wanted)} items in {source}")
    live = {key(i): i for i in scan(ddb, target)}
    if merge_statuses:
        merge(wanted, live, progress, fetch)
    written = deleted = unchanged = 0
    deletes = []
    for k, item in live.items():
        if k not in wanted:
            deletes.append(k)
        elif wanted[k] == item:
            unchanged += 1
            del wanted[k]
    writes = list(wanted.values())
    progress(f"{len(writes)} to write, {len(deletes)} to delete, {unchanged} unchanged in {target}")
    if apply:
        requests = [{"PutRequest": {"Item": i}} for i in writes] + \
                   [{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}} for pk, sk in deletes]
        for n in range(0, len(requests), 25):
            batch = {target: requests[n:n + 25]}
            while batch:
                batch = ddb.batch_write_item(RequestItems=batch).get("UnprocessedItems") or None
            done = min(n + 25, len(requests))
            if done % 1000 < 25 or done == len(requests):
                progress(f"{done}/{len(requests)} changes applied")
        written, deleted = len(writes), len(deletes)
    return written, deleted, unchanged


# --- merging status lists ---------------------------------------------------------------------
class Layout:
    def __init__(self, config):
        spec = config["config"]
        self.bits = spec.get("statusSize", 1)
        self.lsb_first = spec["type"] in ("TokenStatusList", "RevocationList2020")

    def values(self, byte):
        """The statuses packed in one byte, in index order."""
        per, mask = 8 // self.bits, (1 << self.bits) - 1
        shifts = [k * self.bits if self.lsb_first else 8 - self.bits - k * self.bits for k in range(per)]
        return [(byte >> sh) & mask for sh in shifts], shifts


def merged_byte(layout, *sources):
    """Per entry: the last non-zero value among `sources` (bytes, oldest first), else 0."""
    out = 0
    values = [layout.values(b)[0] for b in sources]
    for k, sh in enumerate(layout.values(0)[1]):
        v = 0
        for vals in values:
            if vals[k]:
                v = vals[k]
        out |= v << sh
    return out


def set_status(layout, buf, index, value):
    """Sets one entry of packed statuses."""
    per = 8 // layout.bits
    byte, k = index // per, index % per
    if byte >= len(buf):
        return
    sh = k * layout.bits if layout.lsb_first else 8 - layout.bits - k * layout.bits
    mask = ((1 << layout.bits) - 1) << sh
    buf[byte] = (buf[byte] & ~mask & 0xFF) | ((value << sh) & mask)


def iso_seconds(text):
    """Unix seconds of an RFC 3339 time such as `2026-11-30T10:00:00Z`."""
    from datetime import datetime
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def list_bytes(items, list_id, doc, nbytes):
    """The packed statuses of a list as a table holds them (chunk items or, for lists written
    before chunks, the record's `_statuses`); None when the table does not hold the list."""
    if doc is None:
        return None
    if doc.get("_statuses"):
        raw = zlib.decompress(base64.b64decode(doc["_statuses"]))
        return bytearray(raw.ljust(nbytes, b"\0")[:nbytes])
    out = bytearray(nbytes)
    for (pk, sk), item in items.items():
        if pk == f"S#{list_id}":
            no = int(sk)
            part = zlib.decompress(item["b"]["B"])
            out[no * CHUNK_BYTES:no * CHUNK_BYTES + len(part)] = part
    return out


def published_bytes(uri, nbytes, progress):
    """The statuses of the list published at `uri` (public) and when it was issued (Unix seconds,
    None if unknown), or None when it cannot be read."""
    try:
        with urllib.request.urlopen(uri, timeout=20) as r:  # noqa: S310 (the list's own public URI)
            body = r.read()
    except Exception as e:  # noqa: BLE001
        progress(f"{uri}: not fetched ({type(e).__name__}); merging from the table only")
        return None

    def b64(s):
        return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))

    def find(o, name):
        if isinstance(o, dict):
            if name in o:
                return o[name]
            for v in o.values():
                r = find(v, name)
                if r is not None:
                    return r
        return None
    try:
        iat = None
        if body[:1] in (b"e",):  # a JWT (base64url of '{')
            claims = json.loads(b64(body.decode().split(".")[1]))
            iat = claims.get("iat") or claims.get("nbf")
            if "status_list" in claims:
                raw = zlib.decompress(b64(claims["status_list"]["lst"]))
            else:
                enc = find(claims, "encodedList")
                if enc.startswith("u") and enc[1:].startswith("H4sI"):
                    enc = enc[1:]
                raw = gzip.decompress(b64(enc.replace("+", "-").replace("/", "_")))
        else:  # a CWT: COSE_Sign1, payload claim 65533 = {bits, lst}
            import cbor2
            msg = cbor2.loads(body)
            msg = msg.value if hasattr(msg, "value") else msg
            claims = cbor2.loads(msg[2])
            iat = claims.get(6)
            raw = zlib.decompress(claims[65533]["lst"])
    except Exception as e:  # noqa: BLE001
        progress(f"{uri}: not decoded ({type(e).__name__}); merging from the table only")
        return None
    return bytearray(raw.ljust(nbytes, b"\0")[:nbytes]), iat


def keep_newer_lists(wanted, live, records, progress):
    """Lists opened after the restore point, of configurations the copy has: credentials point at
    them, so they stay (record, chunks, counter, pending changes) and rejoin their configuration."""
    for k, item in live.items():
        if not k[0].startswith("R#") or item.get("type", {}).get("S") != "status-list":
            continue
        list_id = item["_id"]["S"]
        cfg = records.get(list_id.rsplit(".", 1)[0])
        if cfg is None or list_id in records:
            continue
        wanted[k] = item
        records[list_id] = item
        for other, it in live.items():
            if other[0] in (f"S#{list_id}", f"A#{list_id}", f"P#{list_id}"):
                wanted[other] = it
        cdoc = json.loads(cfg["doc"]["S"])
        cdoc["lists"] = cdoc.get("lists", []) + [list_id.rsplit(".", 1)[1]]
        cfg["doc"] = {"S": json.dumps(cdoc, separators=(",", ":"))}
        cfg["children"] = {"N": str(int(cfg["children"]["N"]) + 1)}
        progress(f"{list_id}: opened after the restore point; kept")


# --- records created after the restore point, issued certificates, counters -------------------
KEPT_TYPES = ("service", "status-credential", "status-list", "issued-certificate", "vical-version")


def keep_newer_records(wanted, live, progress):
    """Services, configurations, lists and issued certificates created after the restore point (the
    copy lacks them) whose parent is kept, with the keys they sign with when those are new too, their
    items (chunks, counters, pending changes, sequence), their edges and the claims of kept keys."""
    have = {i["_id"]["S"] for k, i in wanted.items() if k[0].startswith("R#") and "_id" in i}
    live_res = {i["_id"]["S"]: (k, i) for k, i in live.items() if k[0].startswith("R#") and "_id" in i}
    kept = set()

    def keep(rid):
        k, item = live_res[rid]
        wanted[k] = item
        have.add(rid)
        kept.add(rid)

    for rid in sorted(live_res, key=lambda r: r.count(".")):  # parents before children
        item = live_res[rid][1]
        if rid not in have and item.get("type", {}).get("S") in KEPT_TYPES \
                and item.get("parent", {}).get("S") in have:
            keep(rid)
    for (pk, sk), item in live.items():  # the keys they sign with, when new too
        if pk.startswith("D#") and pk[2:] in kept and sk not in have and sk in live_res \
                and live_res[sk][1].get("type", {}).get("S") == "key" \
                and live_res[sk][1].get("parent", {}).get("S") in have:
            keep(sk)
    for (pk, sk), item in live.items():
        owner = pk[2:]
        if pk[:2] in ("S#", "A#", "P#", "Q#") and owner in kept:
            wanted[(pk, sk)] = item
        elif pk[:2] in ("D#", "U#") and (owner in kept or sk in kept) and owner in have and sk in have:
            wanted[(pk, sk)] = item
        elif pk.startswith("C#") and item.get("owner", {}).get("S") in kept:
            wanted[(pk, sk)] = item
    for rid in sorted(kept):
        progress(f"{rid}: created after the restore point; kept")


def merge_issued(wanted, live, now, progress):
    """A revocation recorded in the live table survives; an IACA's CRL keeps the larger number and
    is due now, expecting the registry object the live table last wrote."""
    for k, item in live.items():
        if not k[0].startswith("R#") or item.get("type", {}).get("S") != "issued-certificate" or k not in wanted:
            continue
        mine, theirs = json.loads(wanted[k]["doc"]["S"]), json.loads(item["doc"]["S"])
        changed = False
        if theirs.get("revocation") and not mine.get("revocation"):
            mine["revocation"] = theirs["revocation"]
            changed = True
            progress(f"{item['_id']['S']}: revoked after the restore point; the revocation stays")
        if changed:
            wanted[k] = dict(wanted[k], doc={"S": json.dumps(mine, separators=(",", ":"))})
    for k, rec in list(wanted.items()):
        if not k[0].startswith("R#") or rec.get("type", {}).get("S") != "issued-certificate":
            continue
        doc = json.loads(rec["doc"]["S"])
        crl = doc.get("crl")
        if crl is None:
            continue
        other = live.get(k)
        theirs = (json.loads(other["doc"]["S"]).get("crl") or {}) if other else {}
        crl["number"] = max(crl.get("number", 0), theirs.get("number", 0))
        if theirs.get("publishedNumber") is not None:
            crl["publishedNumber"] = max(crl.get("publishedNumber") or 0, theirs["publishedNumber"])
        # A revision nobody published: the next publisher republishes every revocation.
        crl["revision"] = max(crl.get("revision", 0), theirs.get("revision", 0)) + 1
        if theirs.get("_objectVersion"):
            crl["_objectVersion"] = theirs["_objectVersion"]
        known = [v for v in (crl.get("_knownThrough"), theirs.get("_knownThrough")) if v is not None]
        if known:
            crl["_knownThrough"] = max(known)
        for f in ("_leaseUntil", "_leaseOwner", "_leasedAt"):
            crl.pop(f, None)
        if crl.get("_refreshAt") is not None or theirs.get("_refreshAt") is not None:
            crl["_refreshAt"] = now
            rec["rat"] = {"N": str(now)}
            rec.setdefault("rpk", {"S": "LIST"})
        doc["crl"] = crl
        wanted[k] = dict(rec, doc={"S": json.dumps(doc, separators=(",", ":"))})
        progress(f"{rec['_id']['S']}: CRL number {crl['number']} kept; due now")


def keep_audit_log(wanted, live):
    """The audit log is append-only: a restore never rolls it back. Every entry, chain head and
    signed checkpoint of the live table stays (entries made after the restore point included)."""
    for k, item in live.items():
        if k[0].startswith(("L#", "H#", "K#")):
            wanted[k] = item


def rebuild_revoked_sets(wanted):
    """Each IACA's revoked set (`V#<iaca>` items, what its CRL is built from) is derived from the
    issued records: written anew from the merged ones, and marked complete on every IACA."""
    for k in [k for k in wanted if k[0].startswith("V#")]:
        del wanted[k]
    records = {i["_id"]["S"]: (k, i) for k, i in wanted.items()
               if k[0].startswith("R#") and i.get("type", {}).get("S") == "issued-certificate"}
    for rid, (k, item) in records.items():
        doc = json.loads(item["doc"]["S"])
        parent = item.get("parent", {}).get("S")
        rev = doc.get("revocation")
        if rev and parent in records and doc.get("profile") != "iaca":
            wanted[(f"V#{parent}", rid.rsplit(".", 1)[1])] = {
                "pk": {"S": f"V#{parent}"}, "sk": {"S": rid.rsplit(".", 1)[1]},
                "rd": {"N": str(iso_seconds(rev["revocationDate"]))}}
    for rid, (k, item) in records.items():
        doc = json.loads(wanted[k]["doc"]["S"])
        if doc.get("crl") is not None and not doc["crl"].get("_revokedSet"):
            doc["crl"]["_revokedSet"] = True
            wanted[k] = dict(wanted[k], doc={"S": json.dumps(doc, separators=(",", ":"))})


def keep_sequences(wanted, live):
    """A list's change sequence never goes back: pending changes made after the restore are
    named above every kept one. Nor does a number series (`N#`, a VICAL service's vicalIssueID):
    an id handed out after the restore point is never handed out again."""
    for (pk, sk), item in live.items():
        if pk.startswith(("Q#", "N#")):
            mine = wanted.get((pk, sk))
            if mine is None or int(mine["n"]["N"]) < int(item["n"]["N"]):
                wanted[(pk, sk)] = item


def latest_vicals(wanted, progress):
    """A VICAL service's latest version is its kept version with the largest vicalIssueID (one
    published after the restore point stays, and stays the latest)."""
    recs = [i for k, i in wanted.items() if k[0].startswith("R#") and "_id" in i]
    versions = {}
    for i in recs:
        if i.get("type", {}).get("S") == "vical-version":
            doc = json.loads(i["doc"]["S"])
            best = versions.get(i["parent"]["S"])
            if best is None or doc["vicalIssueId"] > best["vicalIssueId"]:
                versions[i["parent"]["S"]] = doc
    for k, i in list(wanted.items()):
        if not k[0].startswith("R#") or i.get("type", {}).get("S") != "service":
            continue
        doc = json.loads(i["doc"]["S"])
        latest = versions.get(i.get("_id", {}).get("S"))
        if doc.get("type") != "vical-service" or latest is None:
            continue
        if doc["config"].get("_latest") != latest["versionId"]:
            doc["config"]["_latest"] = latest["versionId"]
            wanted[k] = dict(i, doc={"S": json.dumps(doc, separators=(",", ":"))})
            progress(f"{i['_id']['S']}: latest VICAL {latest['versionId']} (published after the restore point)")


def recount(wanted):
    """Every record's children and dependants counters, from the items that will be."""
    children, dependants = {}, {}
    for (pk, sk), item in wanted.items():
        if pk.startswith("R#") and "parent" in item:
            children[item["parent"]["S"]] = children.get(item["parent"]["S"], 0) + 1
        elif pk.startswith("U#"):
            dependants[pk[2:]] = dependants.get(pk[2:], 0) + 1
    for k, item in list(wanted.items()):
        if k[0].startswith("R#") and "_id" in item:
            rid = item["_id"]["S"]
            c, d = str(children.get(rid, 0)), str(dependants.get(rid, 0))
            if item.get("children", {}).get("N") != c or item.get("dependants", {}).get("N") != d:
                wanted[k] = dict(item, children={"N": c}, dependants={"N": d})


def merge(wanted, live, progress, fetch):
    """Changes `wanted` (the restored items) so that nothing published is rolled back."""
    now = int(time.time())
    records = {i["_id"]["S"]: i for k, i in wanted.items() if k[0].startswith("R#") and "_id" in i}
    keep_newer_lists(wanted, live, records, progress)
    keep_newer_records(wanted, live, progress)
    merge_issued(wanted, live, now, progress)
    rebuild_revoked_sets(wanted)
    keep_audit_log(wanted, live)
    keep_sequences(wanted, live)
    latest_vicals(wanted, progress)
    lists = [r for r in records.values() if r.get("type", {}).get("S") == "status-list"]
    for rec in lists:
        list_id = rec["_id"]["S"]
        cfg = records.get(list_id.rsplit(".", 1)[0])
        if cfg is None:
            continue
        layout = Layout(json.loads(cfg["doc"]["S"]))
        doc = json.loads(rec["doc"]["S"])
        nbytes = -(-doc["size"] * layout.bits // 8)
        mine = list_bytes(wanted, list_id, doc, nbytes)
        live_rec = live.get(key(rec))
        # The copy's own changes not folded yet: applied to its statuses here. When the live table
        # holds the list, they were folded or superseded there after the restore point: the live
        # table's pending items are the ones that stay.
        own_pending = sorted(k for k in wanted if k[0] == f"P#{list_id}")
        if live_rec is None:
            for k in own_pending:
                for change in filter(None, wanted[k]["changes"]["S"].split(",")):
                    index, value = change.split(":")
                    set_status(layout, mine, int(index), int(value))
        for k in own_pending:
            if live_rec is None or k not in live:
                del wanted[k]
        # Sources oldest first; per entry the newest non-zero value wins. The published list is
        # older than the copy unless it was issued after the copy's last publish.
        published = published_bytes(doc["uri"], nbytes, progress) if fetch else None
        sources = [mine]
        if published is not None:
            pub, iat = published
            copy_published = doc.get("publishedAt")
            newer = iat is not None and (copy_published is None or iat > iso_seconds(copy_published))
            sources = sources + [pub] if newer else [pub] + sources
        live_doc = json.loads(live_rec["doc"]["S"]) if live_rec else None
        live_bytes = list_bytes(live, list_id, live_doc, nbytes)
        if live_bytes is not None:
            sources.append(live_bytes)
        before = bytes(mine)
        for i in range(nbytes):
            if any(src[i] != before[i] for src in sources):
                mine[i] = merged_byte(layout, *(src[i] for src in sources))
        changed = sum(1 for x, y in zip(before, mine) if x != y)
        # Write the statuses back in the restored list's own form.
        if doc.get("_statuses"):
            doc["_statuses"] = base64.b64encode(zlib.compress(bytes(mine), 9)).decode()
        else:
            # Versions above both tables' (a publisher holding an older chunk cannot write over it).
            versions = {}
            for table in (wanted, live):
                for (pk, sk), item in table.items():
                    if pk == f"S#{list_id}":
                        versions[sk] = max(versions.get(sk, 0), int(item["v"]["N"]))
            for k in [k for k in wanted if k[0] == f"S#{list_id}"]:
                del wanted[k]
            for no in range(-(-nbytes // CHUNK_BYTES)):
                part = bytes(mine[no * CHUNK_BYTES:(no + 1) * CHUNK_BYTES])
                sk = f"{no:08}"
                if any(part) or sk in versions:
                    wanted[(f"S#{list_id}", sk)] = {"pk": {"S": f"S#{list_id}"}, "sk": {"S": sk},
                                                    "b": {"B": zlib.compress(part, 9)},
                                                    "v": {"N": str(versions.get(sk, 0) + 1)}}
        # Full: no index is handed out twice (new entries go to a new list).
        if doc.get("_permKey"):
            wanted[(f"A#{list_id}", "A")] = {"pk": {"S": f"A#{list_id}"}, "sk": {"S": "A"},
                                              "n": {"N": str(doc["size"])}}
        # Due now, with a status version nobody has published: the next refresh republishes it.
        doc["statusVersion"] += 1
        doc["_refreshAt"] = now
        doc.pop("_leaseUntil", None)
        doc.pop("_leaseOwner", None)
        rec["doc"] = {"S": json.dumps(doc, separators=(",", ":"))}
        rec["rat"] = {"N": str(now)}
        if "rpk" not in rec:
            rec["rpk"] = {"S": "LIST"}
        progress(f"{list_id}: {changed} bytes of newer statuses kept; marked full and due")
    # Changes accepted after the restore point and not folded yet stay.
    for k, item in live.items():
        if k[0].startswith("P#") and k[0][2:] in records and k not in wanted:
            wanted[k] = item
    recount(wanted)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--apply", action="store_true")
    ap.add_argument("--exact", action="store_true", help="roll status lists back too (loses newer revocations)")
    ap.add_argument("--no-fetch", action="store_true", help="do not read the published lists")
    ap.add_argument("--endpoint-url")
    a = ap.parse_args()
    ddb = boto3.client("dynamodb", endpoint_url=a.endpoint_url)
    written, deleted, unchanged = sync(ddb, a.source, a.target, a.apply, merge_statuses=not a.exact,
                                       fetch=not a.no_fetch)
    print(f"{'applied' if a.apply else 'dry run'}: {written} written, {deleted} deleted, {unchanged} unchanged")


if __name__ == "__main__":
    main()

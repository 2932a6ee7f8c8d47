#!/usr/bin/env python3
"""Make one DynamoDB table's items equal to another's: the last step of a point-in-time restore
(docs/RELIABILITY.md). Items of SOURCE are written to TARGET; items of TARGET that SOURCE does not
have are deleted. Prints what it would do without --apply.

    table_sync.py --source trustfn-restore-20261124 --target <live table> [--apply] [--endpoint-url URL]

Progress goes to stderr every 1,000 items. Uses the standard AWS credential chain.
"""
import argparse
import sys

import boto3


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


def sync(ddb, source, target, apply=False, progress=lambda msg: print(msg, file=sys.stderr)):
    """Returns (written, deleted, unchanged)."""
    wanted = {key(i): i for i in scan(ddb, source)}
    progress(f"{len(wanted)} items in {source}")
    written = deleted = unchanged = 0
    writes, deletes = [], []
    for item in scan(ddb, target):
        k = key(item)
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


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", required=True)
    ap.add_argument("--target", required=True)
    ap.add_argument("--apply", action="store_true")
    ap.add_argument("--endpoint-url")
    a = ap.parse_args()
    ddb = boto3.client("dynamodb", endpoint_url=a.endpoint_url)
    written, deleted, unchanged = sync(ddb, a.source, a.target, a.apply)
    print(f"{'applied' if a.apply else 'dry run'}: {written} written, {deleted} deleted, {unchanged} unchanged")


if __name__ == "__main__":
    main()

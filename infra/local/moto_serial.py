#!/usr/bin/env python3
"""moto's server, answering one request at a time.

moto's own server is threaded and its DynamoDB condition checks are not atomic across threads,
so two truly concurrent conditional writes can both pass. Real DynamoDB never does that. Here
every connection still gets its own thread (idle keep-alive connections block nobody), but the
requests themselves run one after another under a lock.

It also counts requests per operation, for the call-count tests and the cost model:
    GET  /_trustfn/calls    {"dynamodb.TransactWriteItems": 3, "kms.Sign": 1, "s3.PUT": 2, ...}
    POST /_trustfn/calls    the same, and starts counting from zero
and what DynamoDB would bill for them (`dynamodb.WRU`, `dynamodb.RRU`: on-demand request units,
from the items' sizes as DynamoDB counts them; strongly consistent reads, as the adapter makes)
and the bytes S3 stored (`s3.bytes`).

    moto_serial.py -H 127.0.0.1 -p 4566
"""
import argparse
import collections
import json
import os
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def operation(environ):
    """`service.Operation` of a request: the JSON protocols name it in X-Amz-Target
    (`DynamoDB_20120810.Query`, `TrentService.Sign`); S3 is `s3.<METHOD>`."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        service, _, op = target.partition(".")
        return {"DynamoDB_20120810": "dynamodb", "TrentService": "kms"}.get(service, service) + "." + op
    return "s3." + environ["REQUEST_METHOD"]


def transactions_without_table_copies():
    """moto backs up every table a TransactWriteItems touches (a deep copy, once per item) so it
    can roll back a cancelled transaction. That costs time in proportion to everything the test
    session has stored: late in a run, after the big status-list tests, a small transaction took
    longer than the SDK's 9-second timeout (a spurious 503). DynamoDB's semantics make the copy
    unnecessary: every condition of a transaction is evaluated against the state before it, and
    no item appears twice. So this checks every condition first and writes nothing if one fails;
    only then applies the writes, keeping a copy of just the items it touches, which it puts back
    if a write is refused (an item over 400 KB, a bad update expression). Requests run one at a
    time (below), so nothing else sees the state in between."""
    from moto.dynamodb import models
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed, MockValidationException, MultipleTransactionsException,
        TooManyTransactionsException, TransactionCanceledException, TransactWriteSingleOpException)
    from moto.dynamodb.comparisons import get_filter_expression as filter_expression

    def transact_write_items(self, transact_items):
        if len(transact_items) > 100:
            raise TooManyTransactionsException()
        seen, planned, errors = set(), [], []
        for item in transact_items:  # 1. check, write nothing
            if len(item) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(item.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                errors.append(("ValidationException", "Unsupported transaction operation", None))
                continue
            table_name = op["TableName"]
            if op_type == "Put":
                table = self.get_table(table_name)
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            else:
                key = op["Key"]
            ident = (str(table_name), str(dict(sorted(key.items()))))
            if ident in seen:
                raise MultipleTransactionsException()
            seen.add(ident)
            current = self.get_item(table_name, key)
            cond = op.get("ConditionExpression")
            if cond is not None and not filter_expression(
                    cond, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")).expr(current):
                old = current.to_json()["Attributes"] if current and op.get(
                    "ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None
                errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
                continue
            errors.append((None, None, None))
            planned.append((op_type, op, table_name, key, current.to_json()["Attributes"] if current else None))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        done = []
        try:  # 2. apply, undoing only the touched items if a write is refused
            for op_type, op, table_name, key, before in planned:
                done.append((table_name, key, before))
                names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
                if op_type == "Put":
                    self.put_item(table_name, op["Item"], expression_attribute_names=names,
                                  expression_attribute_values=values)
                elif op_type == "Delete":
                    self.delete_item(table_name, key)
                elif op_type == "Update":
                    self.update_item(table_name, key, update_expression=op["UpdateExpression"],
                                     expression_attribute_names=names, expression_attribute_values=values)
        except Exception as e:
            for table_name, key, before in reversed(done):
                if before is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, before)
            if isinstance(e, MockValidationException):
                raise
            raise TransactionCanceledException(
                [(type(e).__name__, str(e), None) if i == len(done) - 1 else (None, None, None)
                 for i in range(len(transact_items))])

    models.DynamoDBBackend.transact_write_items = transact_write_items


def item_size(item):
    """An item's size as DynamoDB counts it: attribute names plus values (numbers about one byte
    per two digits, plus one)."""
    return sum(len(name.encode()) + value_size(v) for name, v in item.items())


def value_size(v):
    (t, x), = v.items()
    if t == "S":
        return len(x.encode())
    if t == "N":
        return len(x.strip("-").replace(".", "")) // 2 + 1
    if t == "B":
        return len(x) * 3 // 4
    if t in ("BOOL", "NULL"):
        return 1
    if t in ("SS", "NS", "BS"):
        return sum(value_size({t[0]: e}) for e in x)
    if t == "L":
        return 3 + sum(value_size(e) + 1 for e in x)
    if t == "M":
        return 3 + sum(len(k.encode()) + value_size(e) + 1 for k, e in x.items())
    return 0


def units(op, request, response):
    """(write units, read units) of one DynamoDB call (on-demand: a write unit per 1 KB item
    written, two in a transaction; a strongly consistent read unit per 4 KB read)."""
    import math
    kb = lambda n: max(1, math.ceil(n / 1024))  # noqa: E731
    read = lambda n: max(1, math.ceil(n / 4096))  # noqa: E731
    if op == "PutItem":
        return kb(item_size(request["Item"])), 0
    if op in ("UpdateItem", "DeleteItem"):
        return 1, 0
    if op == "TransactWriteItems":
        w = 0
        for it in request["TransactItems"]:
            kind, body = next(iter(it.items()))
            w += 2 * (kb(item_size(body["Item"])) if kind == "Put" else 1)
        return w, 0
    if op == "BatchWriteItem":
        return sum(kb(item_size(r["PutRequest"]["Item"])) if "PutRequest" in r else 1
                   for reqs in request["RequestItems"].values() for r in reqs), 0
    if op == "GetItem":
        return 0, read(item_size(response.get("Item") or {}))
    if op == "BatchGetItem":
        return 0, sum(read(item_size(i)) for items in response.get("Responses", {}).values() for i in items)
    if op in ("Query", "Scan"):
        return 0, read(sum(item_size(i) for i in response.get("Items", [])))
    return 0, 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=4566)
    a = ap.parse_args()
    os.environ.setdefault("MOTO_PORT", str(a.port))
    transactions_without_table_copies()  # requests run one at a time (below), so this is safe
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    calls = collections.Counter()

    def serial(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_trustfn/calls"):
            with lock:
                if environ["REQUEST_METHOD"] == "POST":
                    calls.clear()
                body = json.dumps(dict(calls)).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        op = operation(environ)
        body = b""
        if op.startswith("dynamodb.") or op == "s3.PUT":
            import io
            n = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(n) if n else b""
            environ["wsgi.input"] = io.BytesIO(body)
        with lock:
            calls[op] += 1
            # Read the whole response while holding the lock: moto builds it lazily.
            out = b"".join(app(environ, start_response))
            if op.startswith("dynamodb."):
                try:
                    w, r = units(op.split(".", 1)[1], json.loads(body or b"{}"), json.loads(out or b"{}"))
                    calls["dynamodb.WRU"] += w
                    calls["dynamodb.RRU"] += r
                except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
                    pass
            elif op == "s3.PUT":
                calls["s3.bytes"] += len(body)
            return [out]

    run_simple(a.host, a.port, serial, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

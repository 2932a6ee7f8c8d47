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


ACCOUNT, REGION = "123456789012", "us-east-1"


def caller(environ):
    """The access key id a request was signed with (the local stack gives each function its own)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    return auth.split("Credential=", 1)[1].split("/", 1)[0] if "Credential=" in auth else None


def _pk(key_or_item):
    v = (key_or_item or {}).get("pk") or (key_or_item or {}).get("rpk")
    return next(iter(v.values())) if isinstance(v, dict) else None


def _query_key(req):
    """The partition key value a Query names (`pk = :v` or `#n = :v` in its key condition)."""
    import re
    cond = req.get("KeyConditionExpression", "")
    names = req.get("ExpressionAttributeNames", {})
    for name, val in re.findall(r"([#\w]+)\s*=\s*(:\w+)", cond):
        if names.get(name, name) in ("pk", "rpk"):
            v = req.get("ExpressionAttributeValues", {}).get(val)
            return next(iter(v.values())) if v else None
    return None


def iam_calls(op, req, path):
    """What IAM authorizes for one request: [(action, resource, context)] (before the call runs)."""
    service, _, name = op.partition(".")
    if service == "dynamodb":
        table = lambda t, index=None: f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{t}" + (  # noqa: E731
            f"/index/{index}" if index else "")
        lead = lambda pk: {"dynamodb:LeadingKeys": [pk]} if pk else {}  # noqa: E731
        if name == "TransactWriteItems":
            out = []
            for it in req.get("TransactItems", []):
                kind, body = next(iter(it.items()))
                action = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                          "ConditionCheck": "ConditionCheckItem"}[kind]
                out.append((f"dynamodb:{action}", table(body["TableName"]), lead(_pk(body.get("Item") or body.get("Key")))))
            return out
        if name == "TransactGetItems":
            return [("dynamodb:GetItem", table(i["Get"]["TableName"]), lead(_pk(i["Get"]["Key"])))
                    for i in req.get("TransactItems", [])]
        if name in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{name}", table(t), {}) for t in req.get("RequestItems", {})]
        if name == "Query":
            return [("dynamodb:Query", table(req["TableName"], req.get("IndexName")), lead(_query_key(req)))]
        if "TableName" in req:
            return [(f"dynamodb:{name}", table(req["TableName"]), lead(_pk(req.get("Key") or req.get("Item"))))]
        return [(f"dynamodb:{name}", "*", {})]
    if service == "kms":
        ctx = {"kms:CallerAccount": ACCOUNT}
        if name == "CreateKey":
            ctx.update({"kms:KeySpec": req.get("KeySpec", "SYMMETRIC_DEFAULT"),
                        "kms:KeyUsage": req.get("KeyUsage", "ENCRYPT_DECRYPT"),
                        "kms:KeyOrigin": req.get("Origin", "AWS_KMS")})
            tags = req.get("Tags") or []
            if tags:
                ctx["aws:TagKeys"] = [t["TagKey"] for t in tags]
                ctx.update({f"aws:RequestTag/{t['TagKey']}": t["TagValue"] for t in tags})
            if req.get("BypassPolicyLockoutSafetyCheck"):
                ctx["kms:BypassPolicyLockoutSafetyCheck"] = "true"
            return [("kms:CreateKey", "*", ctx)]
        if name in ("ListKeys", "ListAliases", "GenerateRandom"):
            return [(f"kms:{name}", "*", ctx)]
        if name == "TagResource":
            tags = req.get("Tags") or []
            ctx["aws:TagKeys"] = [t["TagKey"] for t in tags]
            ctx.update({f"aws:RequestTag/{t['TagKey']}": t["TagValue"] for t in tags})
        if name in ("Encrypt", "Decrypt", "GenerateDataKey"):
            ec = req.get("EncryptionContext") or {}
            ctx.update({f"kms:EncryptionContext:{k}": v for k, v in ec.items()})
            if ec:
                ctx["kms:EncryptionContextKeys"] = list(ec)
        key_id = req.get("KeyId")
        if not key_id and req.get("CiphertextBlob"):
            # Decrypt names its key in the ciphertext (moto's format: the key id leads it).
            import base64
            from moto.kms.utils import _deserialize_ciphertext_blob
            try:
                key_id = _deserialize_ciphertext_blob(base64.b64decode(req["CiphertextBlob"])).key_id
            except Exception:  # noqa: BLE001 (not one of moto's: the call fails anyway)
                key_id = None
        return [(f"kms:{name}", key_id or "*", ctx)]
    if service == "s3":
        bucket, _, key = path.lstrip("/").partition("/")
        method = name
        if not key:
            return [({"GET": "s3:ListBucket", "HEAD": "s3:ListBucket", "PUT": "s3:CreateBucket"}.get(method, f"s3:{method}"),
                     f"arn:aws:s3:::{bucket}", {"s3:ResourceAccount": ACCOUNT})]
        action = {"PUT": "s3:PutObject", "GET": "s3:GetObject", "HEAD": "s3:GetObject",
                  "DELETE": "s3:DeleteObject"}.get(method, f"s3:{method}")
        # S3 supplies the bucket owner's account on every request (moto's buckets: its account).
        return [(action, f"arn:aws:s3:::{bucket}/{key}", {"s3:ResourceAccount": ACCOUNT})]
    return [(op, "*", {})]


def kms_key(key_id):
    """(ARN, tags, key policy) of a moto KMS key named by id, ARN or alias; None if unknown."""
    from moto.kms.models import kms_backends
    backend = kms_backends[ACCOUNT][REGION]
    try:
        key = backend.describe_key(key_id)
    except Exception:  # noqa: BLE001 (an unknown key: the call fails anyway)
        return None
    tags = {t["TagKey"]: t["TagValue"] for t in backend.list_resource_tags(key.id).get("Tags", [])}
    # The key's properties, which IAM offers as condition keys on operations with the key.
    props = {"kms:KeyUsage": key.key_usage, "kms:KeySpec": key.key_spec, "kms:KeyOrigin": key.origin}
    return key.arn, tags, key.policy, props


class CallLog:
    """Every distinct AWS call a function made (its access key `fn-<function>`), as IAM would
    authorize it, one JSON line each, for the IAM simulation of `make test`."""

    def __init__(self, path):
        self.path, self.seen = path, set()

    def record(self, environ, op, body):
        who = caller(environ)
        if not who or not who.startswith("fn-"):
            return  # the tests' own calls, and uploads with a registry's own keys
        try:
            req = json.loads(body or b"{}") if not op.startswith("s3.") else {}
        except ValueError:
            req = {}
        for action, resource, ctx in iam_calls(op, req, environ.get("PATH_INFO", "")):
            entry = {"function": who[3:], "action": action, "resource": resource, "context": ctx}
            if action.startswith("kms:") and resource != "*":
                found = kms_key(resource)
                if found:
                    arn, tags, policy, props = found
                    entry["resource"] = arn
                    ctx.update({f"aws:ResourceTag/{k}": v for k, v in tags.items()})
                    ctx.update({k: v for k, v in props.items() if v})
                    entry["keyPolicy"] = json.loads(policy)
            line = json.dumps(entry, sort_keys=True)
            if line not in self.seen:
                self.seen.add(line)
                with open(self.path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")


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
    call_log = CallLog(os.environ["TRUSTFN_CALL_LOG"]) if os.environ.get("TRUSTFN_CALL_LOG") else None

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
        if op.startswith(("dynamodb.", "kms.")) or op == "s3.PUT":
            import io
            n = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(n) if n else b""
            environ["wsgi.input"] = io.BytesIO(body)
        with lock:
            if call_log:
                call_log.record(environ, op, body)
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

#!/usr/bin/env python3
"""moto's server, answering one request at a time.

moto's own server is threaded and its DynamoDB condition checks are not atomic across threads,
so two truly concurrent conditional writes can both pass. Real DynamoDB never does that. Here
every connection still gets its own thread (idle keep-alive connections block nobody), but the
requests themselves run one after another under a lock.

It also counts requests per operation, for the call-count tests:
    GET  /_trustfn/calls    {"dynamodb.TransactWriteItems": 3, "kms.Sign": 1, "s3.PUT": 2, ...}
    POST /_trustfn/calls    the same, and starts counting from zero

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


def copy_tables_once_per_transaction():
    """moto backs up a table before a TransactWriteItems once per item of the transaction, so a
    100-item transaction copies the whole table 100 times and slows down with everything the test
    session has stored (big fold transactions then outlast the SDK's 9-second timeout). During
    one transaction, each table is copied once; everything else is copied as before."""
    import copy
    import types

    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    transact = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self, transact_items):
        copies = {}

        def deepcopy(obj, memo=None):
            if isinstance(obj, Table):
                if id(obj) not in copies:
                    copies[id(obj)] = copy.deepcopy(obj, memo)
                return copies[id(obj)]
            return copy.deepcopy(obj, memo)
        models.copy = types.SimpleNamespace(deepcopy=deepcopy)
        try:
            return transact(self, transact_items)
        finally:
            models.copy = copy

    models.DynamoDBBackend.transact_write_items = transact_write_items


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=4566)
    a = ap.parse_args()
    os.environ.setdefault("MOTO_PORT", str(a.port))
    copy_tables_once_per_transaction()  # requests run one at a time (below), so this is safe
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
        with lock:
            calls[operation(environ)] += 1
            # Read the whole response while holding the lock: moto builds it lazily.
            return [b"".join(app(environ, start_response))]

    run_simple(a.host, a.port, serial, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

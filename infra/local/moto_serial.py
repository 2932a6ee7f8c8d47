#!/usr/bin/env python3
"""moto, one request at a time.

moto_server handles requests on several threads, and its DynamoDB backend checks a condition
and applies the write without a lock, so two concurrent conditional writes can both succeed.
Real DynamoDB never does that. Serving requests one after another gives conditional writes and
transactions the atomicity the code relies on, so concurrency tests test our code, not moto.

    python infra/local/moto_serial.py HOST PORT
"""
import os
import sys

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.server import MotoRequestHandler
from werkzeug.serving import run_simple

if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(host, port, app, threaded=False, use_reloader=False, request_handler=MotoRequestHandler)

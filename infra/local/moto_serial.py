#!/usr/bin/env python3
"""moto's server, answering one request at a time.

moto's own server is threaded and its DynamoDB condition checks are not atomic across threads,
so two truly concurrent conditional writes can both pass. Real DynamoDB never does that. Here
every connection still gets its own thread (idle keep-alive connections block nobody), but the
requests themselves run one after another under a lock.

    moto_serial.py -H 127.0.0.1 -p 4566
"""
import argparse
import os
import threading

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import run_simple


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=4566)
    a = ap.parse_args()
    os.environ.setdefault("MOTO_PORT", str(a.port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def serial(environ, start_response):
        with lock:
            # Read the whole response while holding the lock: moto builds it lazily.
            return [b"".join(app(environ, start_response))]

    run_simple(a.host, a.port, serial, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()

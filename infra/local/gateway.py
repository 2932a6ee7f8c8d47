#!/usr/bin/env python3
"""A local API Gateway (HTTP API, payload 2.0) in front of the built function binaries, each
speaking to its own small Lambda Runtime API.

Unlike `cargo lambda watch` it runs up to `concurrency` instances of a function at once (so
concurrent requests really run concurrently, as on Lambda), records when every instance started,
became ready and answered its first request, and its peak RSS. The benchmarks use the same
classes. Routes come from template.yaml (the one source of truth).

    gateway.py --port 9000 --bin-dir target/debug [--concurrency 4] [--env K=V ...]

Extra endpoints:
    POST /2015-03-31/functions/{name}/invocations   invoke a function with a raw event
                                                    (what `cargo lambda invoke` and the AWS CLI send)
    GET  /_local/metrics                            instances and invocations per function
"""
import argparse
import base64
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "scripts"))

RUNTIME = "/2018-06-01/runtime"
# How long the gateway waits for an answer before it kills an instance: longer than any function's
# timeout, as debug builds run slower than Lambda's release builds. Each invocation's deadline
# (what the function sees) is its timeout in template.yaml.
INVOKE_TIMEOUT = 120.0


class Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def body(self):
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n else b""

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)


class Instance:
    """One process of a function, with its own Runtime API on a free port."""

    def __init__(self, fn, binary, env, log, timeout=INVOKE_TIMEOUT):
        self.fn = fn
        self.timeout = timeout
        self.inbox = queue.Queue()  # (request id, event bytes)
        self.results = {}  # request id -> (kind, bytes)
        self.done = threading.Condition()
        self.ready = None  # first GET .../next
        self.ready_faults = None  # minor page faults by then
        self.first_response = None
        self.invocations = 0
        inst = self

        class Handler(Quiet):
            def do_GET(self):
                if self.path != f"{RUNTIME}/invocation/next":
                    return self.reply(404)
                if inst.ready is None:
                    inst.ready = time.monotonic()
                    inst.ready_faults = inst.minor_faults()
                rid, event = inst.inbox.get()
                deadline = int((time.time() + inst.timeout) * 1000)
                self.reply(200, event, [
                    ("content-type", "application/json"),
                    ("lambda-runtime-aws-request-id", rid),
                    ("lambda-runtime-deadline-ms", str(deadline)),
                    ("lambda-runtime-invoked-function-arn",
                     f"arn:aws:lambda:us-east-1:123456789012:function:{inst.fn}"),
                    ("lambda-runtime-trace-id", f"Root=1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"),
                ])

            def do_POST(self):
                m = re.fullmatch(RUNTIME + r"/(?:invocation/([^/]+)/(response|error)|init/(error))", self.path)
                body = self.body()
                self.reply(202)
                if not m:
                    return
                rid, kind = (m.group(1), m.group(2)) if m.group(1) else ("init", "error")
                with inst.done:
                    if inst.first_response is None:
                        inst.first_response = time.monotonic()
                    inst.results[rid] = (kind, body)
                    inst.done.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        api = f"127.0.0.1:{self.server.server_address[1]}"
        self.spawned = time.monotonic()
        self.proc = subprocess.Popen(
            [str(binary)], stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
            # Each function signs its AWS calls with its own access key (`fn-<function>`), so the
            # local moto can tell who called (a deployment: each function's own role).
            env={**os.environ, **env, "AWS_ACCESS_KEY_ID": f"fn-{fn}", "AWS_LAMBDA_RUNTIME_API": api,
                 "AWS_LAMBDA_FUNCTION_NAME": fn,
                 "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
                 "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{fn}", "AWS_LAMBDA_LOG_FORMAT": "JSON",
                 "AWS_LAMBDA_LOG_STREAM_NAME": uuid.uuid4().hex})

    def invoke(self, event: bytes, timeout=INVOKE_TIMEOUT):
        """(kind, body) where kind is "response" or "error"; raises TimeoutError."""
        rid = str(uuid.uuid4())
        self.inbox.put((rid, event))
        deadline = time.monotonic() + timeout
        with self.done:
            while rid not in self.results and "init" not in self.results:
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"{self.fn} did not answer (exit code {self.proc.poll()})")
                self.done.wait(min(left, 0.5))
            self.invocations += 1
            return self.results.pop(rid, None) or self.results["init"]

    def peak_rss_kib(self):
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        except OSError:
            return None
        return None

    def minor_faults(self):
        """Minor page faults of the whole process so far (field 10 of /proc/<pid>/stat)."""
        try:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
            return int(stat.rsplit(")", 1)[1].split()[7])
        except (OSError, IndexError, ValueError, AttributeError):
            return None

    def stats(self):
        def ms(t):
            return None if t is None else round((t - self.spawned) * 1000, 2)
        return {"pid": self.proc.pid, "ready_ms": ms(self.ready), "first_response_ms": ms(self.first_response),
                "invocations": self.invocations, "peak_rss_kib": self.peak_rss_kib(),
                "ready_minor_faults": self.ready_faults}

    def stop(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=5)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.server.shutdown()
        self.server.server_close()


class Pool:
    """Up to `concurrency` warm instances of one function; a busy pool queues the request."""

    def __init__(self, fn, binary, env, concurrency, log, timeout=INVOKE_TIMEOUT):
        self.fn, self.binary, self.env, self.concurrency, self.log = fn, binary, env, concurrency, log
        self.timeout = timeout
        self.idle = queue.Queue()
        self.instances = []
        self.lock = threading.Lock()

    def _take(self):
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            pass
        with self.lock:
            if len(self.instances) < self.concurrency:
                inst = Instance(self.fn, self.binary, self.env, self.log, self.timeout)
                self.instances.append(inst)
                return inst
        return self.idle.get(timeout=INVOKE_TIMEOUT)

    def invoke(self, event: bytes):
        inst = self._take()
        try:
            result = inst.invoke(event)
        except TimeoutError:
            with self.lock:
                self.instances.remove(inst)
            inst.stop()
            raise
        self.idle.put(inst)
        return result

    def stop(self):
        with self.lock:
            for inst in self.instances:
                inst.stop()
            self.instances.clear()


def route_regex(path):
    if path.endswith("{proxy+}"):  # greedy: the rest of the path
        return re.compile("^" + re.escape(path[: -len("{proxy+}")]) + r"(?P<proxy>.+)$")
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path)) + "$")


class Gateway:
    def __init__(self, bin_dir, env=None, concurrency=4, log_dir=None, routes=None):
        import routes as routes_mod
        self.bin_dir = Path(bin_dir)
        self.env = dict(env or {})
        self.concurrency = concurrency
        self.log_dir = Path(log_dir or ".")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.routes = [(m, p, fn, route_regex(p)) for m, p, fn in (routes or routes_mod.template_routes())]
        # What no route matches goes to the catch-all (as API Gateway does), if the template has one.
        fallback = None if routes else routes_mod.catch_all()
        if fallback:
            m, p, fn = fallback
            self.routes.append((m, p, fn, route_regex(p)))
        self.functions = routes_mod.template_functions()
        self.timeouts = routes_mod.template_timeouts()
        self.pools = {}
        self.lock = threading.Lock()
        self.logs = {}

    def pool(self, fn):
        with self.lock:
            if fn not in self.pools:
                log = open(self.log_dir / f"fn-{fn}.log", "ab")
                self.logs[fn] = log
                timeout = self.timeouts.get(fn, INVOKE_TIMEOUT)
                self.pools[fn] = Pool(fn, self.bin_dir / fn, self.env, self.concurrency, log, timeout)
            return self.pools[fn]

    def match(self, method, path):
        for m, p, fn, rx in self.routes:
            hit = rx.match(path)
            if hit and m in (method, "ANY"):
                return p, fn, {k: unquote(v) for k, v in hit.groupdict().items()}
        return None

    def metrics(self):
        return {fn: [i.stats() for i in pool.instances] for fn, pool in self.pools.items()}

    def serve(self, port):
        gw = self

        class Front(Quiet):
            def handle_any(self):
                url = urlsplit(self.path)
                body = self.body()
                m = re.fullmatch(r"/2015-03-31/functions/([^/]+)/invocations", url.path)
                if m and self.command == "POST":
                    return self.direct(m.group(1), body)
                if url.path == "/_local/metrics" and self.command == "GET":
                    return self.reply(200, json.dumps(gw.metrics()).encode(), [("content-type", "application/json")])
                hit = gw.match(self.command, url.path)
                if hit is None:
                    return self.reply(404, b'{"message":"Not Found"}', [("content-type", "application/json")])
                route, fn, params = hit
                event = gw.event(self, route, params, url, body)
                try:
                    kind, out = gw.pool(fn).invoke(json.dumps(event).encode())
                except (TimeoutError, queue.Empty):
                    return self.reply(504, b'{"message":"Endpoint request timed out"}',
                                      [("content-type", "application/json")])
                if kind != "response":
                    return self.reply(500, b'{"message":"Internal Server Error"}',
                                      [("content-type", "application/json")])
                res = json.loads(out)
                data = res.get("body") or ""
                data = base64.b64decode(data) if res.get("isBase64Encoded") else data.encode()
                headers = [(k, v) for k, v in (res.get("headers") or {}).items() if k.lower() != "content-length"]
                headers += [("set-cookie", c) for c in res.get("cookies") or []]
                self.reply(int(res.get("statusCode", 200)), data, headers)

            def direct(self, fn, body):
                if fn not in gw.functions:
                    return self.reply(404, json.dumps({"Type": "User", "message": f"Function not found: {fn}"}).encode(),
                                      [("content-type", "application/json")])
                kind, out = gw.pool(fn).invoke(body or b"{}")
                headers = [("content-type", "application/json")]
                if kind != "response":
                    headers.append(("x-amz-function-error", "Unhandled"))
                self.reply(200, out, headers)

            def __getattr__(self, name):
                # Every method (TRACE, CONNECT, made-up ones) is routed; unknown ones get the 404.
                if name.startswith("do_"):
                    return self.handle_any
                raise AttributeError(name)

        class FrontServer(ThreadingHTTPServer):
            # Bursts of concurrent clients (the tests use 32) must queue, not be reset: the
            # default backlog of 5 overflows on a busy machine.
            request_queue_size = 256

        self.front = FrontServer(("127.0.0.1", port), Front)
        self.front.daemon_threads = True
        self.front.serve_forever()

    @staticmethod
    def event(req, route, params, url, body):
        headers = {}
        for k, v in req.headers.items():
            k = k.lower()
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        now = datetime.now(timezone.utc)
        ev = {
            "version": "2.0", "routeKey": f"{req.command} {route}", "rawPath": url.path,
            "rawQueryString": url.query, "headers": headers,
            "requestContext": {
                "accountId": "123456789012", "apiId": "local", "domainName": headers.get("host", "localhost"),
                "domainPrefix": "local",
                "http": {"method": req.command, "path": url.path, "protocol": "HTTP/1.1",
                         "sourceIp": req.client_address[0], "userAgent": headers.get("user-agent", "")},
                "requestId": uuid.uuid4().hex, "routeKey": f"{req.command} {route}", "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"), "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": False,
        }
        if params:
            ev["pathParameters"] = params
        if url.query:
            qs = {}
            for k, v in parse_qsl(url.query, keep_blank_values=True):
                qs[k] = f"{qs[k]},{v}" if k in qs else v
            ev["queryStringParameters"] = qs
        if body:
            try:
                ev["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                ev["body"], ev["isBase64Encoded"] = base64.b64encode(body).decode(), True
        return ev

    def stop(self):
        if getattr(self, "front", None):
            self.front.shutdown()
            self.front.server_close()
        for pool in self.pools.values():
            pool.stop()
        for log in self.logs.values():
            log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--bin-dir", required=True)
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--log-dir", default=".")
    ap.add_argument("--env", action="append", default=[], help="K=V passed to every function")
    a = ap.parse_args()
    gw = Gateway(a.bin_dir, dict(e.split("=", 1) for e in a.env), a.concurrency, a.log_dir)

    def on_signal(signum, frame):
        threading.Thread(target=gw.stop, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"gateway on http://127.0.0.1:{a.port} ({len(gw.routes)} routes, up to {a.concurrency} instances each)",
          flush=True)
    gw.serve(a.port)
    for pool in gw.pools.values():
        pool.stop()


if __name__ == "__main__":
    main()

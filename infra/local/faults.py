"""Fault injection for the local stack: a TCP proxy whose path can be cut and restored.

Clients talk to the proxy's port; `down()` closes every open connection and refuses new ones
(what a client sees when a service is unreachable), `up()` restores the path. The service behind
it keeps its state, so a test can check that nothing was lost while it was away.
"""
import socket
import threading
import time


class Proxy:
    def __init__(self, target_port, host="127.0.0.1"):
        self.target = (host, target_port)
        self.host = host
        self.port = None
        self.conns = set()
        self.lock = threading.Lock()
        self.listener = None
        self.connections = 0
        self.delay = 0.0  # seconds added before each chunk a client sends (latency injection)
        self.up()

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def up(self):
        with self.lock:
            if self.listener is not None:
                return
            ls = socket.socket()
            ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            ls.bind((self.host, self.port or 0))
            ls.listen(128)
            self.port = ls.getsockname()[1]
            self.listener = ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def down(self):
        with self.lock:
            ls, self.listener = self.listener, None
            conns, self.conns = self.conns, set()
        if ls is not None:
            try:
                ls.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            ls.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def _accept(self, ls):
        while True:
            try:
                client, _ = ls.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                if self.listener is not ls:
                    client.close()
                    upstream.close()
                    return
                self.conns.update((client, upstream))
                self.connections += 1
            for a, b, slow in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pipe, args=(a, b, slow), daemon=True).start()

    def _pipe(self, src, dst, slow):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if slow and self.delay:
                    time.sleep(self.delay)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                self.conns.discard(src)
                self.conns.discard(dst)
            src.close()


class Tarpit:
    """A registry that accepts connections and never answers (a stalled endpoint)."""

    def __init__(self, host="127.0.0.1"):
        self.host = host
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(128)
        self.port = self.listener.getsockname()[1]
        self.held = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def _accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self.held.append(c)  # read nothing, answer nothing, close nothing

    def close(self):
        self.listener.close()
        for c in self.held:
            c.close()


class Redirector:
    """An HTTP server that answers every request with a redirect to `location` and counts
    requests (to check that clients do not follow it)."""

    def __init__(self, location, host="127.0.0.1"):
        import http.server

        outer = self
        self.requests = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def _redirect(self):
                outer.requests += 1
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_PUT = do_POST = _redirect

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer((host, 0), Handler)
        self.host, self.port = host, self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def close(self):
        self.server.shutdown()

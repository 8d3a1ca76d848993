"""A small counting HTTP proxy: forwards every request to one upstream server and
counts requests and bytes, so that resolver traffic is measured the same way for
every server.

    python benchmarks/proxy.py LISTEN_PORT UPSTREAM_PORT   # prints counts on Ctrl-C

The proxy keeps client connections alive (HTTP/1.1) and uses one upstream
connection per client connection. The ``Host`` header is passed through unchanged,
so redirects and absolute links built by the upstream point back at the proxy.
Responses are read whole before they are sent on; it is meant for index pages and
small files, not for large downloads.
"""

from __future__ import annotations

import http.client
import sys
import threading
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = frozenset(
    (
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
    )
)


def classify(path: str) -> str:
    """A coarse kind of request, for the per-kind breakdown."""
    path = path.split("?", 1)[0]
    if path.rstrip("/") == "/simple":
        return "simple index"
    if path.startswith("/simple/"):
        return "project page"
    if path.endswith(".metadata"):
        return "metadata"
    if path.startswith("/packages/"):
        return "file"
    return "other"


@dataclass
class Counts:
    requests: int = 0
    response_bytes: int = 0  # status line + headers + body, as sent to the client
    body_bytes: int = 0
    request_bytes: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    kind_bytes: Counter[str] = field(default_factory=Counter)
    paths: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class CountingProxy:
    """Run with ``start()``; read ``counts``; ``reset()`` between clients; ``stop()``."""

    def __init__(self, upstream_port: int, listen_port: int = 0, host: str = "127.0.0.1"):
        self.upstream = (host, upstream_port)
        self.counts = Counts()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            upstream_conn: http.client.HTTPConnection | None = None

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
                for attempt in (1, 2):
                    if self.upstream_conn is None:
                        self.upstream_conn = http.client.HTTPConnection(
                            *proxy.upstream, timeout=600
                        )
                    try:
                        self.upstream_conn.request(self.command, self.path, body, headers)
                        resp = self.upstream_conn.getresponse()
                        data = resp.read()
                        break
                    except (http.client.HTTPException, ConnectionError):
                        # The upstream closed a kept-alive connection: retry once on a new one.
                        self.upstream_conn.close()
                        self.upstream_conn = None
                        if attempt == 2:
                            raise
                status_line = f"{self.protocol_version} {resp.status} {resp.reason}\r\n"
                out_headers = [
                    (k, v)
                    for k, v in resp.getheaders()
                    if k.lower() not in HOP_BY_HOP and k.lower() != "content-length"
                ]
                if self.command == "HEAD":  # no body: pass the upstream's length on
                    length_header = resp.getheader("Content-Length")
                    if length_header is not None:
                        out_headers.append(("Content-Length", length_header))
                else:
                    out_headers.append(("Content-Length", str(len(data))))
                self.send_response_only(resp.status, resp.reason)
                for k, v in out_headers:
                    self.send_header(k, v)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                head_size = len(status_line) + sum(len(k) + len(v) + 4 for k, v in out_headers) + 2
                kind = classify(self.path)
                request_size = len(self.requestline) + 2 + len(bytes(self.headers)) + length
                with proxy.lock:
                    c = proxy.counts
                    c.requests += 1
                    c.body_bytes += len(data)
                    c.response_bytes += head_size + len(data)
                    c.request_bytes += request_size
                    c.statuses[resp.status] += 1
                    c.kinds[kind] += 1
                    c.kind_bytes[kind] += head_size + len(data)
                    c.paths.append(f"{self.command} {self.path} {resp.status} {len(data)}")

            do_GET = do_HEAD = do_POST = _forward

            def finish(self) -> None:
                super().finish()
                if self.upstream_conn is not None:
                    self.upstream_conn.close()

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                error = sys.exc_info()[1]
                with proxy.lock:
                    proxy.counts.errors.append(f"{error.__class__.__name__}: {error}")

        self.server = Server((host, listen_port), Handler)
        self.port: int = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> CountingProxy:
        self.thread.start()
        return self

    def reset(self) -> Counts:
        with self.lock:
            old, self.counts = self.counts, Counts()
        return old

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    proxy = CountingProxy(int(argv[1]), int(argv[0]))
    proxy.start()
    print(f"proxy on http://127.0.0.1:{proxy.port}/ -> port {argv[1]}", file=sys.stderr)
    try:
        proxy.thread.join()
    except KeyboardInterrupt:
        pass
    finally:
        proxy.stop()
        c = proxy.counts
        print(f"{c.requests} requests, {c.response_bytes} bytes; {dict(c.kinds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

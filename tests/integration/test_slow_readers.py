"""Clients that ask for a large file and never read the answer (issue 12, item 1).

Each holds its own connection, never one of the server's threads: with ``--threads 2``
and four such clients connected, ``/health`` still answers within a 1 s socket timeout,
for every way a file is served (whole, ranges, HEAD, conditional, ``.metadata``, through
the fast path and through the route). The clients' receive buffers are kept small, so
the server's send buffer really fills and waitress's outbuf passes its 16 MiB high
watermark (the point where it makes a task thread that writes more wait).
"""

from __future__ import annotations

import base64
import contextlib
import os
import select
import socket
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Server, http, start_server
from helpers.dists import metadata_text

THREADS = 2
CLIENTS = THREADS + 2
BIG = 64 << 20
WHEEL = "big-1.0-py3-none-any.whl"
# A long description: the .metadata answer is several MiB (under the 8 MiB limit).
DESCRIPTION = base64.b64encode(os.urandom(3 << 20)).decode()


def big_wheel(path: Path) -> None:
    """A real wheel holding 64 MiB of incompressible bytes (stored, so quick to build)."""
    meta = metadata_text("big", "1.0").rstrip("\n") + "\n\n" + DESCRIPTION + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("big/__init__.py", b"")
        zf.writestr("big/blob.bin", os.urandom(BIG))
        zf.writestr("big-1.0.dist-info/METADATA", meta)
        zf.writestr(
            "big-1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        zf.writestr("big-1.0.dist-info/RECORD", "")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    packages = tmp_path_factory.mktemp("slow") / "packages"
    packages.mkdir()
    big_wheel(packages / WHEEL)
    srv = start_server("--threads", str(THREADS), "--disable-fallback", packages)
    # The project page computes the file's facts (hash, metadata) once, before the cases.
    assert http(srv.url + "simple/big/").status == 200
    yield srv
    srv.stop()


def address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def slow_client(server: Server, head: str) -> socket.socket:
    """A connection that sends one request and then reads nothing."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a small window
    sock.settimeout(10)
    sock.connect(address(server))
    host, port = address(server)
    sock.sendall(f"{head}\r\nHost: {host}:{port}\r\n\r\n".encode("latin-1"))
    return sock


def health(server: Server) -> int:
    """The status of one /health request, with a 1 s deadline for connect and answer."""
    host, port = address(server)
    with socket.create_connection((host, port), timeout=1.0) as sock:
        sock.sendall(
            f"GET /health HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while b"\r\n" not in answer:
            chunk = sock.recv(1024)  # raises TimeoutError after 1 s of silence
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b" ", 2)[1])


def etag(server: Server) -> str:
    found = http(server.url + "packages/" + WHEEL, method="HEAD").header("ETag")
    assert found is not None
    return found


FILE = f"/packages/{WHEEL}"
CASES = {
    "whole (fast path)": ("GET", FILE, [], 200),
    "whole (route)": ("GET", FILE + "?via=route", [], 200),
    "range bytes=0-": ("GET", FILE, ["Range: bytes=0-"], 206),
    "range bytes=1000-": ("GET", FILE, ["Range: bytes=1000-"], 206),
    "range bytes=10-50000009": ("GET", FILE, ["Range: bytes=10-50000009"], 206),
    "suffix range": ("GET", FILE, [f"Range: bytes=-{BIG - 5}"], 206),
    "range with a matching If-Range": ("GET", FILE, ["Range: bytes=0-", "If-Range: {etag}"], 206),
    "If-None-Match that does not match": ("GET", FILE, ['If-None-Match: "other"'], 200),
    "If-Modified-Since long ago": (
        "GET",
        FILE,
        ["If-Modified-Since: Thu, 01 Jan 1970 00:00:01 GMT"],
        200,
    ),
    "If-None-Match that matches": ("GET", FILE, ["If-None-Match: {etag}"], 304),
    "HEAD (fast path)": ("HEAD", FILE, [], 200),
    "HEAD with a range": ("HEAD", FILE, ["Range: bytes=0-"], 206),
    ".metadata (fast path)": ("GET", FILE + ".metadata", [], 200),
    ".metadata (route)": ("GET", FILE + ".metadata", ['If-None-Match: "other"'], 200),
}


@pytest.mark.parametrize("case", list(CASES))
def test_clients_that_never_read_hold_no_thread(server: Server, case: str) -> None:
    method, target, extra, status = CASES[case]
    tag = etag(server)
    head = "\r\n".join([f"{method} {target} HTTP/1.1", *(h.format(etag=tag) for h in extra)])
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(slow_client(server, head)) for _ in range(CLIENTS)]
        # Give the server time to start every answer and to fill what it can buffer.
        deadline = time.monotonic() + 5
        pending = list(clients)
        while pending and time.monotonic() < deadline:
            readable, _, _ = select.select(pending, [], [], 0.2)
            pending = [s for s in pending if s not in readable]
        time.sleep(0.5)
        for _ in range(3):
            try:
                assert health(server) == 200
            except TimeoutError:
                pytest.fail(
                    f"{case}: /health got no answer within 1 s while {CLIENTS} "
                    f"clients do not read (--threads {THREADS})"
                )
            time.sleep(0.2)
        for sock in clients:
            start = sock.recv(12)
            assert start == f"HTTP/1.1 {status}".encode(), (case, start)

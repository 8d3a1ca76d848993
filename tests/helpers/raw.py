"""Raw-socket HTTP: a request sent byte for byte (no client normalises the target or the
headers), and the answer read as bytes until the server closes the connection.

For the tests where the exact bytes matter; tests/integration/test_hostile_input.py and
test_transport.py have their own readers (threaded sending, half-close, timeouts as results).
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import urlsplit


def address(url: str) -> tuple[str, int]:
    """(host, port) of a server's URL."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def request_head(
    target: str, host: str, method: str = "GET", headers: dict[str, str] | None = None
) -> bytes:
    """``METHOD target HTTP/1.1`` with Host, ``Connection: close`` and ``headers``."""
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def exchange(url: str, data: bytes, timeout: float = 15.0, until: bytes | None = None) -> bytes:
    """Send ``data`` and read until the server closes (or, with ``until``, until those
    bytes have arrived); a socket timeout raises TimeoutError."""
    with socket.create_connection(address(url), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while until is None or until not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


@dataclass
class RawAnswer:
    status: int
    head: bytes  # the status line and the header lines
    body: bytes

    @property
    def header_lines(self) -> list[bytes]:
        return self.head.split(b"\r\n")[1:]

    @property
    def headers(self) -> dict[str, str]:
        """Header names in lower case (the last of repeated ones)."""
        lines = self.head.decode("latin-1").split("\r\n")[1:]
        return {k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in lines)}


def parse(answer: bytes) -> RawAnswer:
    head, _, body = answer.partition(b"\r\n\r\n")
    return RawAnswer(int(head.split(b" ", 2)[1]), head, body)

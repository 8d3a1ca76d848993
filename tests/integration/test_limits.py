"""The configurable limits (docs/configuration.md) that need a real server: request head
size, the silent-connection timeout, and the defaults they start from. The form limits are
tests/component/test_component_limits.py."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Server, http
from helpers.htpasswd import limited_index


@pytest.fixture
def limited(tmp_path: Path, serve) -> tuple[Server, Path]:
    args, packages = limited_index(tmp_path)
    return serve(*args), packages


def raw_request(server: Server, request: bytes) -> bytes:
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            data = sock.recv(65536)
            if not data:
                break
            chunks.append(data)
            if b"\r\n\r\n" in b"".join(chunks):
                break
    return b"".join(chunks)


def test_request_head_over_the_limit_is_431(limited: tuple[Server, Path]) -> None:
    server, _ = limited
    answer = raw_request(
        server, b"GET /simple/ HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 4000 + b"\r\n\r\n"
    )
    assert answer.split(b"\r\n", 1)[0].endswith(b" 431 Request Header Fields Too Large")
    assert b"Traceback" not in answer
    small = raw_request(server, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert small.startswith(b"HTTP/1.1 200 ")


def test_a_silent_connection_is_closed(limited: tuple[Server, Path]) -> None:
    server, _ = limited
    parts = urlsplit(server.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(b"GET /sim")  # and then nothing
        # the server closes it (waitress checks idle channels every few seconds)
        assert sock.recv(1024) == b""
    assert http(server.url + "health").status == 200


def test_defaults_are_in_the_help() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "packyard", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    for flag in ("--max-form-size", "--max-form-fields", "--max-header-size", "--channel-timeout"):
        assert flag in out

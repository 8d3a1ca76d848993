"""The configurable limits (docs/configuration.md): form size and field count, request
head size, the silent-connection timeout, and the defaults they start from."""

from __future__ import annotations

import base64
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Server, add_user, http
from helpers.dists import wheel_bytes
from helpers.forms import encode_form, post

USER, PASSWORD = "uploader", "limits-pw"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@pytest.fixture
def limited(tmp_path: Path, serve) -> tuple[Server, Path]:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    server = serve(
        "-P",
        htpasswd,
        "--max-form-fields",
        "12",
        "--max-form-size",
        "4K",
        "--max-header-size",
        "2K",
        "--channel-timeout",
        "1",
        packages,
    )
    return server, packages


def upload_fields(name: str, version: str, extra: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [
        (":action", "file_upload"),
        ("protocol_version", "1"),
        ("name", name),
        ("version", version),
        *extra,
    ]


def stored(packages: Path) -> list[str]:
    return sorted(p.name for p in packages.iterdir() if not p.name.startswith("."))


def test_within_the_limits_an_upload_is_stored(limited: tuple[Server, Path]) -> None:
    server, packages = limited
    filename, data = wheel_bytes("limits-demo", "1.0")
    body, ctype = encode_form(
        upload_fields("limits-demo", "1.0", [("summary", "x" * 1000)]), (filename, data)
    )
    reply = post(server.url, body, ctype, authorization=AUTH)
    assert reply.status == 200, reply.text
    assert stored(packages) == [filename]


def test_too_many_form_fields_is_413(limited: tuple[Server, Path]) -> None:
    server, packages = limited
    filename, data = wheel_bytes("limits-demo", "1.0")
    extra = [("classifiers", f"Topic :: {i}") for i in range(20)]
    body, ctype = encode_form(upload_fields("limits-demo", "1.0", extra), (filename, data))
    reply = post(server.url, body, ctype, authorization=AUTH)
    assert reply.status == 413
    assert "too many form fields (more than 12)" in reply.text
    assert stored(packages) == []
    assert not list(packages.glob(".packyard-upload-*"))


def test_text_fields_larger_than_the_form_size_are_413(limited: tuple[Server, Path]) -> None:
    server, packages = limited
    filename, data = wheel_bytes("limits-demo", "1.0")
    # each field is under the limit; together they are over it
    extra = [("description", "d" * 3000), ("summary", "s" * 3000)]
    body, ctype = encode_form(upload_fields("limits-demo", "1.0", extra), (filename, data))
    reply = post(server.url, body, ctype, authorization=AUTH)
    assert reply.status == 413
    assert "text fields are larger than 4096 bytes together" in reply.text
    assert stored(packages) == []


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

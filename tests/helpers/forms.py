"""Building and posting multipart forms in the tests (the upload API's wire format)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from http.client import HTTPConnection
from urllib.parse import urlsplit


def encode_form(
    fields: list[tuple[str, str]], file: tuple[str, bytes] | None, file_field: str = "content"
) -> tuple[bytes, str]:
    """A multipart/form-data body (fields first, then the file) and its Content-Type."""
    boundary = "packyard-test-" + secrets.token_hex(12)
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode("utf-8") + b"\r\n"
    if file is not None:
        filename, data = file
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
        out += (
            f"--{boundary}\r\nContent-Disposition: form-data; "
            f'name="{file_field}"; filename="{quoted}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


@dataclass
class Reply:
    status: int
    reason: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def post(
    url: str,
    body: bytes,
    content_type: str,
    *,
    path: str = "/",
    authorization: str | None = None,
    accept: str | None = "*/*",
) -> Reply:
    """One POST with http.client (keeps the reason phrase; never follows redirects)."""
    parts = urlsplit(url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        headers = {"Content-Type": content_type}
        if authorization is not None:
            headers["Authorization"] = authorization
        if accept is not None:
            headers["Accept"] = accept
        conn.request("POST", path, body=body, headers=headers)
        resp = conn.getresponse()
        reply = Reply(
            resp.status,
            resp.reason,
            {k.lower(): v for k, v in resp.getheaders()},
            resp.read(),
        )
    finally:
        conn.close()
    # The upload URL never redirects: twine and poetry fail on any 3xx.
    assert not 300 <= reply.status < 400, reply
    return reply

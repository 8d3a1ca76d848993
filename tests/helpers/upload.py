"""Uploads through the legacy API, as twine sends them: the fields, the form, the POST.

One ``upload_fields`` and one ``upload`` for every test; a test that sends fewer or other
fields says so through the parameters (``metadata_version=None`` leaves that field out).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path
from typing import Any

from helpers.forms import Reply, encode_form, post
from helpers.server import Server, http

AUTO = "auto"  # filetype/pyversion from the file name: bdist_wheel/py3 or sdist/source


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def upload_fields(
    filename: str,
    data: bytes,
    name: str,
    version: str,
    *,
    metadata_version: str | None = "2.1",
    filetype: str | None = AUTO,
    pyversion: str | None = AUTO,
    summary: str | None = None,
    sha256: bool = True,
    blake2: bool = False,
) -> list[tuple[str, str]]:
    """The fields of a ``file_upload`` for one file, in twine's order; a field given None
    (or False for the digests) is left out."""
    wheel = filename.endswith(".whl")
    if filetype == AUTO:
        filetype = "bdist_wheel" if wheel else "sdist"
    if pyversion == AUTO:
        pyversion = "py3" if wheel else "source"
    optional: list[tuple[str, str | None]] = [
        ("filetype", filetype),
        ("pyversion", pyversion),
        ("summary", summary),
        ("sha256_digest", hashlib.sha256(data).hexdigest() if sha256 else None),
        (
            "blake2_256_digest",
            hashlib.blake2b(data, digest_size=32).hexdigest() if blake2 else None,
        ),
    ]
    fields = [(":action", "file_upload"), ("protocol_version", "1")]
    if metadata_version is not None:
        fields.append(("metadata_version", metadata_version))
    fields += [("name", name), ("version", version)]
    fields += [(key, value) for key, value in optional if value is not None]
    return fields


def replace_field(
    fields: list[tuple[str, str]], name: str, value: str | None
) -> list[tuple[str, str]]:
    """The fields with ``name`` set to ``value`` (removed when None; added if absent)."""
    out = [(k, v) for k, v in fields if k != name]
    if value is not None:
        out.append((name, value))
    return out


def send(
    url: str,
    fields: list[tuple[str, str]],
    file: tuple[str, bytes] | None,
    **kwargs: str | None,
) -> Reply:
    """Encode the form and POST it (``authorization``, ``path``, ``accept`` as in
    ``helpers.forms.post``)."""
    body, content_type = encode_form(fields, file)
    return post(url, body, content_type, **kwargs)  # type: ignore[arg-type]


def upload(
    url: str,
    filename: str,
    data: bytes,
    name: str,
    version: str,
    *,
    fields: list[tuple[str, str]] | None = None,
    expect: int | None = None,
    authorization: str | None = None,
    path: str = "/",
    accept: str | None = "*/*",
    **field_options: Any,
) -> Reply:
    """Upload one file: ``fields`` default to ``upload_fields(..., **field_options)``; with
    ``expect``, assert the answer's status."""
    if fields is None:
        fields = upload_fields(filename, data, name, version, **field_options)
    body, content_type = encode_form(fields, (filename, data))
    reply = post(url, body, content_type, path=path, authorization=authorization, accept=accept)
    if expect is not None:
        assert reply.status == expect, reply
    return reply


def listing(directory: Path) -> list[str]:
    """Every entry below ``directory``, hidden ones included, except the server's
    ledger (``.packyard/``, which holds upload times and yanks, not uploads)."""
    found = []
    for root, dirs, files in os.walk(directory):
        if root == str(directory) and ".packyard" in dirs:
            dirs.remove(".packyard")
        for entry in dirs + files:
            found.append(os.path.relpath(os.path.join(root, entry), directory))
    return sorted(found)


HREF = re.compile(r'href="([^"#]*)#sha256=([0-9a-f]{64})"')


def simple_links(server: Server, project: str) -> dict[str, str]:
    """filename -> sha256 of the links on the project's simple page ({} unless 200)."""
    resp = http(server.url + f"simple/{project}/")
    if resp.status != 200:
        return {}
    return {href.rsplit("/", 1)[-1]: digest for href, digest in HREF.findall(resp.text)}

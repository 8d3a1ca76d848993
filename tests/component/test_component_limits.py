"""The form limits (docs/configuration.md), in-process: form size and field count. The
request-head size, the silent-connection timeout and the help text need a real server:
tests/integration/test_limits.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.app import App
from helpers.dists import wheel_bytes
from helpers.forms import encode_form
from helpers.htpasswd import LIMITS_PASSWORD, LIMITS_USER, basic_auth, limited_index

AUTH = basic_auth(LIMITS_USER, LIMITS_PASSWORD)


@pytest.fixture
def limited(tmp_path: Path, serve_app) -> tuple[App, Path]:
    args, packages = limited_index(tmp_path)
    return serve_app(*args), packages


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


def test_within_the_limits_an_upload_is_stored(limited: tuple[App, Path]) -> None:
    app, packages = limited
    filename, data = wheel_bytes("limits-demo", "1.0")
    body, ctype = encode_form(
        upload_fields("limits-demo", "1.0", [("summary", "x" * 1000)]), (filename, data)
    )
    reply = app.post(body, ctype, authorization=AUTH)
    assert reply.status == 200, reply.text
    assert stored(packages) == [filename]


def test_too_many_form_fields_is_413(limited: tuple[App, Path]) -> None:
    app, packages = limited
    filename, data = wheel_bytes("limits-demo", "1.0")
    extra = [("classifiers", f"Topic :: {i}") for i in range(20)]
    body, ctype = encode_form(upload_fields("limits-demo", "1.0", extra), (filename, data))
    reply = app.post(body, ctype, authorization=AUTH)
    assert reply.status == 413
    assert "too many form fields (more than 12)" in reply.text
    assert stored(packages) == []
    assert not list(packages.glob(".packyard-upload-*"))


def test_text_fields_larger_than_the_form_size_are_413(limited: tuple[App, Path]) -> None:
    app, packages = limited
    filename, data = wheel_bytes("limits-demo", "1.0")
    # each field is under the limit; together they are over it
    extra = [("description", "d" * 3000), ("summary", "s" * 3000)]
    body, ctype = encode_form(upload_fields("limits-demo", "1.0", extra), (filename, data))
    reply = app.post(body, ctype, authorization=AUTH)
    assert reply.status == 413
    assert "text fields are larger than 4096 bytes together" in reply.text
    assert stored(packages) == []

"""The upload API over the in-memory Repository: the rules of an upload (one name, one
set of bytes; spelling twins; tombstones; yanks; remove_pkg) hold whatever the storage
backend, since the Uploader holds only a Repository."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from helpers.dists import sdist_bytes, wheel_bytes
from helpers.forms import encode_form

from packyard.storage.memory import MemoryRepository
from packyard.upload import Uploader, UploadError


def _post(
    uploader: Uploader, fields: list[tuple[str, str]], file: tuple[str, bytes] | None = None
) -> str:
    body, content_type = encode_form(fields, file)
    environ = {
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    form, staged = uploader.read_form(environ)
    return uploader.dispatch(form, staged, "tester").message


def _upload(uploader: Uploader, filename: str, data: bytes, version: str = "1.0") -> str:
    fields = [(":action", "file_upload"), ("name", "mem"), ("version", version)]
    return _post(uploader, fields, (filename, data))


def _status(call: Callable[[], object]) -> int:
    with pytest.raises(UploadError) as refused:
        call()
    return refused.value.status


def test_upload_rules_over_the_memory_repository() -> None:
    repo = MemoryRepository()
    uploader = Uploader(repo, overwrite=False, max_size=1 << 20)
    filename, data = wheel_bytes("mem", "1.0")
    other = wheel_bytes("mem", "1.0", module_body="OTHER = 1\n")[1]
    assert "stored" in _upload(uploader, filename, data)
    assert "identical" in _upload(uploader, filename, data)
    assert _status(lambda: _upload(uploader, filename, other)) == 409
    twin, twin_data = wheel_bytes("Mem", "1.0.0")
    assert _status(lambda: _upload(uploader, twin, twin_data, "1.0.0")) == 409
    with repo.open(repo.snapshot.files[filename]) as fh:
        assert fh.read() == data

    yank = [(":action", "yank"), ("name", "mem"), ("version", "1.0"), ("reason", "bad")]
    assert "yanked" in _post(uploader, yank)
    assert repo.yanks.of(repo.snapshot.files[filename]) == "bad"

    remove = [(":action", "remove_pkg"), ("name", "mem"), ("version", "1.0")]
    assert "removed 1 file" in _post(uploader, remove)
    assert repo.snapshot.files == {}
    # a removed name comes back with the same bytes only, and un-yanked
    assert _status(lambda: _upload(uploader, filename, other)) == 409
    assert "stored" in _upload(uploader, filename, data)
    assert repo.yanks.of(repo.snapshot.files[filename]) is None


def test_overwrite_replaces_over_the_memory_repository() -> None:
    repo = MemoryRepository()
    uploader = Uploader(repo, overwrite=True, max_size=1 << 20)
    filename, data = sdist_bytes("mem", "1.0")
    assert "stored" in _upload(uploader, filename, data)
    newer = sdist_bytes("mem", "1.0", requires=("idna",))[1]
    assert "replaced" in _upload(uploader, filename, newer)
    dist = repo.snapshot.files[filename]
    with repo.open(dist) as fh:
        assert fh.read() == newer
    facts = repo.facts(dist)
    assert facts is not None
    assert facts.metadata_sha256 is not None


def test_a_refused_upload_leaves_nothing_in_memory() -> None:
    repo = MemoryRepository()
    uploader = Uploader(repo, overwrite=False, max_size=1 << 20)
    assert _status(lambda: _upload(uploader, "mem-1.0-py3-none-any.whl", b"not a zip")) == 400
    assert repo.snapshot.files == {}

"""Upload commits that fail half-way, in-process: a failure injected at the steps a real
file system cannot be made to fail at on cue (the link itself, the ledger write after
an ``--overwrite`` replace). After each, the file is either stored and listed, or
neither, and nothing hidden is left in the directory.

The same failures on a real full or read-only file system are in
tests/integration/test_upload_integrity.py.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import sqlite3
from pathlib import Path

import pytest
from helpers.dists import wheel_bytes
from helpers.forms import encode_form

from packyard.storage.cache import IndexCache
from packyard.storage.directory import Root
from packyard.storage.ledger import Ledger, RootLedger
from packyard.storage.local import DirectoryRepository
from packyard.upload import Uploader, UploadError


def _uploader(packages: Path, *, overwrite: bool = False) -> Uploader:
    roots = [Root.of(str(packages))]
    cache = IndexCache(roots, Ledger(roots))
    cache.rescan()
    return Uploader(DirectoryRepository(cache), overwrite=overwrite, max_size=1 << 20)


def _post(uploader: Uploader, filename: str, data: bytes) -> str:
    fields = [(":action", "file_upload"), ("name", "inj"), ("version", "1.0")]
    body, content_type = encode_form(fields, (filename, data))
    environ = {
        "CONTENT_TYPE": content_type,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    form, staged = uploader.read_form(environ)
    return uploader.dispatch(form, staged, "tester").message


def _on_disk(packages: Path) -> list[str]:
    return sorted(p.name for p in packages.iterdir() if p.name != ".packyard")


def _listed(uploader: Uploader) -> dict[str, int]:
    return {name: dist.size for name, dist in uploader._repo.snapshot.files.items()}


def test_link_without_space_is_507_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    uploader = _uploader(packages)
    filename, data = wheel_bytes("inj", "1.0")

    def no_space(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "link", no_space)
    with pytest.raises(UploadError) as failed:
        _post(uploader, filename, data)
    assert failed.value.status == 507
    assert _on_disk(packages) == []
    assert _listed(uploader) == {}
    monkeypatch.undo()
    assert "stored" in _post(uploader, filename, data)
    assert _listed(uploader) == {filename: len(data)}


def test_ledger_failure_after_replace_puts_the_old_file_back(tmp_path: Path, monkeypatch):
    packages = tmp_path / "packages"
    packages.mkdir()
    uploader = _uploader(packages, overwrite=True)
    filename, old = wheel_bytes("inj", "1.0")
    new = wheel_bytes("inj", "1.0", module_body="NEW = 1\n")[1]
    assert "stored" in _post(uploader, filename, old)

    def read_only(self: RootLedger, *args: object) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(RootLedger, "record_upload", read_only)
    with pytest.raises(UploadError) as failed:
        _post(uploader, filename, new)
    assert failed.value.status == 503
    assert "ledger" in failed.value.message
    assert (packages / filename).read_bytes() == old
    assert _on_disk(packages) == [filename]
    assert _listed(uploader) == {filename: len(old)}
    monkeypatch.undo()
    assert "replaced" in _post(uploader, filename, new)
    assert (packages / filename).read_bytes() == new
    dist = uploader._repo.snapshot.files[filename]
    facts = uploader._repo.facts(dist)
    assert facts is not None
    assert facts.digests["sha256"] == hashlib.sha256(new).hexdigest()


def test_ledger_full_after_new_link_takes_the_file_back(tmp_path: Path, monkeypatch) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    uploader = _uploader(packages)
    filename, data = wheel_bytes("inj", "1.0")
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]

    def disk_full(self: RootLedger, *args: object) -> None:
        raise full

    monkeypatch.setattr(RootLedger, "record_upload", disk_full)
    with pytest.raises(UploadError) as failed:
        _post(uploader, filename, data)
    assert failed.value.status == 507
    assert _on_disk(packages) == []
    assert _listed(uploader) == {}
    monkeypatch.undo()
    assert "stored" in _post(uploader, filename, data)

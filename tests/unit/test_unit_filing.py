"""The upload filing rules (packyard.filing) as pure functions."""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

import pytest
from helpers.dists import sdist_bytes, wheel_bytes

from packyard.filing import (
    UploadError,
    check_listed_as,
    is_readable_archive,
    spelling_twin,
    storage_error,
)
from packyard.index.filenames import parse_filename
from packyard.index.model import Distribution


@pytest.mark.parametrize(
    ("code", "status"),
    [(errno.ENOSPC, 507), (errno.EDQUOT, 507), (errno.EROFS, 503), (errno.EACCES, 503)],
)
def test_storage_errors_map_to_507_or_503(code: int, status: int) -> None:
    found = storage_error(OSError(code, os.strerror(code)), "could not store x")
    assert found.status == status
    assert os.strerror(code) in found.message
    assert "\n" not in found.message


def test_sqlite_full_is_507_and_other_sqlite_errors_503() -> None:
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
    assert storage_error(full, "ledger").status == 507
    assert storage_error(sqlite3.OperationalError("readonly database"), "ledger").status == 503


@pytest.mark.parametrize(
    ("filename", "name", "known", "refused"),
    [
        ("foo-2-3.tar.gz", "foo", (), True),  # listed as foo-2 3
        ("foo-2.post3.tar.gz", "foo", (), False),
        ("foo-2-3.tar.gz", "foo-2", (), False),
        ("foo-2-3.tar.gz", "foo-2", ("foo", "foo-2"), False),  # the longest hint wins
        ("foo-2-3.tar.gz", "foo-2", ("foo",), True),  # would be listed as foo 2.post3
        ("foo-1.0-1.tar.bz2", "foo", (), False),
    ],
)
def test_filename_must_be_listed_as_the_form_says(
    filename: str, name: str, known: tuple[str, ...], refused: bool
) -> None:
    parsed = parse_filename(filename, {name})
    if refused:
        with pytest.raises(UploadError) as failed:
            check_listed_as(filename, parsed, set(known))
        assert failed.value.status == 400
    else:
        check_listed_as(filename, parsed, set(known))


def _dist(filename: str) -> Distribution:
    parsed = parse_filename(filename)
    st = os.stat(__file__)
    return Distribution.from_parsed("/r", filename, parsed, st)


@pytest.mark.parametrize(
    ("existing", "new", "twin"),
    [
        ("victim_lib-1.0.tar.gz", "Victim_Lib-1.0.tar.gz", True),
        ("victim_lib-1.0.tar.gz", "victim-lib-1.0.0.tar.gz", True),
        ("victim_lib-1.0.tar.gz", "victim_lib-1.0.zip", False),
        ("victim_lib-1.0-py3-none-any.whl", "Victim_Lib-1.0-py3-none-any.whl", True),
        ("victim_lib-1.0-py3-none-any.whl", "victim_lib-1.0-py2.py3-none-any.whl", False),
        ("victim_lib-1.0-py3-none-any.whl", "victim_lib-1.0-1-py3-none-any.whl", False),
        ("victim_lib-1.0-py3.11.egg", "Victim_Lib-1.0-py3.11.egg", True),
        ("victim_lib-1.0.tar.gz", "victim_lib-1.1.tar.gz", False),
    ],
)
def test_spelling_twins(existing: str, new: str, twin: bool) -> None:
    found = spelling_twin(new, parse_filename(new), [_dist(existing)])
    assert (found is not None) == twin
    if twin:
        assert found is not None
        assert found.filename == existing


def test_readable_archives(tmp_path: Path) -> None:
    sdist_name, sdist = sdist_bytes("arch", "1.0")
    wheel_name, wheel = wheel_bytes("arch", "1.0")
    cases = {
        sdist_name: (sdist, True),
        "arch-1.0.tgz": (sdist, True),
        "arch-1.0.tar.bz2": (sdist, False),  # gzip bytes under a bz2 name
        "arch-1.0.zip": (wheel, True),
        "arch-1.0-py3.11.egg": (b"PK\x03\x04 not really", False),
        "arch-1.0.tar.xz": (os.urandom(600), False),
    }
    for filename, (data, readable) in cases.items():
        path = tmp_path / filename
        path.write_bytes(data)
        assert is_readable_archive(str(path), filename) == readable, filename
    assert wheel_name.endswith(".whl")

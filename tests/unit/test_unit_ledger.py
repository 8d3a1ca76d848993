"""The ledger (upload times, digests, core metadata, yanks) and yanking, on real files."""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.dists import make_sdist, make_wheel, metadata_text, sdist_bytes, wheel_bytes

from packyard import yanking
from packyard.errors import PackyardError
from packyard.index.filenames import Kind
from packyard.index.metadata import Extracted
from packyard.index.model import Distribution
from packyard.index.versions import format_time, version_key
from packyard.storage.cache import IndexCache
from packyard.storage.directory import Root, probe
from packyard.storage.ledger import (
    LEDGER_DIR,
    LEDGER_FILE,
    PYPI_ALGOS,
    Ledger,
    Recorded,
    RootLedger,
    YankState,
)
from packyard.storage.local import DirectoryRepository
from packyard.yanking import MAX_REASON, Target, YankError, check_reason, target_from

# Fixed times far in the past: never confused with "now".
T0 = 1_500_000_000.0
T1 = T0 + 1000
T2 = T0 + 2000
T3 = T0 + 3000


@pytest.fixture
def pkgs(tmp_path: Path) -> Path:
    directory = tmp_path / "packages"
    directory.mkdir()
    return directory


@pytest.fixture
def root(pkgs: Path) -> Root:
    return Root.of(str(pkgs))


@pytest.fixture
def ledger(root: Root) -> Iterator[Ledger]:
    opened = Ledger([root])
    yield opened
    opened.close()


def dist_of(root: Root, path: Path) -> Distribution:
    found = probe(root, path.relative_to(root.path).as_posix())
    assert found is not None, path
    return found


def touch(path: Path, seconds: int = 10) -> None:
    """A new mtime, same bytes (and same inode)."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def replace_content(path: Path, data: bytes) -> None:
    st = path.stat()
    path.write_bytes(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 20 * 1_000_000_000))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- helpers of the module


def test_format_time_is_pep700() -> None:
    assert format_time(0) == "1970-01-01T00:00:00.000000Z"
    assert format_time(T0 + 0.25) == "2017-07-14T02:40:00.250000Z"


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("1.0", "1.0"),
        ("1.0", "1.0.0"),  # PEP 440: the same version
        ("1", "1.0"),
        ("1.0.0", "1.0.0.0"),
        ("01.0", "1.0"),
        ("1.0-1", "1.0.post1"),
        ("1.0alpha1", "1.0a1"),
        ("1.0+Local", "1.0+local"),
    ],
)
def test_version_key_equal_versions(a: str, b: str) -> None:
    assert version_key(a) == version_key(b)


@pytest.mark.parametrize(("a", "b"), [("1.0", "1.1"), ("1.0", "1.0.post1"), ("1.0", "1.0a1")])
def test_version_key_different_versions(a: str, b: str) -> None:
    assert version_key(a) != version_key(b)


def test_version_key_invalid_version_is_kept() -> None:
    assert version_key("not a version!") == "not a version!"


# --- where the ledger lives


def test_ledger_lives_in_the_packages_directory(pkgs: Path, ledger: Ledger) -> None:
    expected = pkgs / LEDGER_DIR / LEDGER_FILE
    assert (LEDGER_DIR, LEDGER_FILE) == (".packyard", "ledger.sqlite3")
    assert ledger.parts[0].path == str(expected)
    assert expected.is_file()


def test_ledger_directory_is_never_listed(root: Root, pkgs: Path, ledger: Ledger) -> None:
    make_wheel(pkgs, "foo", "1.0")
    cache = IndexCache([root], ledger)
    snap = cache.rescan()
    assert list(snap.files) == ["foo-1.0-py3-none-any.whl"]
    assert probe(root, f"{LEDGER_DIR}/{LEDGER_FILE}") is None


def test_unwritable_directory_falls_back_to_memory(
    pkgs: Path, root: Root, caplog: pytest.LogCaptureFixture
) -> None:
    # Tests may run as root, for whom no permission bit forbids anything: make
    # ".packyard" a regular file, so the ledger directory cannot be created.
    (pkgs / LEDGER_DIR).write_bytes(b"not a directory")
    path = make_wheel(pkgs, "foo", "1.0")
    with caplog.at_level(logging.WARNING, logger="packyard.storage.ledger"):
        led = Ledger([root])
    try:
        assert led.parts[0].path is None
        assert "memory" in caplog.text
        dist = dist_of(root, path)
        led.parts[0].observe_all([dist], now=T0)
        facts = led.facts(dist)
        assert facts is not None
        assert facts.upload_time == T0
        led.yank_file(dist, "in memory")
        assert led.yanks.reason(0, dist) == "in memory"
    finally:
        led.close()
    assert (pkgs / LEDGER_DIR).read_bytes() == b"not a directory"


def test_root_ledger_on_its_own(pkgs: Path, root: Root) -> None:
    dist = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    part = RootLedger(root)
    try:
        assert part.path == str(pkgs / LEDGER_DIR / LEDGER_FILE)
        part.observe_all([dist], now=T0)
        facts = part.facts(dist)
        assert facts is not None
        assert facts.upload_time == T0
    finally:
        part.close()
    memory = RootLedger(root, writable=False)  # never touches the directory's ledger
    try:
        assert memory.path is None
        assert memory.peek(dist) is None
    finally:
        memory.close()


def test_in_memory_ledger(pkgs: Path, root: Root) -> None:
    led = Ledger.in_memory([root])
    try:
        assert led.parts[0].path is None
    finally:
        led.close()
    assert not (pkgs / LEDGER_DIR).exists()


# --- facts


def test_facts_of_a_wheel(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_wheel(pkgs, "foo", "1.0", requires_python=">=3.8")
    dist = dist_of(root, path)
    facts = ledger.facts(dist)
    assert facts is not None
    assert facts.identity == dist.identity
    assert facts.digests == {"sha256": sha256(path.read_bytes())}
    meta = metadata_text("foo", "1.0", requires_python=">=3.8").encode()
    assert facts.metadata_sha256 == sha256(meta)
    assert facts.metadata_servable is True
    assert facts.core_metadata == sha256(meta)
    assert facts.requires_python == ">=3.8"
    assert ledger.metadata_body(dist, facts) == meta


def test_facts_of_an_sdist(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_sdist(pkgs, "foo", "1.0", requires_python="<4,>=3.9")
    dist = dist_of(root, path)
    facts = ledger.facts(dist)
    assert facts is not None
    assert facts.digests["sha256"] == sha256(path.read_bytes())
    assert facts.core_metadata is None  # PKG-INFO is never served as .metadata
    assert facts.metadata_servable is False
    assert facts.requires_python == "<4,>=3.9"
    pkg_info = metadata_text("foo", "1.0", requires_python="<4,>=3.9").encode()
    assert facts.metadata_sha256 == sha256(pkg_info)
    assert ledger.metadata_body(dist, facts) == pkg_info


def test_facts_without_requires_python(pkgs: Path, root: Root, ledger: Ledger) -> None:
    facts = ledger.facts(dist_of(root, make_wheel(pkgs, "foo", "1.0")))
    assert facts is not None
    assert facts.requires_python is None


def test_facts_of_a_file_with_unreadable_metadata(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = pkgs / "foo-1.0-py3-none-any.whl"
    path.write_bytes(b"not a zip file")
    dist = dist_of(root, path)
    facts = ledger.facts(dist)
    assert facts is not None
    assert facts.digests == {"sha256": sha256(b"not a zip file")}
    assert facts.metadata_sha256 is None
    assert facts.core_metadata is None
    assert facts.requires_python is None
    assert ledger.metadata_body(dist, facts) is None


def test_facts_of_a_vanished_file(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    path.unlink()
    assert ledger.facts(dist) is None


def facts_within(ledger: Ledger, dist: Distribution, seconds: float = 5.0) -> list[object]:
    """ledger.facts(dist) run in a thread: [result], or [] if it did not return in time
    (an open() that blocks on a FIFO)."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(ledger.facts(dist)), daemon=True)
    worker.start()
    worker.join(seconds)
    return result


@pytest.mark.parametrize("swap", ["fifo", "symlink out", "symlink to the ledger", "rewritten"])
def test_facts_are_only_read_from_the_listed_file(
    pkgs: Path, root: Root, ledger: Ledger, tmp_path: Path, swap: str
) -> None:
    """Hashing opens the file as serving does (issue 12, item 4): a FIFO, a symlink out of
    the root or to a hidden path, or other bytes than the listed identity give no facts
    (the watcher re-lists the file), never a blocked thread or another file's digests."""
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    outside = tmp_path / "outside.whl"
    outside.write_bytes(path.read_bytes())
    path.unlink()
    if swap == "fifo":
        os.mkfifo(path)
    elif swap == "symlink out":
        path.symlink_to(outside)
    elif swap == "symlink to the ledger":
        path.symlink_to(Path(LEDGER_DIR) / LEDGER_FILE)
    else:
        path.write_bytes(b"other bytes")
    assert facts_within(ledger, dist) == [None]


def test_facts_of_a_symlink_inside_the_root(pkgs: Path, root: Root, ledger: Ledger) -> None:
    target = make_wheel(pkgs, "foo", "1.0")
    link = pkgs / "bar-1.0-py3-none-any.whl"
    link.symlink_to(target.name)
    facts = ledger.facts(dist_of(root, link))
    assert facts is not None
    assert facts.digests["sha256"] == sha256(target.read_bytes())


def test_facts_with_more_algorithms(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_sdist(pkgs, "foo", "1.0")
    data = path.read_bytes()
    dist = dist_of(root, path)
    ledger.parts[0].observe_all([dist], now=T0)
    first = ledger.facts(dist)
    assert first is not None
    assert set(first.digests) == {"sha256"}
    assert ledger.parts[0].peek(dist, PYPI_ALGOS) is None  # not known yet
    full = ledger.facts(dist, PYPI_ALGOS)
    assert full is not None
    assert full.digests == {
        "md5": hashlib.md5(data).hexdigest(),
        "sha256": sha256(data),
        "blake2b_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
    }
    assert full.upload_time == T0
    assert ledger.parts[0].peek(dist, PYPI_ALGOS) == full


def test_peek_never_computes(pkgs: Path, root: Root, ledger: Ledger) -> None:
    dist = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    assert ledger.parts[0].peek(dist) is None
    ledger.parts[0].observe_all([dist], now=T0)
    assert ledger.parts[0].peek(dist) is None  # observed, but facts not computed yet
    computed = ledger.facts(dist)
    assert ledger.parts[0].peek(dist) == computed


def test_same_metadata_is_stored_once_and_kept_while_used(
    pkgs: Path, root: Root, ledger: Ledger
) -> None:
    _, data = wheel_bytes("foo", "1.0")
    a = pkgs / "foo-1.0-py3-none-any.whl"
    b = pkgs / "foo-1.0-py2.py3-none-any.whl"
    a.write_bytes(data)
    b.write_bytes(data)
    da, db = dist_of(root, a), dist_of(root, b)
    part = ledger.parts[0]
    part.observe_all([da, db], now=T0)
    fa, fb = ledger.facts(da), ledger.facts(db)
    assert fa is not None
    assert fb is not None
    assert fa.metadata_sha256 == fb.metadata_sha256
    assert fa.metadata_sha256 is not None
    part.observe([], [da.relpath], now=T1)
    assert part.metadata_body(fa.metadata_sha256) == metadata_text("foo", "1.0").encode()
    part.observe([], [db.relpath], now=T1)
    assert part.metadata_body(fa.metadata_sha256) is None  # no file uses it any more


# --- upload times


def test_upload_time_is_when_first_observed(pkgs: Path, root: Root, ledger: Ledger) -> None:
    dist = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    ledger.parts[0].observe_all([dist], now=T0)
    ledger.parts[0].observe_all([dist], now=T1)  # seen again, unchanged
    ledger.parts[0].observe([dist], [], now=T2)
    facts = ledger.facts(dist)
    assert facts is not None
    assert facts.upload_time == T0


def test_upload_time_via_observe(pkgs: Path, root: Root, ledger: Ledger) -> None:
    dist = dist_of(root, make_sdist(pkgs, "foo", "1.0"))
    ledger.parts[0].observe([dist], [], now=T1)
    facts = ledger.facts(dist)
    assert facts is not None
    assert facts.upload_time == T1


def test_upload_time_survives_reopening(pkgs: Path, root: Root) -> None:
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    first = Ledger([root])
    first.parts[0].observe_all([dist], now=T0)
    computed = first.facts(dist)
    first.close()
    again = Ledger([root])
    try:
        known = again.parts[0].peek(dist)  # known without reading the file again
        assert known == computed
        assert known is not None
        assert known.upload_time == T0
        again.parts[0].observe_all([dist], now=T3)
        facts = again.facts(dist)
        assert facts is not None
        assert facts.upload_time == T0
    finally:
        again.close()


def test_upload_time_of_observed_but_not_computed_survives_reopening(
    pkgs: Path, root: Root
) -> None:
    dist = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    first = Ledger([root])
    first.parts[0].observe_all([dist], now=T0)
    first.close()
    again = Ledger([root])
    try:
        facts = again.facts(dist)
        assert facts is not None
        assert facts.upload_time == T0
    finally:
        again.close()


def test_touched_file_keeps_its_upload_time(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    part = ledger.parts[0]
    part.observe_all([dist], now=T0)
    assert ledger.facts(dist) is not None
    touch(path)
    touched = dist_of(root, path)
    assert touched.identity != dist.identity
    part.observe([touched], [], now=T1)
    assert part.peek(touched) is None  # the facts describe the old identity
    facts = ledger.facts(touched)
    assert facts is not None
    assert facts.identity == touched.identity
    assert facts.upload_time == T0


def test_touched_file_seen_by_a_full_scan_keeps_its_upload_time(
    pkgs: Path, root: Root, ledger: Ledger
) -> None:
    path = make_sdist(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    ledger.parts[0].observe_all([dist], now=T0)
    assert ledger.facts(dist) is not None
    touch(path)
    touched = dist_of(root, path)
    ledger.parts[0].observe_all([touched], now=T2)
    facts = ledger.facts(touched)
    assert facts is not None
    assert facts.upload_time == T0


def test_touched_file_computed_before_it_was_observed(
    pkgs: Path, root: Root, ledger: Ledger
) -> None:
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    ledger.parts[0].observe_all([dist], now=T0)
    assert ledger.facts(dist) is not None
    touch(path)
    facts = ledger.facts(dist_of(root, path))  # the watcher has not reported it yet
    assert facts is not None
    assert facts.upload_time == T0


def test_replaced_content_gets_the_time_the_change_was_observed(
    pkgs: Path, root: Root, ledger: Ledger
) -> None:
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    part = ledger.parts[0]
    part.observe_all([dist], now=T0)
    old = ledger.facts(dist)
    assert old is not None
    _, new_data = wheel_bytes("foo", "1.0", module_body="CHANGED = True\n")
    replace_content(path, new_data)
    replaced = dist_of(root, path)
    part.observe([replaced], [], now=T2)
    facts = ledger.facts(replaced)
    assert facts is not None
    assert facts.upload_time == T2
    assert facts.digests["sha256"] == sha256(new_data) != old.digests["sha256"]


def test_replaced_content_seen_by_a_full_scan(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_sdist(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    ledger.parts[0].observe_all([dist], now=T0)
    assert ledger.facts(dist) is not None
    replace_content(path, sdist_bytes("foo", "1.0", requires=("bar",))[1])
    replaced = dist_of(root, path)
    ledger.parts[0].observe_all([replaced], now=T1)
    facts = ledger.facts(replaced)
    assert facts is not None
    assert facts.upload_time == T1


def test_replaced_metadata_is_recomputed(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_wheel(pkgs, "foo", "1.0", requires_python=">=3.8")
    dist = dist_of(root, path)
    ledger.parts[0].observe_all([dist], now=T0)
    assert ledger.facts(dist) is not None
    replace_content(path, wheel_bytes("foo", "1.0", requires_python=">=3.12")[1])
    replaced = dist_of(root, path)
    ledger.parts[0].observe([replaced], [], now=T1)
    facts = ledger.facts(replaced)
    assert facts is not None
    assert facts.requires_python == ">=3.12"
    body = ledger.metadata_body(replaced, facts)
    assert body == metadata_text("foo", "1.0", requires_python=">=3.12").encode()


def test_gone_deletes_the_row(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    part = ledger.parts[0]
    part.observe_all([dist], now=T0)
    assert ledger.facts(dist) is not None
    part.observe([], [dist.relpath], now=T1)
    assert part.peek(dist) is None
    part.observe([dist], [], now=T2)  # back again
    facts = ledger.facts(dist)
    assert facts is not None
    assert facts.upload_time == T2


def test_gone_then_computed_without_observation_gets_a_new_time(
    pkgs: Path, root: Root, ledger: Ledger
) -> None:
    dist = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    part = ledger.parts[0]
    part.observe_all([dist], now=T0)
    assert ledger.facts(dist) is not None
    part.observe([], [dist.relpath], now=T1)
    before = time.time()
    facts = ledger.facts(dist)
    assert facts is not None
    assert facts.upload_time != T0
    assert facts.upload_time >= before


def test_observe_all_with_nothing_deletes_nothing(pkgs: Path, root: Root, ledger: Ledger) -> None:
    dist = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    part = ledger.parts[0]
    part.observe_all([dist], now=T0)
    computed = ledger.facts(dist)
    part.observe_all([], now=T1)  # an unmounted volume looks empty
    assert part.peek(dist) == computed


def test_observe_all_with_some_deletes_the_missing(pkgs: Path, root: Root, ledger: Ledger) -> None:
    a = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    b = dist_of(root, make_sdist(pkgs, "foo", "1.0"))
    part = ledger.parts[0]
    part.observe_all([a, b], now=T0)
    fa = ledger.facts(a)
    assert fa is not None
    assert ledger.facts(b) is not None
    part.observe_all([a], now=T1)
    assert part.peek(a) == fa
    assert part.peek(b) is None
    part.observe_all([a, b], now=T2)
    fb = ledger.facts(b)
    assert fb is not None
    assert fb.upload_time == T2


def test_index_cache_reports_what_it_sees(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_wheel(pkgs, "foo", "1.0")
    cache = IndexCache([root], ledger)
    cache.rescan()
    dist = cache.snapshot.files["foo-1.0-py3-none-any.whl"]
    facts = ledger.facts(dist)
    assert facts is not None
    path.unlink()
    cache.refresh(0, [dist.relpath])
    assert "foo-1.0-py3-none-any.whl" not in cache.snapshot.files
    assert ledger.parts[0].peek(dist) is None  # the row went with the file


def test_index_cache_touch_keeps_upload_time(pkgs: Path, root: Root, ledger: Ledger) -> None:
    path = make_sdist(pkgs, "foo", "1.0")
    cache = IndexCache([root], ledger)
    cache.rescan()
    first = ledger.facts(cache.snapshot.files[path.name])
    assert first is not None
    touch(path)
    cache.refresh(0, [path.name])
    touched = cache.snapshot.files[path.name]
    assert touched.identity != first.identity
    facts = ledger.facts(touched)
    assert facts is not None
    assert facts.upload_time == first.upload_time


# --- uploads


def upload_dist(pkgs: Path, filename: str = "foo-1.0-py3-none-any.whl") -> Distribution:
    """A Distribution whose file does not exist: anything that reads it would fail."""
    return Distribution(
        root=str(pkgs),
        relpath=filename,
        project="foo",
        version="1.0",
        kind=Kind.WHEEL,
        sort_key=(),
        size=1234,
        mtime_ns=5678,
        inode=91011,
    )


def test_record_upload_stores_the_given_facts(pkgs: Path, ledger: Ledger) -> None:
    dist = upload_dist(pkgs)
    assert not os.path.exists(dist.path)
    body = metadata_text("foo", "1.0", requires_python=">=3.10").encode()
    digests = {"sha256": "ab" * 32, "md5": "cd" * 16, "blake2b_256": "ef" * 32}
    before = time.time()
    recorded = ledger.part(dist).record_upload(
        dist, Recorded(digests=digests, metadata=Extracted(body, servable=True))
    )
    assert recorded.digests == digests
    assert recorded.upload_time >= before
    facts = ledger.facts(dist, PYPI_ALGOS)  # the file is never read
    assert facts == recorded
    assert facts is not None
    assert facts.core_metadata == sha256(body)
    assert facts.requires_python == ">=3.10"
    assert ledger.metadata_body(dist, facts) == body


def test_record_upload_without_metadata(pkgs: Path, ledger: Ledger) -> None:
    dist = upload_dist(pkgs)
    facts = ledger.part(dist).record_upload(dist, Recorded(digests={"sha256": "00"}, metadata=None))
    assert facts.core_metadata is None
    assert facts.metadata_sha256 is None
    assert ledger.facts(dist) == facts


def test_record_upload_of_an_sdist_is_not_servable(pkgs: Path, ledger: Ledger) -> None:
    dist = upload_dist(pkgs, "foo-1.0.tar.gz")
    body = b"Name: foo\nRequires-Python: >=3\n"
    facts = ledger.part(dist).record_upload(
        dist, Recorded(digests={"sha256": "11"}, metadata=Extracted(body, servable=False))
    )
    assert facts.core_metadata is None
    assert facts.metadata_sha256 == sha256(body)
    assert facts.requires_python == ">=3"


# --- yanks through the Ledger


def test_yank_and_unyank_a_file(pkgs: Path, root: Root, ledger: Ledger) -> None:
    a = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    b = dist_of(root, make_sdist(pkgs, "foo", "1.0"))
    start = ledger.yanks
    assert start.reason(0, a) is None
    ledger.yank_file(a, "broken wheel")
    state = ledger.yanks
    assert state.reason(0, a) == "broken wheel"
    assert state.reason(0, b) is None
    assert state.files == {(0, a.relpath): "broken wheel"}
    assert state.releases == {}
    assert state.serial != start.serial
    ledger.yank_file(a, "")
    assert ledger.yanks.reason(0, a) == ""  # yanked, no reason given
    ledger.yank_file(a, None)
    assert ledger.yanks.reason(0, a) is None
    assert ledger.yanks.files == {}


def test_file_yank_survives_touch_and_reopen(pkgs: Path, root: Root) -> None:
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    first = Ledger([root])
    first.parts[0].observe_all([dist], now=T0)
    first.yank_file(dist, "why")
    touch(path)
    touched = dist_of(root, path)
    first.parts[0].observe([touched], [], now=T1)
    assert first.facts(touched) is not None
    assert first.yanks.reason(0, touched) == "why"
    first.close()
    again = Ledger([root])
    try:
        assert again.yanks.reason(0, touched) == "why"
    finally:
        again.close()


def test_yank_release(pkgs: Path, root: Root, ledger: Ledger) -> None:
    wheel = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    sdist = dist_of(root, make_sdist(pkgs, "foo", "1.0"))
    other = dist_of(root, make_sdist(pkgs, "foo", "2.0"))
    ledger.yank_release("foo", "1.0", "security", [wheel, sdist])
    state = ledger.yanks
    assert state.reason(0, wheel) == "security"
    assert state.reason(0, sdist) == "security"
    assert state.reason(0, other) is None
    assert state.releases == {("foo", version_key("1.0")): "security"}
    assert state.files == {}


def test_release_yank_covers_a_file_added_later(pkgs: Path, root: Root, ledger: Ledger) -> None:
    sdist = dist_of(root, make_sdist(pkgs, "foo", "1.0"))
    ledger.yank_release("foo", "1.0", "", [sdist])
    later = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    assert ledger.yanks.reason(0, later) == ""


def test_release_yank_covers_the_same_version_spelled_differently(
    pkgs: Path, root: Root, ledger: Ledger
) -> None:
    sdist = dist_of(root, make_sdist(pkgs, "foo", "1.0"))
    ledger.yank_release("foo", "1.0", "old", [sdist])
    later = dist_of(root, make_wheel(pkgs, "foo", "1.0.0"))  # PEP 440: == 1.0
    assert later.version == "1.0.0"
    assert ledger.yanks.reason(0, later) == "old"


def test_release_yank_wins_over_file_yank_and_unyank_clears_both(
    pkgs: Path, root: Root, ledger: Ledger
) -> None:
    wheel = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    sdist = dist_of(root, make_sdist(pkgs, "foo", "1.0"))
    ledger.yank_file(wheel, "own reason")
    ledger.yank_release("foo", "1.0", "release reason", [wheel, sdist])
    assert ledger.yanks.reason(0, wheel) == "release reason"
    ledger.yank_release("foo", "1.0", None, [wheel, sdist])
    state = ledger.yanks
    assert state.reason(0, wheel) is None
    assert state.reason(0, sdist) is None
    assert state.files == {}
    assert state.releases == {}


def test_yank_state_reason_directly() -> None:
    dist = Distribution(
        root="/r",
        relpath="sub/foo-1.0.tar.gz",
        project="foo",
        version="1.0",
        kind=Kind.SDIST,
        sort_key=(),
        size=1,
        mtime_ns=1,
        inode=1,
    )
    state = YankState(serial=1, files={(1, "sub/foo-1.0.tar.gz"): "f"}, releases={})
    assert state.reason(1, dist) == "f"
    assert state.reason(0, dist) is None  # the same relpath in another root
    state = YankState(
        serial=1, files={(0, dist.relpath): "f"}, releases={("foo", version_key("1.0")): "r"}
    )
    assert state.reason(0, dist) == "r"


def test_yanks_in_several_roots(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    roots = [Root.of(str(first)), Root.of(str(second))]
    led = Ledger(roots)
    try:
        in_first = dist_of(roots[0], make_sdist(first, "foo", "1.0"))
        in_second = dist_of(roots[1], make_sdist(second, "foo", "1.0"))
        assert led.root_index(in_second) == 1
        assert led.part(in_second) is led.parts[1]
        assert led.parts[1].path == str(second / LEDGER_DIR / LEDGER_FILE)
        led.yank_file(in_second, "second only")
        state = led.yanks
        assert state.reason(1, in_second) == "second only"
        assert state.reason(0, in_first) is None
        led.yank_release("foo", "1.0", "both", [in_first, in_second])
        assert led.yanks.reason(0, in_first) == "both"
        assert led.yanks.reason(1, in_second) == "both"
        led.yank_release("foo", "1.0", None, [in_first, in_second])
        assert led.yanks.reason(1, in_second) is None  # its file yank is cleared too
    finally:
        led.close()


def test_yank_by_another_process_is_seen(pkgs: Path, root: Root) -> None:
    """Another process's commits are taken in by poll() (the app polls before each
    request); the yank state object only changes when a yank changed."""
    path = make_wheel(pkgs, "foo", "1.0")
    dist = dist_of(root, path)
    server = Ledger([root])
    command = Ledger([root])  # e.g. "pypi-server yank" in another process
    try:
        before = server.yanks
        assert server.poll() == {}
        assert server.yanks is before  # nothing changed: the same state
        command.yank_file(dist, "from the command")
        assert server.yanks is before  # not yet polled
        assert server.poll() == {}  # no file written or removed
        after = server.yanks
        assert after.reason(0, dist) == "from the command"
        assert after.serial != before.serial
        server.poll()
        assert server.yanks is after

        # A commit that changes no yank (a new file observed) keeps the state.
        other = dist_of(root, make_sdist(pkgs, "foo", "1.0"))
        command.parts[0].observe([other], [], now=T1)
        server.poll()
        assert server.yanks.serial == after.serial
        command.yank_file(dist, "from the command")  # same yank written again
        server.poll()
        assert server.yanks.serial == after.serial

        command.yank_release("foo", "1.0", "whole release", [dist, other])
        server.poll()
        changed = server.yanks
        assert changed.serial != after.serial
        assert changed.reason(0, other) == "whole release"

        command.yank_release("foo", "1.0", None, [dist, other])
        server.poll()
        cleared = server.yanks
        assert cleared.serial != changed.serial
        assert cleared.reason(0, dist) is None

        # Files another process wrote or removed come back from poll(), once.
        command.parts[0].note_changes(["foo-1.0.tar.gz", "sub/bar-2.0.tar.gz"])
        assert server.poll() == {0: ["foo-1.0.tar.gz", "sub/bar-2.0.tar.gz"]}
        assert server.poll() == {}
        server.parts[0].note_changes(["own.tar.gz"])  # our own note is not news
        assert server.poll() == {}
    finally:
        command.close()
        server.close()


def test_own_yank_changes_serial_once(pkgs: Path, root: Root, ledger: Ledger) -> None:
    dist = dist_of(root, make_wheel(pkgs, "foo", "1.0"))
    start = ledger.yanks.serial
    ledger.yank_file(dist, "x")
    serial = ledger.yanks.serial
    assert serial != start
    assert ledger.yanks.serial == serial
    ledger.yank_file(dist, "x")
    assert ledger.yanks.serial == serial  # same content: pages stay valid


# --- yanking (the actions behind the form and the command)


@pytest.fixture
def cache(pkgs: Path, root: Root, ledger: Ledger) -> IndexCache:
    make_wheel(pkgs, "foo", "1.0")
    make_sdist(pkgs, "foo", "1.0")
    make_sdist(pkgs, "foo", "2.0")
    (pkgs / "sub").mkdir()
    make_sdist(pkgs / "sub", "bar-baz", "0.1")
    index = IndexCache([root], ledger)
    index.rescan()
    return index


def yank_reason(cache: IndexCache, relpath: str) -> str | None:
    dist = cache.snapshot.files[relpath]
    return cache.ledger.yanks.reason(cache.ledger.root_index(dist), dist)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("foo", "1.0", None), Target(project="foo", version="1.0")),
        (("Foo_Bar", " 1.0 ", None), Target(project="foo-bar", version="1.0")),
        ((None, None, "foo-1.0.tar.gz"), Target(filename="foo-1.0.tar.gz")),
        (("Foo", None, "foo-1.0.tar.gz"), Target(project="foo", filename="foo-1.0.tar.gz")),
        (("foo", "1.0", "foo-1.0.tar.gz"), Target(project="foo", filename="foo-1.0.tar.gz")),
    ],
)
def test_target_from(args: tuple[str | None, str | None, str | None], expected: Target) -> None:
    assert target_from(*args) == expected


@pytest.mark.parametrize(
    "args",
    [
        (None, None, None),
        ("foo", None, None),
        ("foo", "", None),
        (None, "1.0", None),
        ("", "1.0", ""),
        ("not a name!", "1.0", None),
        ("-foo", "1.0", None),
        (None, None, "sub/foo-1.0.tar.gz"),
        (None, None, "..\\foo-1.0.tar.gz"),
    ],
)
def test_target_from_rejects(args: tuple[str | None, str | None, str | None]) -> None:
    with pytest.raises(YankError) as caught:
        target_from(*args)
    assert caught.value.status == 400


def test_target_describe() -> None:
    assert Target(project="foo", version="1.0").describe() == "foo 1.0"
    assert Target(filename="foo-1.0.tar.gz").describe() == "foo-1.0.tar.gz"


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        (None, ""),
        ("", ""),
        ("  broken  ", "broken"),
        ("tab\tinside", "tab\tinside"),
        ("trailing newline\n", "trailing newline"),
        ("x" * MAX_REASON, "x" * MAX_REASON),
        ("ünïcode ☃", "ünïcode ☃"),
    ],
)
def test_check_reason_accepts(reason: str | None, expected: str) -> None:
    assert check_reason(reason) == expected


@pytest.mark.parametrize(
    "reason",
    ["x" * (MAX_REASON + 1), "two\nlines", "carriage\rreturn", "nul\x00", "bell\x07"],
)
def test_check_reason_rejects(reason: str) -> None:
    with pytest.raises(YankError) as caught:
        check_reason(reason)
    assert caught.value.status == 400


def test_yank_error_is_a_packyard_error() -> None:
    error = YankError(404, "nope")
    assert isinstance(error, PackyardError)
    assert (error.status, error.message, str(error)) == (404, "nope", "nope")


def test_yank_a_release(cache: IndexCache) -> None:
    message = yanking.yank(DirectoryRepository(cache), target_from("Foo", "1.0", None), " broken ")
    assert message.startswith("OK")
    assert "2 file(s)" in message
    assert "broken" in message
    assert yank_reason(cache, "foo-1.0-py3-none-any.whl") == "broken"
    assert yank_reason(cache, "foo-1.0.tar.gz") == "broken"
    assert yank_reason(cache, "foo-2.0.tar.gz") is None
    assert yank_reason(cache, "sub/bar_baz-0.1.tar.gz") is None


def test_yank_a_release_named_with_an_equal_version(cache: IndexCache) -> None:
    yanking.yank(DirectoryRepository(cache), target_from("foo", "1.0.0", None), "x")
    assert yank_reason(cache, "foo-1.0.tar.gz") == "x"


def test_yank_a_file(cache: IndexCache) -> None:
    message = yanking.yank(
        DirectoryRepository(cache), target_from(None, None, "bar_baz-0.1.tar.gz"), None
    )
    assert message.startswith("OK")
    assert yank_reason(cache, "sub/bar_baz-0.1.tar.gz") == ""
    assert yank_reason(cache, "foo-1.0.tar.gz") is None


@pytest.mark.parametrize(
    "target",
    [
        Target(project="foo", version="9.9"),
        Target(project="nothing", version="1.0"),
        Target(filename="foo-9.9.tar.gz"),
        Target(filename="README.txt"),
        Target(project="foo", filename="nothing-1.0.tar.gz"),
    ],
)
def test_yank_unknown_is_404(cache: IndexCache, target: Target) -> None:
    serial = cache.ledger.yanks.serial
    with pytest.raises(YankError) as caught:
        yanking.yank(DirectoryRepository(cache), target, "x")
    assert caught.value.status == 404
    with pytest.raises(YankError) as caught:
        yanking.unyank(DirectoryRepository(cache), target)
    assert caught.value.status == 404
    assert cache.ledger.yanks.serial == serial


@pytest.mark.parametrize("reason", ["x" * (MAX_REASON + 1), "line one\nline two"])
def test_yank_with_a_bad_reason_is_400_and_yanks_nothing(cache: IndexCache, reason: str) -> None:
    for target in (Target(project="foo", version="1.0"), Target(filename="foo-1.0.tar.gz")):
        with pytest.raises(YankError) as caught:
            yanking.yank(DirectoryRepository(cache), target, reason)
        assert caught.value.status == 400
    assert cache.ledger.yanks.files == {}
    assert cache.ledger.yanks.releases == {}


def test_unyank_a_file_of_a_yanked_release_is_409(cache: IndexCache) -> None:
    yanking.yank(DirectoryRepository(cache), Target(project="foo", version="1.0"), "whole")
    with pytest.raises(YankError) as caught:
        yanking.unyank(DirectoryRepository(cache), Target(filename="foo-1.0.tar.gz"))
    assert caught.value.status == 409
    assert yank_reason(cache, "foo-1.0.tar.gz") == "whole"


def test_unyank_release_and_file(cache: IndexCache) -> None:
    yanking.yank(DirectoryRepository(cache), Target(filename="foo-1.0.tar.gz"), "file")
    yanking.yank(DirectoryRepository(cache), Target(project="foo", version="1.0"), "release")
    assert yanking.unyank(
        DirectoryRepository(cache), Target(project="foo", version="1.0")
    ).startswith("OK")
    assert yank_reason(cache, "foo-1.0.tar.gz") is None  # its own yank went too
    assert yank_reason(cache, "foo-1.0-py3-none-any.whl") is None
    yanking.yank(DirectoryRepository(cache), Target(filename="foo-2.0.tar.gz"), "file")
    assert yanking.unyank(DirectoryRepository(cache), Target(filename="foo-2.0.tar.gz")).startswith(
        "OK"
    )
    assert yank_reason(cache, "foo-2.0.tar.gz") is None


def test_unyank_something_not_yanked_is_fine(cache: IndexCache) -> None:
    assert yanking.unyank(DirectoryRepository(cache), Target(filename="foo-2.0.tar.gz")).startswith(
        "OK"
    )
    assert yanking.unyank(
        DirectoryRepository(cache), Target(project="foo", version="2.0")
    ).startswith("OK")
    assert yank_reason(cache, "foo-2.0.tar.gz") is None


def test_release_yank_covers_a_file_added_to_the_cache_later(pkgs: Path, cache: IndexCache) -> None:
    yanking.yank(DirectoryRepository(cache), Target(project="foo", version="2.0"), "later too")
    path = make_wheel(pkgs, "foo", "2.0")
    cache.refresh(0, [path.name])
    assert yank_reason(cache, path.name) == "later too"


# --- Summary and Name kept with the facts (XML-RPC search reads them, issue 12 item 7)


def test_facts_keep_summary_and_name(pkgs: Path, root: Root, ledger: Ledger) -> None:
    meta = metadata_text("Fancy_Pkg", "1.0", summary="Does fancy things").encode()
    dist = dist_of(root, make_wheel(pkgs, "fancy-pkg", "1.0", metadata=meta))
    facts = ledger.facts(dist)
    assert facts is not None
    assert (facts.summary, facts.meta_name) == ("Does fancy things", "Fancy_Pkg")
    again = ledger.facts(dist)  # read back from the row
    assert again is not None
    assert (again.summary, again.meta_name) == ("Does fancy things", "Fancy_Pkg")


def test_facts_without_summary_or_metadata(pkgs: Path, root: Root, ledger: Ledger) -> None:
    meta = b"Metadata-Version: 2.1\nName: plain\nVersion: 1.0\n\n"
    plain = ledger.facts(dist_of(root, make_wheel(pkgs, "plain", "1.0", metadata=meta)))
    assert plain is not None
    assert (plain.summary, plain.meta_name) == ("", "plain")
    broken = pkgs / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip")
    facts = ledger.facts(dist_of(root, broken))
    assert facts is not None
    assert (facts.summary, facts.meta_name) == (None, None)


def _as_schema_1(path: str) -> None:
    """Turn a ledger into what packyard with schema 1 wrote: no summary, no meta_name."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("ALTER TABLE files DROP COLUMN summary")
    conn.execute("ALTER TABLE files DROP COLUMN meta_name")
    conn.execute("PRAGMA user_version=1")
    conn.close()


def test_schema_1_ledger_is_migrated_from_stored_metadata(pkgs: Path, root: Root) -> None:
    meta = metadata_text("Old_Lib", "1.0", summary="From before the migration").encode()
    path = make_wheel(pkgs, "old-lib", "1.0", metadata=meta)
    dist = dist_of(root, path)
    first = Ledger([root])
    assert first.facts(dist) is not None
    first.close()
    ledger_path = str(pkgs / LEDGER_DIR / LEDGER_FILE)
    _as_schema_1(ledger_path)
    # The archive is now garbage with the same identity: the migration must use the
    # metadata the ledger holds, never the archive.
    st = path.stat()
    with open(path, "r+b") as fh:
        fh.write(b"\0" * st.st_size)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert dist_of(root, path).identity == dist.identity
    again = Ledger([root])
    try:
        facts = again.facts(dist)
        assert facts is not None
        assert (facts.summary, facts.meta_name) == ("From before the migration", "Old_Lib")
        assert facts.metadata_sha256 == sha256(meta)
    finally:
        again.close()
    conn = sqlite3.connect(ledger_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 2
    conn.close()

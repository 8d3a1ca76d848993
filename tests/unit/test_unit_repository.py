"""The storage façade: one table of operations run against both Repository backends
(the directory backend and the in-memory one) with the same expected results, plus
what each backend must guarantee on its own (one ledger transaction per publish; the
in-memory store's identities and digests on demand)."""

from __future__ import annotations

import ast
import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers.dists import sdist_bytes, wheel_bytes

from packyard.index import metadata
from packyard.index.filenames import parse_filename
from packyard.index.model import Distribution
from packyard.storage.directory import Root, Unservable
from packyard.storage.ledger import PYPI_ALGOS, Recorded
from packyard.storage.local import DirectoryRepository
from packyard.storage.memory import MemoryRepository
from packyard.storage.repository import Repository

WHEEL, OLD = wheel_bytes("demo", "1.0")
NEW = wheel_bytes("demo", "1.0", module_body="NEW = 1\n")[1]
SDIST, SDIST_DATA = sdist_bytes("demo", "1.0")
OTHER, OTHER_DATA = wheel_bytes("other", "2.0")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def put(repo: Repository, filename: str, data: bytes, replace: bool = False) -> bool:
    """Stage ``data`` as a stream and publish it, as an upload does."""
    staged = repo.stage()
    try:
        for start in range(0, len(data), 1000):
            staged.write(data[start : start + 1000])
        staged.finish()
        parsed = parse_filename(filename)
        with staged.reader() as fh:
            try:
                extracted = metadata.extract(fh, filename, parsed.kind, parsed.project)
            except metadata.MetadataError:
                extracted = None
        recorded = Recorded({"sha256": _sha(data)}, extracted)
        return repo.publish(staged, filename, recorded, replace=replace)
    finally:
        staged.discard()


def dist(repo: Repository, filename: str) -> Distribution:
    return repo.snapshot.files[filename]


def listed(repo: Repository) -> dict[str, int]:
    return {name: d.size for name, d in repo.snapshot.files.items()}


def read(repo: Repository, filename: str) -> bytes:
    with repo.open(dist(repo, filename)) as fh:
        return fh.read()


def sha256(repo: Repository, filename: str) -> str | None:
    facts = repo.facts(dist(repo, filename))
    return facts.digests["sha256"] if facts else None


def body(repo: Repository, filename: str) -> bytes | None:
    d = dist(repo, filename)
    facts = repo.facts(d)
    assert facts is not None
    return repo.metadata_body(d, facts)


def search(repo: Repository, filename: str) -> tuple[str | None, str | None] | None:
    row = repo.search_row(dist(repo, filename))
    return None if row is None else (row.name, row.summary)


def existing(repo: Repository, filename: str) -> tuple[bool, bool, bool] | None:
    found = repo.existing(filename, parse_filename(filename).project)
    if found is None:
        return None
    return (
        found.in_place,
        repo.same_bytes(found, len(NEW), _sha(NEW)),
        repo.same_bytes(found, len(OLD), _sha(OLD)),
    )


def yank_of(repo: Repository, filename: str) -> str | None:
    return repo.yanks.of(dist(repo, filename))


def yank_file(repo: Repository, filename: str, reason: str | None) -> str | None:
    repo.yank_file(dist(repo, filename), reason)
    return yank_of(repo, filename)


def yank_release(repo: Repository, version: str, reason: str | None) -> str | None:
    files = [d for d in repo.snapshot.projects["demo"] if d.version == "1.0"]
    repo.yank_release("demo", version, reason, files)
    return yank_of(repo, WHEEL)


def remove(repo: Repository, filename: str) -> dict[str, int]:
    repo.remove([dist(repo, filename)])
    return listed(repo)


def removed(repo: Repository, filename: str) -> str | None:
    return repo.removed_sha256(filename)


def open_gone(repo: Repository, gone: Distribution) -> str:
    with pytest.raises(Unservable):
        repo.open(gone)
    return "unservable"


# (what is done, its arguments, what both backends answer), run in this order.
STEPS: list[tuple[Callable[..., object], tuple[object, ...], object]] = [
    (listed, (), {}),
    (put, (WHEEL, OLD), True),
    (listed, (), {WHEEL: len(OLD)}),
    (read, (WHEEL,), OLD),
    (sha256, (WHEEL,), _sha(OLD)),
    (search, (WHEEL,), ("demo", "A test distribution")),
    (existing, (WHEEL,), (True, False, True)),
    (existing, (OTHER,), None),
    (put, (WHEEL, NEW), False),  # a new name only: taken, nothing done
    (read, (WHEEL,), OLD),
    (put, (WHEEL, NEW, True), True),  # replace
    (read, (WHEEL,), NEW),
    (sha256, (WHEEL,), _sha(NEW)),
    (existing, (WHEEL,), (True, True, False)),
    (put, (SDIST, SDIST_DATA), True),
    (put, (OTHER, OTHER_DATA), True),
    (listed, (), {WHEEL: len(NEW), SDIST: len(SDIST_DATA), OTHER: len(OTHER_DATA)}),
    (yank_of, (WHEEL,), None),
    (yank_file, (WHEEL, "broken"), "broken"),
    (yank_of, (SDIST,), None),
    (yank_release, ("1.0.0", "all of it"), "all of it"),
    (yank_of, (SDIST,), "all of it"),
    (yank_release, ("1", None), None),  # un-yanking the release clears its files' yanks
    (yank_of, (SDIST,), None),
    (yank_file, (SDIST, ""), ""),
    (yank_file, (SDIST, None), None),
    (remove, (WHEEL,), {SDIST: len(SDIST_DATA), OTHER: len(OTHER_DATA)}),
    (removed, (WHEEL,), _sha(NEW)),
    (removed, (SDIST,), None),
    (existing, (WHEEL,), None),
    (put, (WHEEL, OLD), True),  # the name is free again (tombstones are upload's rule)
    (yank_of, (WHEEL,), None),
]


@pytest.fixture(params=["directory", "memory"])
def repo(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Repository]:
    if request.param == "memory":
        yield MemoryRepository()
        return
    directory = DirectoryRepository.over([Root.of(str(tmp_path))])
    directory.rescan()
    yield directory
    directory.close()


def test_the_same_operations_give_the_same_results(repo: Repository) -> None:
    for number, (operation, args, expected) in enumerate(STEPS):
        got = operation(repo, *args)
        assert got == expected, (number, operation.__name__, args)


def test_metadata_body_comes_from_the_store(repo: Repository) -> None:
    put(repo, WHEEL, OLD)
    put(repo, SDIST, SDIST_DATA)
    found = body(repo, WHEEL)
    assert found is not None
    assert b"Name: demo" in found
    facts = repo.facts(dist(repo, WHEEL))
    assert facts is not None
    assert facts.core_metadata is not None
    sdist_facts = repo.facts(dist(repo, SDIST))
    assert sdist_facts is not None
    assert sdist_facts.core_metadata is None  # PKG-INFO: not served


def test_a_replaced_file_is_not_served_as_the_old_listing(repo: Repository) -> None:
    put(repo, WHEEL, OLD)
    old = dist(repo, WHEEL)
    put(repo, WHEEL, NEW, replace=True)
    assert old.identity != dist(repo, WHEEL).identity
    assert repo.facts(old) is None or repo.facts(old).digests["sha256"] != _sha(OLD)  # type: ignore[union-attr]
    assert open_gone(repo, old) == "unservable"


def test_a_removed_file_cannot_be_opened(repo: Repository) -> None:
    put(repo, WHEEL, OLD)
    gone = dist(repo, WHEEL)
    repo.remove([gone])
    assert open_gone(repo, gone) == "unservable"
    assert repo.facts(gone) is None


def test_more_digests_on_demand(repo: Repository) -> None:
    put(repo, WHEEL, OLD)
    facts = repo.facts(dist(repo, WHEEL), PYPI_ALGOS)
    assert facts is not None
    assert facts.digests["md5"] == hashlib.md5(OLD, usedforsecurity=False).hexdigest()
    assert facts.digests["blake2b_256"] == hashlib.blake2b(OLD, digest_size=32).hexdigest()


def test_the_yank_serial_moves_with_a_change_only(repo: Repository) -> None:
    put(repo, WHEEL, OLD)
    before = repo.yanks.serial
    repo.yank_file(dist(repo, WHEEL), "x")
    after = repo.yanks.serial
    assert after > before
    repo.yank_file(dist(repo, WHEEL), "x")
    assert repo.yanks.serial == after


def test_nothing_is_unavailable_and_sync_changes_nothing(repo: Repository) -> None:
    put(repo, WHEEL, OLD)
    snapshot = repo.snapshot
    repo.sync()
    assert repo.unavailable == {}
    assert listed(repo) == {WHEEL: len(OLD)}
    assert repo.relist(dist(repo, WHEEL)).files == snapshot.files


# --- the directory backend -----------------------------------------------------------


def _transactions(repo: DirectoryRepository) -> list[str]:
    seen: list[str] = []
    conn = repo.cache.ledger.parts[0]._conn

    def trace(statement: str) -> None:
        if statement.startswith("BEGIN"):
            seen.append(statement)

    conn.set_trace_callback(trace)
    return seen


@pytest.mark.parametrize("replace", [False, True])
def test_one_publish_is_one_ledger_transaction(tmp_path: Path, replace: bool) -> None:
    repo = DirectoryRepository.over([Root.of(str(tmp_path))])
    repo.rescan()
    try:
        if replace:
            put(repo, WHEEL, OLD)
        seen = _transactions(repo)
        assert put(repo, WHEEL, NEW if replace else OLD, replace=replace)
        assert seen == ["BEGIN IMMEDIATE"]
        assert sha256(repo, WHEEL) == _sha(NEW if replace else OLD)
        # ... and the change note for other processes is in it
        other = DirectoryRepository.over([Root.of(str(tmp_path))])
        try:
            count = other.cache.ledger.parts[0]._conn.execute(
                "SELECT COUNT(*) FROM changes WHERE relpath=?", (WHEEL,)
            )
            assert count.fetchone()[0] == (2 if replace else 1)
        finally:
            other.close()
    finally:
        repo.close()


def test_a_failed_ledger_write_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    repo = DirectoryRepository.over([Root.of(str(tmp_path))])
    repo.rescan()

    def refuse(*args: object) -> None:
        raise sqlite3.OperationalError("attempt to write a readonly database")

    monkeypatch.setattr(type(repo.cache.ledger.parts[0]), "record_upload", refuse)
    from packyard.storage.repository import StorageError

    with pytest.raises(StorageError) as failed:
        put(repo, WHEEL, OLD)
    assert not failed.value.full
    assert "ledger" in failed.value.detail
    assert listed(repo) == {}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".packyard"]
    repo.close()


def test_the_cache_exposes_no_mutable_state(tmp_path: Path) -> None:
    repo = DirectoryRepository.over([Root.of(str(tmp_path))])
    try:
        with pytest.raises(TypeError):
            repo.cache.unavailable[0] = "gone"  # type: ignore[index]
        with pytest.raises(AttributeError):
            repo.cache.ledger = None  # type: ignore[misc,assignment]
        with pytest.raises(AttributeError):
            repo.cache.roots = ()  # type: ignore[misc]
    finally:
        repo.close()


# --- the in-memory backend -----------------------------------------------------------


def test_memory_add_reads_the_metadata() -> None:
    repo = MemoryRepository()
    added = repo.add(WHEEL, OLD)
    assert added.project == "demo"
    assert added.version == "1.0"
    assert search(repo, WHEEL) == ("demo", "A test distribution")
    assert sha256(repo, WHEEL) == _sha(OLD)


def test_memory_every_stored_version_has_a_new_identity() -> None:
    repo = MemoryRepository()
    first = repo.add(WHEEL, OLD)
    second = repo.add(WHEEL, OLD)
    assert first.identity != second.identity
    assert repo.snapshot.generation > 1


def test_memory_publishes_only_its_own_staged_files(tmp_path: Path) -> None:
    directory = DirectoryRepository.over([Root.of(str(tmp_path))])
    try:
        staged = directory.stage()
        with pytest.raises(TypeError):
            MemoryRepository().publish(staged, WHEEL, Recorded({}, None))
        staged.discard()
    finally:
        directory.close()


# --- who holds what ----------------------------------------------------------------------

SRC = Path(__file__).resolve().parents[2] / "src" / "packyard"
# What only the directory backend may touch: paths, the snapshot cache, the ledger's parts.
BACKEND_ONLY = ("os", "packyard.storage.cache", "packyard.storage.local")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    "module", ["upload.py", "filing.py", "yanking.py", "storage/repository.py", "storage/memory.py"]
)
def test_the_use_cases_hold_the_repository_only(module: str) -> None:
    imported = _imports(SRC / module)
    bad = {n for n in imported if any(n == b or n.startswith(b + ".") for b in BACKEND_ONLY)}
    assert not bad, f"{module} imports {sorted(bad)}"
    source = (SRC / module).read_text(encoding="utf-8")
    assert ".parts[" not in source
    assert ".roots[" not in source

"""Distribution and the copy-on-write IndexSnapshot."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from packyard.index.filenames import Kind, parse_filename
from packyard.index.model import Distribution, IndexSnapshot

ROOT = os.path.abspath(os.sep + "srv")


def fake_stat(size: int = 10, mtime_ns: int = 1_000_000_000, ino: int = 1) -> os.stat_result:
    seconds = mtime_ns // 1_000_000_000
    return os.stat_result(
        (stat.S_IFREG | 0o644, ino, 1, 1, 0, 0, size, seconds, seconds, seconds),
        {"st_mtime_ns": mtime_ns},
    )


def dist(relpath: str, size: int = 10, mtime_ns: int = 1_000_000_000, ino: int = 1) -> Distribution:
    parsed = parse_filename(relpath.rpartition("/")[2])
    return Distribution.from_parsed(ROOT, relpath, parsed, fake_stat(size, mtime_ns, ino))


def build(*relpaths: str) -> IndexSnapshot:
    return IndexSnapshot.build({r: dist(r) for r in relpaths})


def versions(snap: IndexSnapshot, project: str) -> list[str]:
    return [d.version for d in snap.projects[project]]


# --- Distribution


def test_from_parsed_reads_stat_and_parsed_fields() -> None:
    d = dist("sub/Foo_Bar-1.0.post1-py3-none-any.whl", size=123, mtime_ns=5_123_456_789, ino=77)
    assert d.root == ROOT
    assert d.relpath == "sub/Foo_Bar-1.0.post1-py3-none-any.whl"
    assert d.project == "foo-bar"
    assert d.version == "1.0.post1"
    assert d.kind is Kind.WHEEL
    assert (d.size, d.mtime_ns, d.inode) == (123, 5_123_456_789, 77)
    assert d.identity == (123, 5_123_456_789, 77)
    assert d.filename == "Foo_Bar-1.0.post1-py3-none-any.whl"
    assert d.path == os.path.join(ROOT, "sub", "Foo_Bar-1.0.post1-py3-none-any.whl")


def test_from_parsed_with_a_real_stat(tmp_path: Path) -> None:
    path = os.path.join(tmp_path, "foo-1.0.tar.gz")
    with open(path, "wb") as f:
        f.write(b"12345")
    st = os.stat(path)
    d = Distribution.from_parsed(
        str(tmp_path), "foo-1.0.tar.gz", parse_filename("foo-1.0.tar.gz"), st
    )
    assert d.identity == (5, st.st_mtime_ns, st.st_ino)
    assert d.path == path


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({"size": 1}, {"size": 2}),
        ({"mtime_ns": 1}, {"mtime_ns": 2}),
        ({"ino": 1}, {"ino": 2}),
    ],
)
def test_identity_changes_with_each_stat_field(
    before: dict[str, int], after: dict[str, int]
) -> None:
    assert dist("foo-1.0.tar.gz", **before).identity != dist("foo-1.0.tar.gz", **after).identity


def test_distribution_is_frozen() -> None:
    d = dist("foo-1.0.tar.gz")
    with pytest.raises(AttributeError):
        d.size = 5  # type: ignore[misc]


# --- build


def test_empty_snapshot() -> None:
    snap = IndexSnapshot()
    assert snap.generation == 0
    assert dict(snap.files) == {}
    assert dict(snap.projects) == {}
    assert snap.project_names == ()


def test_build_groups_sorts_and_names() -> None:
    snap = build(
        "foo-2.0.tar.gz",
        "Bar-1.0.tar.gz",
        "foo-1.0.tar.gz",
        "sub/foo-10.0-py3-none-any.whl",
        "foo-1.0-py3-none-any.whl",
        "aaa-1.0.zip",
    )
    assert snap.generation == 1
    assert snap.project_names == ("aaa", "bar", "foo")
    assert set(snap.projects) == {"aaa", "bar", "foo"}
    assert versions(snap, "foo") == ["1.0", "1.0", "2.0", "10.0"]
    # same version: ordered by filename
    assert [d.filename for d in snap.projects["foo"][:2]] == [
        "foo-1.0-py3-none-any.whl",
        "foo-1.0.tar.gz",
    ]
    assert len(snap.files) == 6
    assert snap.files["sub/foo-10.0-py3-none-any.whl"].version == "10.0"


def test_build_generation_argument() -> None:
    assert IndexSnapshot.build({}, generation=42).generation == 42


def test_build_copies_the_input_mapping() -> None:
    files = {"foo-1.0.tar.gz": dist("foo-1.0.tar.gz")}
    snap = IndexSnapshot.build(files)
    files["bar-1.0.tar.gz"] = dist("bar-1.0.tar.gz")
    assert list(snap.files) == ["foo-1.0.tar.gz"]


def test_snapshot_maps_are_read_only() -> None:
    snap = build("foo-1.0.tar.gz")
    with pytest.raises(TypeError):
        snap.files["x"] = dist("bar-1.0.tar.gz")  # type: ignore[index]
    with pytest.raises(TypeError):
        snap.projects["x"] = ()  # type: ignore[index]


# --- evolve


def test_evolve_adds_file_to_existing_project_in_version_order() -> None:
    old = build("foo-1.0.tar.gz", "foo-2.0.tar.gz", "bar-1.0.tar.gz")
    new = old.evolve({"foo-1.5.tar.gz": dist("foo-1.5.tar.gz")})
    assert versions(new, "foo") == ["1.0", "1.5", "2.0"]
    assert new.project_names == ("bar", "foo")
    assert "foo-1.5.tar.gz" in new.files
    # the old snapshot is untouched
    assert versions(old, "foo") == ["1.0", "2.0"]
    assert "foo-1.5.tar.gz" not in old.files


def test_evolve_adds_new_project() -> None:
    old = build("foo-1.0.tar.gz", "bar-1.0.tar.gz")
    new = old.evolve({"baz-0.1-py3-none-any.whl": dist("baz-0.1-py3-none-any.whl")})
    assert new.project_names == ("bar", "baz", "foo")
    assert versions(new, "baz") == ["0.1"]
    assert old.project_names == ("bar", "foo")
    assert "baz" not in old.projects


def test_evolve_adds_new_project_first_and_last() -> None:
    old = build("mmm-1.0.tar.gz")
    new = old.evolve({"aaa-1.0.tar.gz": dist("aaa-1.0.tar.gz"), "zzz-1.0.zip": dist("zzz-1.0.zip")})
    assert new.project_names == ("aaa", "mmm", "zzz")


def test_evolve_removes_a_file() -> None:
    old = build("foo-1.0.tar.gz", "foo-2.0.tar.gz")
    new = old.evolve({"foo-1.0.tar.gz": None})
    assert versions(new, "foo") == ["2.0"]
    assert "foo-1.0.tar.gz" not in new.files
    assert new.project_names == ("foo",)


def test_evolve_removing_last_file_drops_project() -> None:
    old = build("foo-1.0.tar.gz", "bar-1.0.tar.gz", "bar-2.0.tar.gz")
    new = old.evolve({"foo-1.0.tar.gz": None})
    assert "foo" not in new.projects
    assert new.project_names == ("bar",)
    assert list(new.files) == ["bar-1.0.tar.gz", "bar-2.0.tar.gz"]
    assert old.project_names == ("bar", "foo")


def test_evolve_removing_every_file() -> None:
    old = build("foo-1.0.tar.gz", "bar-1.0.tar.gz")
    new = old.evolve({"foo-1.0.tar.gz": None, "bar-1.0.tar.gz": None})
    assert new.project_names == ()
    assert dict(new.projects) == {}
    assert dict(new.files) == {}


def test_evolve_replaces_a_file() -> None:
    old = build("foo-1.0.tar.gz", "foo-2.0.tar.gz")
    replacement = dist("foo-1.0.tar.gz", size=999, ino=2)
    new = old.evolve({"foo-1.0.tar.gz": replacement})
    assert new.files["foo-1.0.tar.gz"] is replacement
    assert len(new.projects["foo"]) == 2
    assert new.projects["foo"][0] is replacement
    assert old.files["foo-1.0.tar.gz"] not in new.projects["foo"]
    assert old.files["foo-1.0.tar.gz"].size == 10


def test_evolve_replacement_that_changes_project() -> None:
    # The same relpath may be re-parsed into another project (other hints).
    relpath = "foo-2-1.0.tgz"
    old = IndexSnapshot.build({relpath: dist(relpath), "foo-1.0.tar.gz": dist("foo-1.0.tar.gz")})
    assert old.project_names == ("foo", "foo-2")
    moved = Distribution.from_parsed(
        ROOT, relpath, parse_filename("foo-2-x.tgz", {"foo"}), fake_stat(ino=9)
    )
    assert moved.project == "foo"
    new = old.evolve({relpath: moved})
    assert new.project_names == ("foo",)
    assert moved in new.projects["foo"]
    assert len(new.projects["foo"]) == 2


def test_evolve_moves_a_file() -> None:
    old = build("foo-1.0.tar.gz")
    new = old.evolve({"foo-1.0.tar.gz": None, "sub/foo-1.0.tar.gz": dist("sub/foo-1.0.tar.gz")})
    assert list(new.files) == ["sub/foo-1.0.tar.gz"]
    assert [d.relpath for d in new.projects["foo"]] == ["sub/foo-1.0.tar.gz"]


def test_evolve_keeps_unchanged_project_tuples_by_identity() -> None:
    old = build("foo-1.0.tar.gz", "bar-1.0.tar.gz", "bar-2.0.tar.gz", "baz-1.0.zip")
    new = old.evolve({"foo-2.0.tar.gz": dist("foo-2.0.tar.gz")})
    assert new.projects["bar"] is old.projects["bar"]
    assert new.projects["baz"] is old.projects["baz"]
    assert new.projects["foo"] is not old.projects["foo"]
    newer = new.evolve({"qux-1.0.tar.gz": dist("qux-1.0.tar.gz"), "baz-1.0.zip": None})
    assert newer.projects["bar"] is old.projects["bar"]
    assert newer.projects["foo"] is new.projects["foo"]


@pytest.mark.parametrize(
    "changes",
    [
        {"foo-3.0.tar.gz": dist("foo-3.0.tar.gz")},
        {"foo-1.0.tar.gz": None},
        {"foo-1.0.tar.gz": dist("foo-1.0.tar.gz", size=1)},
        {"new-1.0.tar.gz": dist("new-1.0.tar.gz"), "foo-1.0.tar.gz": None},
    ],
)
def test_evolve_increments_generation(changes: dict[str, Distribution | None]) -> None:
    old = IndexSnapshot.build({"foo-1.0.tar.gz": dist("foo-1.0.tar.gz")}, generation=7)
    new = old.evolve(changes)
    assert new is not old
    assert new.generation == 8
    assert old.generation == 7


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"missing-1.0.tar.gz": None},
        {"missing-1.0.tar.gz": None, "other/missing-2.0.zip": None},
    ],
)
def test_evolve_without_effective_change_returns_self(
    changes: dict[str, Distribution | None],
) -> None:
    old = build("foo-1.0.tar.gz")
    assert old.evolve(changes) is old


def test_evolve_matches_build() -> None:
    """Any sequence of evolves gives the same view as building from scratch."""
    snap = build("foo-1.0.tar.gz", "bar-1.0.tar.gz", "baz-1.0.tar.gz")
    steps: list[dict[str, Distribution | None]] = [
        {"foo-0.5.tar.gz": dist("foo-0.5.tar.gz"), "bar-1.0.tar.gz": None},
        {"aaa-1.0.zip": dist("aaa-1.0.zip"), "foo-1.0.tar.gz": dist("foo-1.0.tar.gz", size=3)},
        {"baz-1.0.tar.gz": None, "sub/baz-2.0.tar.gz": dist("sub/baz-2.0.tar.gz")},
        {"aaa-1.0.zip": None, "zzz-1.0.zip": dist("zzz-1.0.zip")},
    ]
    for step in steps:
        snap = snap.evolve(step)
    fresh = IndexSnapshot.build(dict(snap.files))
    assert snap.project_names == fresh.project_names
    assert dict(snap.projects) == dict(fresh.projects)
    assert snap.project_names == ("baz", "foo", "zzz")
    assert versions(snap, "foo") == ["0.5", "1.0"]
    assert snap.generation == 5

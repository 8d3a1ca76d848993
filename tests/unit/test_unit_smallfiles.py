"""SmallFiles: small whole answers kept in memory, bounded, valid only for the file
as the snapshot lists it."""

from __future__ import annotations

import os
from pathlib import Path

from helpers.dists import make_wheel

from packyard.files import SmallFiles
from packyard.index.model import Distribution
from packyard.storage.cache import IndexCache
from packyard.storage.directory import Root


def listed(packages: Path, filename: str) -> Distribution:
    cache = IndexCache([Root.of(str(packages))])
    cache.rescan()
    return cache.snapshot.files[filename]


def test_get_answers_only_for_the_same_identity() -> None:
    small = SmallFiles()
    small.put("a.whl", (3, 1, 7), {"Content-Type": "x"}, b"abc")
    assert small.get("a.whl", (3, 1, 7)) == ([("Content-Type", "x")], b"abc")
    assert small.get("a.whl", (3, 2, 7)) is None
    assert small.get("b.whl", (3, 1, 7)) is None


def test_get_returns_a_new_header_list_each_time() -> None:
    small = SmallFiles()
    small.put("a", 1, {"A": "1"}, b"x")
    first = small.get("a", 1)
    assert first is not None
    first[0].append(("B", "2"))
    assert small.get("a", 1) == ([("A", "1")], b"x")


def test_larger_than_max_file_is_not_kept() -> None:
    small = SmallFiles(max_file=4, max_total=100)
    small.put("big", 1, {}, b"12345")
    small.put("fits", 1, {}, b"1234")
    assert small.get("big", 1) is None
    assert small.get("fits", 1) == ([], b"1234")


def test_total_is_bounded_and_the_oldest_go_first() -> None:
    small = SmallFiles(max_file=10, max_total=25)
    for key in "abc":
        small.put(key, 1, {}, bytes(10))
    assert small.get("a", 1) is None  # 30 > 25: the first one went
    assert small.get("b", 1) is not None
    assert small.get("c", 1) is not None


def test_replacing_an_entry_counts_it_once() -> None:
    small = SmallFiles(max_file=10, max_total=20)
    small.put("a", 1, {}, bytes(10))
    small.put("a", 2, {}, bytes(10))
    small.put("b", 1, {}, bytes(10))
    assert small.get("a", 2) is not None
    assert small.get("b", 1) is not None


def test_read_gives_the_listed_bytes(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "demo", "1.0")
    dist = listed(tmp_path, path.name)
    assert SmallFiles().read(dist) == path.read_bytes()


def test_read_refuses_files_over_max_file(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "demo", "1.0")
    dist = listed(tmp_path, path.name)
    assert SmallFiles(max_file=dist.size - 1).read(dist) is None


def test_read_refuses_a_file_changed_since_listing(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "demo", "1.0")
    dist = listed(tmp_path, path.name)
    path.write_bytes(path.read_bytes() + b"more")
    assert SmallFiles().read(dist) is None


def test_read_refuses_a_file_gone_or_replaced_by_a_directory(tmp_path: Path) -> None:
    path = make_wheel(tmp_path, "demo", "1.0")
    dist = listed(tmp_path, path.name)
    os.remove(path)
    assert SmallFiles().read(dist) is None
    path.mkdir()
    assert SmallFiles().read(dist) is None

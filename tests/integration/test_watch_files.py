"""Files changed by hand in a served directory, against a running server.

The watcher must bring the index up to date within seconds (the deadlines below are
requirements, polled, not speed measurements), hash replaced files again, never list
hidden files or non-distributions, and never rescan because files were read.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import time
from pathlib import Path

import pytest
from helpers import Server, http, wait_for
from helpers.dists import make_wheel, wheel_bytes

APPEAR = 3.0  # seconds: a change by hand shows within 2 s; 1 s of slack for busy machines
MANY_APPEAR = 5.0
_LINK = re.compile(
    r'<a href="\.\./\.\./packages/(?P<relpath>[^"#]+)(?:#(?P<algo>\w+)=(?P<hex>[0-9a-f]+))?"[^>]*>'
    r"(?P<filename>[^<]+)</a>"
)
_PACKAGES_LINK = re.compile(r'<a href="[^"]+">([^<]+)</a>')
_PROJECT_LINK = re.compile(r'<a href="[^"]+/">([^<]+)</a>')


# --- reading the index ----------------------------------------------------------------


def project_links(server: Server, project: str) -> dict[str, str | None] | None:
    """relpath -> sha256 of the links on /simple/<project>/, None when it is a 404."""
    page = http(server.url + f"simple/{project}/")
    if page.status == 404:
        return None
    assert page.status == 200, (page.status, page.text)
    return {m["relpath"]: m["hex"] for m in _LINK.finditer(page.text)}


def projects(server: Server) -> set[str]:
    page = http(server.url + "simple/")
    assert page.status == 200
    return set(_PROJECT_LINK.findall(page.text))


def listed(server: Server) -> set[str]:
    page = http(server.url + "packages/")
    assert page.status == 200
    return set(_PACKAGES_LINK.findall(page.text))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def shows(server: Server, project: str, relpath: str, data: bytes | None = None) -> bool:
    """The file is linked from its project page (with the digest of ``data`` if given),
    listed in /packages/, and its project in /simple/."""
    links = project_links(server, project)
    if links is None or relpath not in links:
        return False
    if data is not None and links[relpath] != sha256(data):
        return False
    return relpath in listed(server) and project in projects(server)


def gone(server: Server, project: str, relpath: str) -> bool:
    links = project_links(server, project) or {}
    return (
        relpath not in links
        and relpath not in listed(server)
        and http(server.url + "packages/" + relpath).status == 404
    )


def assert_serves(server: Server, relpath: str, data: bytes) -> None:
    answer = http(server.url + "packages/" + relpath)
    assert answer.status == 200, answer.text
    assert answer.body == data


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    directory = tmp_path / "packages"
    directory.mkdir()
    return directory


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory on the same file system, outside the served root."""
    directory = tmp_path / "outside"
    directory.mkdir()
    return directory


@pytest.fixture
def server(serve, root: Path) -> Server:
    make_wheel(root, "already-there", "1.0")
    started: Server = serve(root, "--disable-fallback")
    assert project_links(started, "already-there") is not None
    return started


# --- files added ----------------------------------------------------------------------


def test_file_copied_in_appears(server: Server, root: Path, outside: Path) -> None:
    source = make_wheel(outside, "copied", "1.0")
    data = source.read_bytes()
    assert project_links(server, "copied") is None
    shutil.copy(source, root / source.name)
    assert wait_for(lambda: shows(server, "copied", source.name, data), timeout=APPEAR)
    assert_serves(server, source.name, data)


def test_file_written_in_place_appears(server: Server, root: Path) -> None:
    path = make_wheel(root, "written", "1.0")
    data = path.read_bytes()
    assert wait_for(lambda: shows(server, "written", path.name, data), timeout=APPEAR)
    assert_serves(server, path.name, data)


def test_file_written_slowly_gets_final_digest(server: Server, root: Path) -> None:
    """Listed while still being written is tolerable; after close the digest and
    bytes must be those of the complete file."""
    name, data = wheel_bytes("slow", "1.0", module_body="X = 1\n" + "#" * 200_000 + "\n")
    path = root / name
    with path.open("wb") as fh:
        fh.write(data[:100])
        fh.flush()
        os.fsync(fh.fileno())
        time.sleep(0.3)  # let the watcher see the partial file
        fh.write(data[100:])
    assert wait_for(lambda: shows(server, "slow", name, data), timeout=APPEAR)
    assert_serves(server, name, data)


def test_file_moved_in_from_outside_appears(server: Server, root: Path, outside: Path) -> None:
    source = make_wheel(outside, "moved-in", "2.0")
    data = source.read_bytes()
    os.replace(source, root / source.name)
    assert wait_for(lambda: shows(server, "moved-in", source.name, data), timeout=APPEAR)


def test_hidden_temp_renamed_into_place_appears(server: Server, root: Path) -> None:
    """The usual atomic write: a hidden temporary name, then a rename."""
    name, data = wheel_bytes("atomic", "1.0")
    temp = root / f".{name}.tmp"
    temp.write_bytes(data)
    os.rename(temp, root / name)
    assert wait_for(lambda: shows(server, "atomic", name, data), timeout=APPEAR)


def test_new_version_of_known_project_appears(server: Server, root: Path) -> None:
    path = make_wheel(root, "already-there", "2.0")
    assert wait_for(lambda: shows(server, "already-there", path.name), timeout=APPEAR)
    links = project_links(server, "already-there")
    assert links is not None
    assert set(links) == {"already_there-1.0-py3-none-any.whl", path.name}


# --- files removed --------------------------------------------------------------------


def test_deleted_file_disappears(server: Server, root: Path) -> None:
    first = make_wheel(root, "deleted", "1.0")
    second = make_wheel(root, "deleted", "2.0")
    assert wait_for(
        lambda: shows(server, "deleted", first.name) and shows(server, "deleted", second.name),
        timeout=APPEAR,
    )
    first.unlink()
    assert wait_for(lambda: gone(server, "deleted", first.name), timeout=APPEAR)
    assert project_links(server, "deleted") is not None
    assert "deleted" in projects(server)
    # The last file of the project: the project goes too.
    second.unlink()
    assert wait_for(lambda: "deleted" not in projects(server), timeout=APPEAR)
    assert project_links(server, "deleted") is None
    assert http(server.url + "packages/" + second.name).status == 404
    assert "already-there" in projects(server)


def test_file_moved_out_disappears(server: Server, root: Path, outside: Path) -> None:
    path = root / "already_there-1.0-py3-none-any.whl"
    os.rename(path, outside / path.name)
    assert wait_for(lambda: "already-there" not in projects(server), timeout=APPEAR)
    assert gone(server, "already-there", path.name)


# --- files replaced -------------------------------------------------------------------


def _replace_in_place(path: Path, data: bytes, staging: Path) -> None:
    path.write_bytes(data)


def _replace_by_copy(path: Path, data: bytes, staging: Path) -> None:
    source = staging / path.name
    source.write_bytes(data)
    shutil.copy(source, path)


def _replace_atomically_from_outside(path: Path, data: bytes, staging: Path) -> None:
    source = staging / path.name
    source.write_bytes(data)
    os.replace(source, path)


def _replace_atomically_from_hidden(path: Path, data: bytes, staging: Path) -> None:
    temp = path.with_name("." + path.name + ".part")
    temp.write_bytes(data)
    os.replace(temp, path)


@pytest.mark.parametrize(
    "replace",
    [
        _replace_in_place,
        _replace_by_copy,
        _replace_atomically_from_outside,
        _replace_atomically_from_hidden,
    ],
    ids=["in-place", "copy-over", "replace-from-outside", "replace-from-hidden"],
)
def test_replaced_file_is_hashed_again(
    server: Server, root: Path, outside: Path, replace: object
) -> None:
    name, old = wheel_bytes("replaced", "1.0", module_body="OLD = 1\n")
    path = root / name
    path.write_bytes(old)
    assert wait_for(lambda: shows(server, "replaced", name, old), timeout=APPEAR)
    assert_serves(server, name, old)  # the old digest and bytes were served once
    _, new = wheel_bytes("replaced", "1.0", module_body="NEW = 2\n# different bytes\n")
    assert sha256(new) != sha256(old)
    replace(path, new, outside)  # type: ignore[operator]
    assert wait_for(lambda: shows(server, "replaced", name, new), timeout=APPEAR)
    assert_serves(server, name, new)
    links = project_links(server, "replaced")
    assert links == {name: sha256(new)}


def test_replaced_with_same_size_is_hashed_again(server: Server, root: Path) -> None:
    """Same name and same length: only the content (and mtime) tell them apart."""
    path = root / "already_there-1.0-py3-none-any.whl"
    old = path.read_bytes()
    assert wait_for(lambda: shows(server, "already-there", path.name, old), timeout=APPEAR)
    assert_serves(server, path.name, old)  # small files are kept in memory once served
    new = bytes(b ^ 0xFF for b in old[:64]) + old[64:]  # not a valid zip; still served as is
    assert len(new) == len(old)
    with path.open("r+b") as fh:  # rewritten without truncation
        fh.write(new[:64])
    assert wait_for(lambda: shows(server, "already-there", path.name, new), timeout=APPEAR)
    assert_serves(server, path.name, new)


# --- files renamed --------------------------------------------------------------------


def test_renamed_file_moves_in_index(server: Server, root: Path) -> None:
    old = make_wheel(root, "renamed", "1.0")
    data = old.read_bytes()
    assert wait_for(lambda: shows(server, "renamed", old.name), timeout=APPEAR)
    new = root / "renamed-1.1-py3-none-any.whl"
    os.rename(old, new)
    assert wait_for(
        lambda: shows(server, "renamed", new.name, data) and gone(server, "renamed", old.name),
        timeout=APPEAR,
    )
    assert_serves(server, new.name, data)


def test_renamed_to_other_project(server: Server, root: Path) -> None:
    old = make_wheel(root, "before", "1.0")
    assert wait_for(lambda: shows(server, "before", old.name), timeout=APPEAR)
    new = root / "after-1.0-py3-none-any.whl"
    os.rename(old, new)
    assert wait_for(
        lambda: shows(server, "after", new.name) and "before" not in projects(server),
        timeout=APPEAR,
    )
    assert project_links(server, "before") is None


def test_file_moved_into_subdirectory(server: Server, root: Path) -> None:
    old = make_wheel(root, "relocated", "1.0")
    (root / "sub").mkdir()
    assert wait_for(lambda: shows(server, "relocated", old.name), timeout=APPEAR)
    os.rename(old, root / "sub" / old.name)
    relpath = f"sub/{old.name}"
    assert wait_for(
        lambda: shows(server, "relocated", relpath) and gone(server, "relocated", old.name),
        timeout=APPEAR,
    )
    assert_serves(server, relpath, (root / relpath).read_bytes())


def test_renamed_to_hidden_name_disappears(server: Server, root: Path) -> None:
    path = root / "already_there-1.0-py3-none-any.whl"
    os.rename(path, root / ("." + path.name))
    assert wait_for(lambda: "already-there" not in projects(server), timeout=APPEAR)
    assert http(server.url + "packages/." + path.name).status == 404
    assert not any(p.startswith(".") for p in listed(server))


# --- directories ----------------------------------------------------------------------


def _tree(base: Path) -> dict[str, bytes]:
    """A subdirectory with distributions at two depths; relpath (from base's parent) -> bytes."""
    (base / "deeper").mkdir(parents=True)
    files = {}
    for directory, name, version in (
        (base, "tree-one", "1.0"),
        (base, "tree-two", "1.0"),
        (base / "deeper", "tree-one", "2.0"),
    ):
        path = make_wheel(directory, name, version)
        files[path.relative_to(base.parent).as_posix()] = path.read_bytes()
    return files


def _tree_shown(server: Server, files: dict[str, bytes]) -> bool:
    return all(
        shows(server, "tree-one" if "tree_one" in relpath else "tree-two", relpath, data)
        for relpath, data in files.items()
    )


def _tree_gone(server: Server, files: dict[str, bytes]) -> bool:
    names = projects(server)
    return (
        "tree-one" not in names
        and "tree-two" not in names
        and not (set(files) & listed(server))
        and all(http(server.url + "packages/" + r).status == 404 for r in files)
    )


def test_directory_moved_in_appears_and_rmtree_removes(
    server: Server, root: Path, outside: Path
) -> None:
    files = _tree(outside / "batch")
    os.rename(outside / "batch", root / "batch")
    assert wait_for(lambda: _tree_shown(server, files), timeout=APPEAR)
    for relpath, data in files.items():
        assert_serves(server, relpath, data)
    shutil.rmtree(root / "batch")
    assert wait_for(lambda: _tree_gone(server, files), timeout=APPEAR)
    assert "already-there" in projects(server)


def test_directory_moved_out_disappears(server: Server, root: Path, outside: Path) -> None:
    files = _tree(outside / "batch")
    os.rename(outside / "batch", root / "batch")
    assert wait_for(lambda: _tree_shown(server, files), timeout=APPEAR)
    os.rename(root / "batch", outside / "batch-again")
    assert wait_for(lambda: _tree_gone(server, files), timeout=APPEAR)


def test_directory_renamed_within_root(server: Server, root: Path, outside: Path) -> None:
    files = _tree(outside / "batch")
    os.rename(outside / "batch", root / "batch")
    assert wait_for(lambda: _tree_shown(server, files), timeout=APPEAR)
    os.rename(root / "batch", root / "renamed")
    moved = {"renamed/" + r.split("/", 1)[1]: data for r, data in files.items()}
    assert wait_for(
        lambda: _tree_shown(server, moved) and not (set(files) & listed(server)),
        timeout=APPEAR,
    )
    for relpath in files:
        assert http(server.url + "packages/" + relpath).status == 404


def test_directory_renamed_to_hidden_disappears(server: Server, root: Path, outside: Path) -> None:
    files = _tree(outside / "batch")
    os.rename(outside / "batch", root / "batch")
    assert wait_for(lambda: _tree_shown(server, files), timeout=APPEAR)
    os.rename(root / "batch", root / ".batch")
    assert wait_for(lambda: _tree_gone(server, files), timeout=APPEAR)


def test_directory_moved_out_and_back_in(server: Server, root: Path, outside: Path) -> None:
    """A directory that leaves and comes back is listed again, and files written into it
    afterwards appear too."""
    files = _tree(outside / "batch")
    for _ in range(2):
        os.rename(outside / "batch", root / "batch")
        assert wait_for(lambda: _tree_shown(server, files), timeout=APPEAR)
        os.rename(root / "batch", outside / "batch")
        assert wait_for(lambda: _tree_gone(server, files), timeout=APPEAR)
    os.rename(outside / "batch", root / "batch")
    assert wait_for(lambda: _tree_shown(server, files), timeout=APPEAR)
    late = make_wheel(root / "batch" / "deeper", "tree-two", "3.0")
    relpath = f"batch/deeper/{late.name}"
    assert wait_for(lambda: shows(server, "tree-two", relpath), timeout=APPEAR)
    assert "Traceback" not in server.log_text()


def test_new_directory_then_files_appear(server: Server, root: Path) -> None:
    """Files written right after their directory is created (before a watch could be
    placed on it) and a while later must all appear."""
    fresh = root / "fresh"
    fresh.mkdir()
    early = [make_wheel(fresh, "fresh", f"1.{i}") for i in range(5)]
    nested = root / "a" / "b" / "c"
    nested.mkdir(parents=True)
    deep = make_wheel(nested, "deep", "1.0")
    time.sleep(0.3)
    late = make_wheel(fresh, "fresh", "2.0")
    expected = {f"fresh/{p.name}" for p in [*early, late]}
    assert wait_for(
        lambda: set((project_links(server, "fresh") or {}).keys()) == expected,
        timeout=APPEAR,
    )
    assert wait_for(lambda: shows(server, "deep", f"a/b/c/{deep.name}"), timeout=APPEAR)
    links = project_links(server, "fresh")
    assert links is not None
    for relpath, hexdigest in links.items():
        assert hexdigest == sha256((root / relpath).read_bytes())


# --- never listed ---------------------------------------------------------------------


def test_hidden_files_and_non_distributions_never_appear(server: Server, root: Path) -> None:
    _, data = wheel_bytes("ghost", "1.0")
    hidden = {
        ".tmp-upload.whl": data,
        ".ghost-1.0-py3-none-any.whl": data,
        ".hidden/ghost-1.0-py3-none-any.whl": data,
        "visible/.hidden/ghost-1.0-py3-none-any.whl": data,
        "README.txt": b"not a distribution\n",
        "index.html": b"<html></html>\n",
        "ghost-1.0-py3-none-any.whl.part": data,
        "notes.whl": data,
        "ghost.tar.gz": b"\x1f\x8b not really\n",
    }
    for relpath, content in hidden.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    # Written last: once it shows, every event before it has been applied.
    sentinel = make_wheel(root, "sentinel", "1.0")
    assert wait_for(lambda: shows(server, "sentinel", sentinel.name), timeout=APPEAR)
    assert listed(server) == {"already_there-1.0-py3-none-any.whl", sentinel.name}
    assert projects(server) == {"already-there", "sentinel"}
    assert project_links(server, "ghost") is None
    for relpath in hidden:
        assert http(server.url + "packages/" + relpath).status == 404, relpath


def test_hidden_files_at_start_up_never_appear(serve, root: Path) -> None:
    make_wheel(root, "visible", "1.0")
    _, data = wheel_bytes("ghost", "1.0")
    (root / ".tmp-upload.whl").write_bytes(data)
    (root / ".cache").mkdir()
    (root / ".cache" / "ghost-1.0-py3-none-any.whl").write_bytes(data)
    (root / "notes.txt").write_text("x")
    started: Server = serve(root, "--disable-fallback")
    assert listed(started) == {"visible-1.0-py3-none-any.whl"}
    assert projects(started) == {"visible"}


# --- many files -----------------------------------------------------------------------


def test_two_hundred_files_copied_in_all_appear(server: Server, root: Path, outside: Path) -> None:
    sources = [make_wheel(outside, f"bulk-{i:03d}", "1.0") for i in range(200)]
    for source in sources:
        shutil.copy(source, root / source.name)
    expected = {s.name for s in sources} | {"already_there-1.0-py3-none-any.whl"}
    assert wait_for(lambda: listed(server) == expected, timeout=MANY_APPEAR)
    names = projects(server)
    assert len(names) == 201
    assert {f"bulk-{i:03d}" for i in range(200)} <= names
    some = sources[137]
    links = project_links(server, "bulk-137")
    assert links == {some.name: sha256(some.read_bytes())}


# --- reading never resets anything ----------------------------------------------------


def test_downloads_do_not_rescan(serve, root: Path) -> None:
    """pypiserver's issue #502: every read reset its cache. Reads must not even reach
    the index: after many downloads everything is listed and nothing was rescanned."""
    wheels = [make_wheel(root, f"hot-{i}", "1.0") for i in range(5)]
    server: Server = serve(root, "-v", "--disable-fallback")
    assert server.log_text().count("indexed") == 1, server.log_text()
    expected = {w.name for w in wheels}
    assert listed(server) == expected
    for round_ in range(10):
        for wheel in wheels:
            answer = http(server.url + "packages/" + wheel.name)
            assert answer.status == 200, (round_, answer.text)
            assert answer.body == wheel.read_bytes()
        # Project pages hash the files, another read.
        assert project_links(server, f"hot-{round_ % 5}") == {
            wheels[round_ % 5].name: sha256(wheels[round_ % 5].read_bytes())
        }
    assert listed(server) == expected
    assert projects(server) == {f"hot-{i}" for i in range(5)}
    # The watcher still works afterwards, by single events, not by rescanning.
    late = make_wheel(root, "hot-late", "1.0")
    assert wait_for(lambda: shows(server, "hot-late", late.name), timeout=APPEAR)
    assert wait_for(
        lambda: server.log_text().count(f"GET /packages/{wheels[-1].name} 200") == 10,
        timeout=APPEAR,
    ), server.log_text()
    log = server.log_text()
    assert log.count("indexed") == 1, log
    assert "rescanning" not in log

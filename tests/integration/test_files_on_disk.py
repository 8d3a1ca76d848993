"""What appears on disk under a listed name (issue 12, item 4).

A FIFO or socket never blocks a thread, a listed file swapped for a symlink is never
followed out of the root, a symlink to a hidden path inside the root (the ledger, an
htpasswd file in a dot-directory) is never listed nor served, and a file changed on disk
before the watcher noticed is served only as the index then lists it.

"Before the watcher noticed" is made as long as a test needs by holding the ledger's
write lock from the test (as a long write by another process would): the watcher sees
the change but cannot record it, so the snapshot keeps listing the old file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import socket
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Server, http, raw, wait_for
from helpers.dists import sdist_bytes, wheel_bytes

THREADS = 2
SECRET = b"SECRET-OUTSIDE-THE-ROOT"


@contextlib.contextmanager
def watcher_frozen(packages: Path) -> Iterator[None]:
    conn = sqlite3.connect(packages / ".packyard" / "ledger.sqlite3", isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def raw_get(server: Server, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of one GET over a raw socket; TimeoutError if no answer in time."""
    answer = raw.parse(raw.exchange(server.url, raw.request_head(path, "x"), timeout))
    return answer.status, answer.body


def health_ok(server: Server) -> bool:
    return raw_get(server, "/health", timeout=1.0)[0] == 200


def listed(server: Server, project: str) -> list[str]:
    page = http(server.url + f"simple/{project}/")
    return re.findall(r">([^<]+)</a>", page.text) if page.status == 200 else []


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    packages = tmp_path / "packages"
    outside = tmp_path / "outside"
    packages.mkdir()
    outside.mkdir()
    (outside / "secret-1.0.tar.gz").write_bytes(SECRET)
    for version in ("1.0", "2.0", "3.0"):
        name, data = sdist_bytes("small", version)
        (packages / name).write_bytes(data)
    name, data = wheel_bytes("large", "1.0", module_body="X = 1\n# " + "x" * (200 << 10))
    (packages / name).write_bytes(data + b"\0" * (200 << 10))
    return packages, outside


def start(serve: object, packages: Path) -> Server:
    server = serve("--threads", str(THREADS), "--disable-fallback", packages)  # type: ignore[operator]
    assert isinstance(server, Server)
    return server


def make_socket_at(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    return sock


@pytest.mark.parametrize("kind", ["fifo", "socket"])
@pytest.mark.parametrize("name", ["small-1.0.tar.gz", "large-1.0-py3-none-any.whl"])
def test_a_fifo_or_socket_under_a_listed_name_blocks_no_thread(
    serve: object, tree: tuple[Path, Path], kind: str, name: str
) -> None:
    packages, _ = tree
    server = start(serve, packages)
    path = packages / name
    with contextlib.ExitStack() as stack:
        stack.enter_context(watcher_frozen(packages))
        path.unlink()
        if kind == "fifo":
            os.mkfifo(path)
        else:
            stack.enter_context(make_socket_at(path))
        for _ in range(THREADS + 2):
            status, body = raw_get(server, "/packages/" + name)
            assert status == 404, body
            assert f"{name} " in body.decode(), body
        assert health_ok(server)
    # Once the watcher has recorded it, the name is not listed at all.
    assert wait_for(lambda: name not in listed(server, name.split("-")[0]))
    assert raw_get(server, "/packages/" + name)[0] == 404
    assert health_ok(server)


def test_a_fifo_named_like_a_distribution_is_never_listed(
    serve: object, tree: tuple[Path, Path]
) -> None:
    packages, _ = tree
    os.mkfifo(packages / "fifo-1.0-py3-none-any.whl")
    server = start(serve, packages)
    os.mkfifo(packages / "fifo-2.0.tar.gz")
    (packages / "fifo-3.0.tar.gz").write_bytes(sdist_bytes("fifo", "3.0")[1])
    assert wait_for(lambda: "fifo-3.0.tar.gz" in listed(server, "fifo"))
    assert listed(server, "fifo") == ["fifo-3.0.tar.gz"]
    for name in ("fifo-1.0-py3-none-any.whl", "fifo-2.0.tar.gz"):
        assert raw_get(server, "/packages/" + name)[0] == 404
    assert health_ok(server)


@pytest.mark.parametrize(
    "target",
    ["outside", "/dev/zero", ".packyard/ledger.sqlite3", ".secret/htpasswd", "sub/.hid.tar.gz"],
)
def test_a_listed_file_swapped_for_a_symlink_is_not_followed(
    serve: object, tree: tuple[Path, Path], target: str
) -> None:
    packages, outside = tree
    (packages / ".secret").mkdir()
    (packages / ".secret" / "htpasswd").write_bytes(SECRET)
    (packages / "sub").mkdir()
    (packages / "sub" / ".hid.tar.gz").write_bytes(SECRET)
    server = start(serve, packages)
    name = "small-2.0.tar.gz"
    link = packages / ".swap"
    link.symlink_to(outside / "secret-1.0.tar.gz" if target == "outside" else target)
    with watcher_frozen(packages):
        os.replace(link, packages / name)
        status, body = raw_get(server, "/packages/" + name)
        assert status == 404, body
        assert SECRET not in body
        assert b"SQLite" not in body
        assert health_ok(server)
    assert wait_for(lambda: name not in listed(server, "small"))
    assert raw_get(server, "/packages/" + name)[0] == 404


def test_a_symlink_to_a_hidden_path_is_never_listed(serve: object, tree: tuple[Path, Path]) -> None:
    packages, _ = tree
    (packages / ".secret").mkdir()
    (packages / ".secret" / "htpasswd").write_bytes(SECRET)
    (packages / "hidden-1.0.tar.gz").symlink_to(".secret/htpasswd")
    (packages / "inside-1.0.tar.gz").symlink_to("small-3.0.tar.gz")  # still served
    server = start(serve, packages)
    # Made while the server runs: the watcher applies the same rules.
    (packages / "hidden-2.0.tar.gz").symlink_to(".packyard/ledger.sqlite3")
    (packages / "hidden-3.0.tar.gz").symlink_to(packages / ".secret" / "htpasswd")
    (packages / "hidden-4.0.tar.gz").write_bytes(sdist_bytes("hidden", "4.0")[1])
    assert wait_for(lambda: "hidden-4.0.tar.gz" in listed(server, "hidden"))
    assert listed(server, "hidden") == ["hidden-4.0.tar.gz"]
    for version in ("1.0", "2.0", "3.0"):
        status, body = raw_get(server, f"/packages/hidden-{version}.tar.gz")
        assert status == 404
        assert SECRET not in body
    status, body = raw_get(server, "/packages/inside-1.0.tar.gz")
    assert status == 200
    assert body == (packages / "small-3.0.tar.gz").read_bytes()


def test_a_file_changed_before_the_watcher_noticed_matches_its_listed_hash(
    serve: object, tree: tuple[Path, Path]
) -> None:
    """Rewritten through a hard link outside the root: inotify reports it to the other
    directory only, so the index would keep listing the old hash."""
    packages, outside = tree
    name = "small-1.0.tar.gz"
    server = start(serve, packages)
    before = re.findall(r"#sha256=([0-9a-f]+)", http(server.url + "simple/small/").text)
    alias = outside / "alias"
    os.link(packages / name, alias)
    new = sdist_bytes("small", "1.0", requires=("changed",))[1]
    with alias.open("r+b") as fh:
        fh.write(new)
        fh.truncate()
    status, body = raw_get(server, "/packages/" + name)
    after = re.findall(r"#sha256=([0-9a-f]+)", http(server.url + "simple/small/").text)
    assert hashlib.sha256(new).hexdigest() not in before
    assert status == 200
    assert body == new
    assert hashlib.sha256(body).hexdigest() in after

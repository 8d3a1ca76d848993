"""Nothing lost or corrupted under concurrent uploads, and nothing half-written after a
crash (issue 7): real servers, real sockets, SIGKILL."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import re
import signal
import socket
import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

from helpers import Server, add_user, http, start_server, wait_for
from helpers.dists import wheel_bytes
from helpers.forms import encode_form, post
from helpers.upload import upload_fields

USER, PASSWORD = "uploader", "race-pw"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def upload_form(filename: str, data: bytes, name: str, version: str) -> tuple[bytes, str]:
    """The form body of an upload with a digest and no other optional field."""
    bare = {"metadata_version": None, "filetype": None, "pyversion": None}
    return encode_form(upload_fields(filename, data, name, version, **bare), (filename, data))


def stored(packages: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in packages.iterdir() if not p.name.startswith(".")}


def test_parallel_uploads_and_downloads(tmp_path: Path, serve) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    # A big file (streamed, not from memory) and a small one, read all along.
    big_name, big = wheel_bytes(
        "reader", "1.0", module_body=f"BLOB = {os.urandom(200_000).hex()!r}\n"
    )
    assert len(big) > 200_000
    (packages / big_name).write_bytes(big)
    small_name, small = wheel_bytes("reader", "0.9")
    (packages / small_name).write_bytes(small)
    server = serve("-P", htpasswd, "-a", "update", "--disable-fallback", "--threads", "8", packages)

    distinct = [wheel_bytes(f"distinct-{i}", "1.0") for i in range(50)]
    # 20 uploads of one filename, each with different bytes
    contested = [wheel_bytes("contested", "1.0", module_body=f"WHICH = {i}\n") for i in range(20)]
    assert len({data for _, data in contested}) == 20
    contested_name = contested[0][0]
    assert all(name == contested_name for name, _ in contested)

    stop = threading.Event()
    problems: list[str] = []
    reads = [0]

    def reader() -> None:
        parts = urlsplit(server.url)
        conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
        expected = {f"/packages/{big_name}": big, f"/packages/{small_name}": small}
        try:
            while not stop.is_set():
                for path, want in expected.items():
                    conn.request("GET", path)
                    resp = conn.getresponse()
                    body = resp.read()
                    if resp.status != 200 or body != want:
                        problems.append(f"{path}: {resp.status}, {len(body)} of {len(want)} bytes")
                conn.request("GET", "/simple/contested/")
                resp = conn.getresponse()
                page = resp.read().decode()
                if resp.status not in (200, 404):  # 404 until the first upload lands
                    problems.append(f"/simple/contested/: {resp.status}")
                # whatever a page lists must download whole and match its digest
                for href, digest in re.findall(r'href="([^"#]+)#sha256=([0-9a-f]+)"', page):
                    conn.request("GET", "/packages/" + href.rsplit("/", 1)[-1])
                    file_resp = conn.getresponse()
                    data = file_resp.read()
                    if file_resp.status != 200 or hashlib.sha256(data).hexdigest() != digest:
                        problems.append(f"{href}: {file_resp.status}, digest mismatch")
                reads[0] += 1
        finally:
            conn.close()

    readers = [threading.Thread(target=reader) for _ in range(3)]
    for thread in readers:
        thread.start()

    def send(item: tuple[str, bytes], name: str) -> tuple[str, bytes, int, str]:
        filename, data = item
        body, ctype = upload_form(filename, data, name, "1.0")
        reply = post(server.url, body, ctype, authorization=AUTH)
        return filename, data, reply.status, reply.text

    jobs = [(item, item[0].split("-1.0")[0]) for item in distinct]
    jobs += [(item, "contested") for item in contested]
    # interleave the contested uploads among the distinct ones
    jobs.sort(key=lambda job: hashlib.sha256(job[0][1]).hexdigest())
    with ThreadPoolExecutor(max_workers=24) as pool:
        results = list(pool.map(lambda job: send(*job), jobs))
    stop.set()
    for thread in readers:
        thread.join(timeout=60)

    assert problems == []
    assert reads[0] > 0
    assert all(status < 500 for _, _, status, _ in results), results
    on_disk = stored(packages)
    for filename, data in distinct:
        assert on_disk[filename] == data
    contested_results = [r for r in results if r[0] == contested_name]
    winners = [r for r in contested_results if r[2] == 200]
    losers = [r for r in contested_results if r[2] != 200]
    assert len(winners) == 1, [(r[2], r[3]) for r in contested_results]
    assert {r[2] for r in losers} == {409}
    assert all("File already exists" in r[3] for r in losers)
    assert on_disk[contested_name] == winners[0][1]
    assert len(on_disk) == 2 + 50 + 1
    assert not list(packages.glob(".packyard-upload-*"))
    # and the index says exactly that
    page = http(server.url + "simple/contested/").text
    [digest] = re.findall(r"#sha256=([0-9a-f]{64})", page)
    assert digest == hashlib.sha256(winners[0][1]).hexdigest()
    assert "Traceback" not in server.log_text()


def test_sigkill_during_a_large_upload_leaves_nothing_visible(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    args = ("-P", htpasswd, "-a", "update", "--disable-fallback", packages)
    server = start_server(*args)
    filename = "crashy-1.0-py3-none-any.whl"
    # 400 MB: the server copies it from waitress's buffer into its staging file for a
    # while, long enough to be killed in the middle.
    payload = b"\0" * (400 << 20)
    body, ctype = upload_form(filename, payload, "crashy", "1.0")
    parts = urlsplit(server.url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
    try:
        head = (
            f"POST / HTTP/1.1\r\nHost: x\r\nAuthorization: {AUTH}\r\n"
            f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        sender = threading.Thread(target=lambda: _send_quietly(sock, head + body))
        sender.start()
        staging = lambda: list(packages.glob(".packyard-upload-*.tmp"))  # noqa: E731
        assert wait_for(
            lambda: any(p.stat().st_size > 0 for p in staging()), timeout=60, interval=0.002
        )
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        sender.join(timeout=60)
    finally:
        sock.close()

    # Killed mid-copy: the final name never appeared, only the hidden staging file.
    assert not (packages / filename).exists()
    leftovers = staging()
    assert len(leftovers) == 1
    assert 0 < leftovers[0].stat().st_size < len(payload)

    # The ledger is intact and knows nothing of the file.
    ledger = packages / ".packyard" / "ledger.sqlite3"
    with sqlite3.connect(ledger) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute(
            "SELECT count(*) FROM files WHERE relpath = ?", (filename,)
        ).fetchone() == (0,)

    # The next start removes the leftover at once, and the file is nowhere.
    again = start_server(*args)
    try:
        assert staging() == []
        assert re.search(r"removed 1 unfinished upload", again.log_text())
        assert http(again.url + "simple/crashy/").status == 404
        assert http(again.url + "packages/" + filename).status == 404
        assert "crashy" not in http(again.url + "packages/").text
        # and uploads work again
        name, data = wheel_bytes("crashy", "1.0")
        form, ctype = upload_form(name, data, "crashy", "1.0")
        assert post(again.url, form, ctype, authorization=AUTH).status == 200
        assert (packages / name).read_bytes() == data
    finally:
        again.stop()


def _send_quietly(sock: socket.socket, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the server was killed under it
        sock.sendall(data)


def test_uploaded_files_are_never_world_writable(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    old = os.umask(0)  # the server inherits it: the most permissive umask there is
    try:
        server: Server = start_server("-P", htpasswd, "-a", "update", packages)
    finally:
        os.umask(old)
    try:
        name, data = wheel_bytes("perms", "1.0")
        form, ctype = upload_form(name, data, "perms", "1.0")
        assert post(server.url, form, ctype, authorization=AUTH).status == 200
        for path in [packages / name, packages / ".packyard", *(packages / ".packyard").iterdir()]:
            mode = path.stat().st_mode
            assert not mode & 0o002, (path, oct(mode))
        assert (packages / name).stat().st_mode & 0o777 == 0o644
    finally:
        server.stop()

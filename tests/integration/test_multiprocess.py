"""Several processes serving one packages directory: a change made through one is seen
by every other on its very next request (not when its file watcher gets to it).

Two ``packyard run`` processes on one directory make this deterministic: the upload
goes to one, the next request to the other. gunicorn with two workers checks the
documented way of running several processes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import Server, clean_environ, http, start_server, wait_for
from helpers.dists import wheel_bytes
from helpers.forms import encode_form, post
from helpers.upload import upload

JSON_V1 = "application/vnd.pypi.simple.v1+json"


def upload_wheel(url: str, name: str, version: str) -> tuple[str, bytes]:
    """Build a wheel and upload it with the fewest fields the API takes (no digest)."""
    filename, data = wheel_bytes(name, version)
    fields = {"metadata_version": None, "pyversion": None, "sha256": False}
    upload(url, filename, data, name, version, expect=200, **fields)
    return filename, data


def action(url: str, fields: list[tuple[str, str]]) -> None:
    body, content_type = encode_form(fields, None)
    reply = post(url, body, content_type)
    assert reply.status == 200, reply


def files_of(url: str, project: str) -> dict[str, dict[str, object]]:
    resp = http(url + f"simple/{project}/", headers={"Accept": JSON_V1})
    if resp.status != 200:
        return {}
    return {f["filename"]: f for f in json.loads(resp.body)["files"]}


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    packages = tmp_path / "packages"
    packages.mkdir()
    args = ("-P", ".", "-a", ".", "--disable-fallback", packages)
    first = start_server(*args)
    second = start_server(*args)
    yield first, second
    first.stop()
    second.stop()


def test_upload_through_one_process_is_listed_by_the_other_at_once(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    for version in ("1.0", "1.1", "1.2"):
        filename, data = upload_wheel(first.url, "twin", version)
        # The very next request to the other process: no waiting for its watcher.
        listed = files_of(second.url, "twin")
        assert filename in listed
        resp = http(second.url + f"packages/{filename}")
        assert resp.status == 200
        assert resp.body == data
    # Both processes give the same facts (one shared ledger).
    assert files_of(first.url, "twin") == files_of(second.url, "twin")


def test_removal_and_yank_through_one_process_show_in_the_other_at_once(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    kept, _ = upload_wheel(first.url, "twin-yank", "1.0")
    gone, _ = upload_wheel(first.url, "twin-yank", "2.0")
    assert set(files_of(second.url, "twin-yank")) == {kept, gone}

    action(first.url, [(":action", "yank"), ("filename", kept), ("reason", "bad")])
    assert files_of(second.url, "twin-yank")[kept]["yanked"] == "bad"

    action(first.url, [(":action", "remove_pkg"), ("name", "twin-yank"), ("version", "2.0")])
    assert set(files_of(second.url, "twin-yank")) == {kept}

    action(first.url, [(":action", "unyank"), ("filename", kept)])
    assert files_of(second.url, "twin-yank")[kept]["yanked"] is False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gunicorn() -> str:
    found = shutil.which("gunicorn", path=os.path.dirname(sys.executable))
    assert found is not None, "gunicorn is a test dependency (pyproject.toml [test])"
    return found


def start_gunicorn(
    packages: Path, workers: int, extra_env: dict[str, str]
) -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    env = clean_environ(
        {"PYPISERVER_PACKAGES_DIR": str(packages), "PYPISERVER_DISABLE_FALLBACK": "true"}
        | extra_env
    )
    proc = subprocess.Popen(
        [
            gunicorn(),
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "packyard.wsgi:create()",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    return proc, f"http://127.0.0.1:{port}/"


def answers(url: str) -> bool:
    try:
        return http(url + "health").status == 200
    except OSError:
        return False


def stop(proc: subprocess.Popen[str]) -> str:
    if proc.poll() is None:
        proc.terminate()
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return out


def test_gunicorn_workers_all_list_an_upload_on_the_next_request(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    proc, url = start_gunicorn(
        packages, 2, {"PYPISERVER_PASSWORDS": ".", "PYPISERVER_AUTHENTICATE": "."}
    )
    try:
        assert wait_for(lambda: answers(url), timeout=30), stop(proc)
        for version in ("1.0", "2.0", "3.0"):
            filename, data = upload_wheel(url, "gun", version)
            # Each request on a new connection, to whichever worker takes it.
            for _ in range(12):
                assert filename in files_of(url, "gun")
            assert http(url + f"packages/{filename}").body == data
    finally:
        output = stop(proc)
    workers = set(re.findall(r"packyard \S+ worker (\d+) serving", output))
    assert len(workers) == 2, output


def test_gunicorn_with_a_bad_setting_stops_with_one_line(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    proc, _url = start_gunicorn(packages, 1, {"PYPISERVER_HASH_ALGO": "crc32"})
    deadline = time.monotonic() + 30
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    output = stop(proc)
    assert proc.returncode not in (None, 0), output
    errors = [line for line in output.splitlines() if line.startswith("pypi-server: error:")]
    assert len(errors) == 1, output
    assert "crc32" in errors[0]
    assert "Traceback" not in output


RANGES = [("bytes=0-", 0, None), ("bytes=70000-70099", 70000, 70100), ("bytes=-123", -123, None)]


def test_gunicorn_serves_ranges_of_large_files_exactly(tmp_path: Path) -> None:
    """Ranges go to the server's wsgi.file_wrapper positioned at the first byte (issue
    12, item 1); gunicorn sends from that position, Content-Length bytes (sendfile)."""
    packages = tmp_path / "packages"
    packages.mkdir()
    data = os.urandom(300 << 10)  # larger than the small-file cache takes
    (packages / "big-1.0.tar.gz").write_bytes(data)
    proc, url = start_gunicorn(packages, 1, {})
    try:
        assert wait_for(lambda: answers(url), timeout=30), stop(proc)
        assert http(url + "packages/big-1.0.tar.gz").body == data
        for header, first, end in RANGES:
            resp = http(url + "packages/big-1.0.tar.gz", headers={"Range": header})
            assert resp.status == 206, header
            assert resp.body == data[first:end], header
            assert resp.header("Content-Length") == str(len(data[first:end]))
    finally:
        stop(proc)

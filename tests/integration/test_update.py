"""``pypi-server update`` run as a real process against real upstream indexes.

The upstream is a second packyard server (PEP 691 JSON, relative file URLs, a yank made
with the real ``yank`` command, and one with basic auth), plus a small http.server stub
for what packyard never sends: an HTML-only index, a wrong digest, a garbled answer.
Nothing is downloaded from the internet: every distribution is built by tests/helpers/dists.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import queue
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from helpers import Server, add_user, clean_environ, start_server
from helpers.dists import make_sdist, make_wheel, wheel_bytes

from packyard.storage.staging import open_staging
from packyard.update import _size

USER, PASSWORD = "mirror", "s3cret-Pw"

# The local packages directory of every test (a fresh copy each time), sorted by name:
# alpha u, beta u (in sub/), delta u (a post-release), gamma ., ignored-pkg u, localonly e.
PROGRESS = "uuu.ue"
BANNER = re.compile(r"serving .* at http://127\.0\.0\.1:\d+/")


def run_update(
    *args: str | Path, home: Path, timeout: float = 120, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "packyard", "update", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_environ({"HOME": str(home), **(env or {})}),
    )


def files_under(directory: Path) -> set[str]:
    """Every file below ``directory`` (hidden ones too), as POSIX relpaths."""
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


def error_lines(result: subprocess.CompletedProcess[str]) -> list[str]:
    """stderr's lines, each checked to be a one-line ``pypi-server: error:``."""
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = result.stderr.splitlines()
    for line in lines:
        assert line.startswith("pypi-server: error: "), result.stderr
    return lines


def progress(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stdout.splitlines()
    assert lines[0].startswith("checking "), result.stdout
    return lines[1]


# --- the upstream indexes -----------------------------------------------------------------


@dataclass
class Upstream:
    server: Server
    packages: Path

    @property
    def index(self) -> str:
        return self.server.url + "simple/"


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    packages = tmp_path_factory.mktemp("upstream") / "packages"
    packages.mkdir()
    make_wheel(packages, "alpha", "1.0")
    make_wheel(packages, "alpha", "2.0")
    make_sdist(packages, "alpha", "2.0")
    _, data = wheel_bytes("alpha", "2.0")
    (packages / "alpha-2.0-cp311-cp311-manylinux_2_28_x86_64.whl").write_bytes(data)
    make_wheel(packages, "alpha", "3.0rc1")
    for version in ("1.0", "1.5", "2.0"):
        make_sdist(packages, "beta", version)
    make_wheel(packages, "delta", "1.0")
    make_wheel(packages, "delta", "1.0.post1")
    make_wheel(packages, "gamma", "1.0")
    make_wheel(packages, "ignored-pkg", "2.0")
    yank = subprocess.run(
        [sys.executable, "-m", "packyard", "yank", str(packages), "beta", "2.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environ(),
    )
    assert yank.returncode == 0, yank.stderr
    server = start_server("--disable-fallback", packages)
    yield Upstream(server, packages)
    server.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    """Reading needs a password (-a download,list)."""
    base = tmp_path_factory.mktemp("guarded")
    htpasswd = base / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    packages = base / "packages"
    packages.mkdir()
    make_wheel(packages, "alpha", "2.0")
    server = start_server("--disable-fallback", "-P", htpasswd, "-a", "download,list", packages)
    yield Upstream(server, packages)
    server.stop()


@dataclass
class Stub:
    """A plain http.server: ``routes`` maps a path to (content type, body)."""

    url: str
    routes: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@pytest.fixture(scope="module")
def stub() -> Iterator[Stub]:
    routes: dict[str, tuple[str, bytes]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = routes.get(self.path)
            if found is None:
                self.send_error(404)
                return
            content_type, body = found
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Stub(f"http://127.0.0.1:{httpd.server_address[1]}/", routes)
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def local(tmp_path: Path) -> Path:
    packages = tmp_path / "packages"
    (packages / "sub").mkdir(parents=True)
    (packages / ".hidden").mkdir()
    make_wheel(packages, "alpha", "1.0")
    make_sdist(packages / "sub", "beta", "1.0")
    make_wheel(packages, "delta", "1.0")
    make_wheel(packages, "gamma", "1.0")
    make_wheel(packages, "Ignored_Pkg", "1.0")
    make_wheel(packages, "localonly", "1.0")
    make_wheel(packages / ".hidden", "zeta", "1.0")  # hidden: never looked at
    return packages


@pytest.fixture
def home(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    directory.mkdir()
    return directory


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- against packyard (JSON) --------------------------------------------------------------


def test_dry_run_lists_the_updates_and_downloads_nothing(
    upstream: Upstream, local: Path, home: Path
) -> None:
    before = files_under(local)
    result = run_update("--index-url", upstream.index, local, home=home)
    assert result.returncode == 0, result
    assert error_lines(result) == []
    out = result.stdout
    assert out.startswith("checking 6 packages for newer version\n"), out
    assert progress(result) == PROGRESS
    assert f"no releases found on {upstream.index} for localonly" in out
    assert "# update alpha from 1.0 to 2.0\n" in out  # 3.0rc1 is a pre-release
    # Only the kind the local release has: the py3-none-any wheel, not the sdist or
    # the manylinux wheel.
    assert "    alpha-2.0-py3-none-any.whl (" in out
    assert f") -> {local}\n" in out
    assert "alpha-2.0.tar.gz" not in out
    assert "manylinux" not in out
    assert "# update beta from 1.0 to 1.5\n" in out  # 2.0 is yanked
    assert "beta-1.5.tar.gz (" in out
    assert f"-> {local / 'sub'}\n" in out
    assert "# update delta from 1.0 to 1.0.post1\n" in out  # a post-release is final
    assert "# update ignored-pkg from 1.0 to 2.0\n" in out
    assert "gamma" not in out.partition("\n\n")[2]
    assert "dry run" in out
    assert files_under(local) == before


def test_execute_downloads_the_chosen_files_byte_for_byte(
    upstream: Upstream, local: Path, home: Path
) -> None:
    before = files_under(local)
    result = run_update("-x", "--index-url", upstream.index, local, home=home)
    assert result.returncode == 0, result
    assert error_lines(result) == []
    new = {
        "alpha-2.0-py3-none-any.whl",
        "sub/beta-1.5.tar.gz",
        "delta-1.0.post1-py3-none-any.whl",
        "ignored_pkg-2.0-py3-none-any.whl",
    }
    assert files_under(local) == before | new  # no staging file left either
    for relpath in new:
        name = relpath.rpartition("/")[2]
        assert (local / relpath).read_bytes() == (upstream.packages / name).read_bytes(), name
    assert "alpha-2.0-py3-none-any.whl (" in result.stdout
    assert result.stdout.count(" ... done (") == 4
    assert "4 file(s) downloaded, 0 failed" in result.stdout

    again = run_update("-x", "--index-url", upstream.index, local, home=home)
    assert again.returncode == 0, again
    assert progress(again) == "....." + "e"  # everything up to date now
    assert "no updates found" in again.stdout
    assert files_under(local) == before | new


def test_allow_unstable_takes_pre_releases_but_never_yanked_ones(
    upstream: Upstream, local: Path, home: Path
) -> None:
    result = run_update("-u", "--index-url", upstream.index, local, home=home)
    assert result.returncode == 0, result
    assert "# update alpha from 1.0 to 3.0rc1\n" in result.stdout
    assert "alpha-3.0rc1-py3-none-any.whl" in result.stdout
    assert "# update beta from 1.0 to 1.5\n" in result.stdout  # 2.0 stays yanked


def test_ignore_list_uses_normalized_names(upstream: Upstream, local: Path, home: Path) -> None:
    ignore = home / "ignore.txt"
    ignore.write_text("# projects we patch ourselves\n\n  Ignored.PKG  \ngamma\n")
    result = run_update("--blacklist-file", ignore, "--index-url", upstream.index, local, home=home)
    assert result.returncode == 0, result
    assert result.stdout.startswith("checking 4 packages for newer version\n")
    assert progress(result) == "uuue"
    assert "ignored-pkg" not in result.stdout


def test_download_directory(upstream: Upstream, local: Path, home: Path, tmp_path: Path) -> None:
    target = tmp_path / "incoming"
    target.mkdir()
    before = files_under(local)
    result = run_update(
        "--execute",
        "--download-directory",
        target,
        "--ignorelist-file",
        _ignore(home, "beta", "delta", "ignored-pkg"),
        "--index-url",
        upstream.index,
        local,
        home=home,
    )
    assert result.returncode == 0, result
    assert files_under(target) == {"alpha-2.0-py3-none-any.whl"}
    assert files_under(local) == before
    assert (target / "alpha-2.0-py3-none-any.whl").read_bytes() == (
        upstream.packages / "alpha-2.0-py3-none-any.whl"
    ).read_bytes()


def _ignore(home: Path, *names: str) -> Path:
    path = home / "ignore.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_basic_auth_in_the_index_url(guarded: Upstream, tmp_path: Path, home: Path) -> None:
    packages = tmp_path / "mine"
    packages.mkdir()
    make_wheel(packages, "alpha", "1.0")
    host = guarded.server.url.removeprefix("http://")
    good = f"http://{USER}:{PASSWORD}@{host}simple/"
    result = run_update("-x", "--index-url", good, packages, home=home)
    assert result.returncode == 0, result
    assert (packages / "alpha-2.0-py3-none-any.whl").read_bytes() == (
        guarded.packages / "alpha-2.0-py3-none-any.whl"
    ).read_bytes()
    assert PASSWORD not in result.stdout + result.stderr

    (packages / "alpha-2.0-py3-none-any.whl").unlink()
    wrong = f"http://{USER}:not-{PASSWORD}@{host}simple/"
    denied = run_update("-x", "--index-url", wrong, packages, home=home)
    assert denied.returncode == 1, denied
    assert progress(denied) == "e"
    [line] = error_lines(denied)
    assert "HTTP 403" in line
    assert "password" in line
    assert PASSWORD not in denied.stdout + denied.stderr
    assert files_under(packages) == {"alpha-1.0-py3-none-any.whl"}


# --- errors -------------------------------------------------------------------------------


def test_unreachable_index(local: Path, home: Path) -> None:
    index = f"http://127.0.0.1:{closed_port()}/simple/"
    result = run_update("-x", "--index-url", index, local, home=home)
    assert result.returncode == 1, result
    assert progress(result) == "eeeeee"
    lines = error_lines(result)
    assert len(lines) == 6
    assert all("cannot reach" in line for line in lines), lines
    assert "# update" not in result.stdout


def test_silent_index_times_out(tmp_path: Path, home: Path) -> None:
    packages = _only_alpha(tmp_path)
    with socket.socket() as sock:  # accepts connections (backlog) but never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        index = f"http://127.0.0.1:{sock.getsockname()[1]}/simple/"
        result = run_update("--timeout", "0.3", "--index-url", index, packages, home=home)
    assert result.returncode == 1, result
    assert progress(result) == "e"
    [line] = error_lines(result)
    assert "timed out after 0.3 s" in line


def test_missing_ignore_file_is_a_usage_error(local: Path, home: Path) -> None:
    result = run_update("--ignorelist-file", home / "nope.txt", local, home=home)
    assert result.returncode == 2, result
    [line] = error_lines(result)
    assert "nope.txt" in line
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--index-url", "ftp://example.invalid/simple/"], "--index-url"),
        (["--bogus"], "--bogus"),
        (["--timeout", "0"], "--timeout"),
        (["--download-deadline", "0"], "--download-deadline"),
        (["--max-upload-size", "lots"], "--max-upload-size"),
        (["-d", "/nonexistent/dir"], "download directory"),
        (["/nonexistent/packages"], "packages directory"),
    ],
)
def test_usage_errors(args: list[str], fragment: str, home: Path, local: Path) -> None:
    result = run_update(*args, *([] if args[0].startswith("/") else [str(local)]), home=home)
    assert result.returncode == 2, result
    [line] = error_lines(result)
    assert fragment in line


@pytest.mark.parametrize(
    ("variable", "value"),
    [("PYPISERVER_DOWNLOAD_DEADLINE", "soon"), ("PYPISERVER_MAX_UPLOAD_SIZE", "0")],
)
def test_bad_environment_values_are_usage_errors(
    variable: str, value: str, home: Path, local: Path
) -> None:
    result = run_update(local, home=home, env={variable: value})
    assert result.returncode == 2, result
    [line] = error_lines(result)
    assert f"environment variable {variable}" in line
    assert result.stdout == ""


def test_a_update_is_still_an_option_of_run(tmp_path: Path, home: Path) -> None:
    """``-a update`` is the value of run's -a, not the subcommand: the legacy form serves."""
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    packages = _only_alpha(tmp_path)
    cmd = [sys.executable, "-m", "packyard", "-a", "update", "-P", str(htpasswd)]
    cmd += ["-p", "0", "-i", "127.0.0.1", str(packages)]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_environ({"HOME": str(home)}),
    )
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    seen = []
    try:
        while True:
            line = lines.get(timeout=30)
            seen.append(line)
            if not line or BANNER.search(line):
                break
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert BANNER.search(seen[-1]), "".join(seen)


def test_default_packages_directory_is_home_packages(
    upstream: Upstream, local: Path, home: Path
) -> None:
    shutil.copytree(local, home / "packages")
    result = run_update("--index-url", upstream.index, home=home)
    assert result.returncode == 0, result
    assert progress(result) == PROGRESS


# --- against a stub: HTML only, wrong digests, garbled answers ----------------------------


def _html_page(*anchors: str) -> tuple[str, bytes]:
    body = "<!DOCTYPE html><html><body>\n" + "\n".join(anchors) + "\n</body></html>\n"
    return "text/html; charset=utf-8", body.encode()


def _serve_wheel(stub: Stub, name: str, version: str) -> tuple[str, bytes]:
    filename, data = wheel_bytes(name, version)
    stub.routes[f"/files/{filename}"] = ("application/octet-stream", data)
    return filename, data


def _only_alpha(tmp_path: Path) -> Path:
    packages = tmp_path / "mine"
    packages.mkdir()
    make_wheel(packages, "alpha", "1.0")
    return packages


def test_html_only_index(stub: Stub, tmp_path: Path, home: Path) -> None:
    old, _ = _serve_wheel(stub, "alpha", "1.0")
    new, data = _serve_wheel(stub, "alpha", "2.0")
    yanked, _ = _serve_wheel(stub, "alpha", "2.5")
    digest = hashlib.sha256(data).hexdigest()
    stub.routes["/html/alpha/"] = _html_page(
        f'<a href="/files/{old}">{old}</a>',
        f'<a href="../../files/{new}#sha256={digest}" data-requires-python="&gt;=3.8">{new}</a>',
        f'<a href="../../files/{yanked}" data-yanked="broken">{yanked}</a>',
    )
    packages = _only_alpha(tmp_path)
    result = run_update("-x", "--index-url", stub.url + "html/", packages, home=home)
    assert result.returncode == 0, result
    assert "# update alpha from 1.0 to 2.0\n" in result.stdout
    assert f"{new} (size unknown, requires Python >=3.8) -> {packages} ... done" in result.stdout
    assert (packages / new).read_bytes() == data
    assert files_under(packages) == {old, new}


def test_wrong_digest_leaves_nothing(stub: Stub, tmp_path: Path, home: Path) -> None:
    new, data = _serve_wheel(stub, "alpha", "2.0")
    wrong = hashlib.sha256(data + b"x").hexdigest()
    stub.routes["/bad/alpha/"] = _html_page(f'<a href="../../files/{new}#sha256={wrong}">x</a>')
    packages = _only_alpha(tmp_path)
    result = run_update("-x", "--index-url", stub.url + "bad/", packages, home=home)
    assert result.returncode == 1, result
    assert f"{new} (size unknown) -> {packages} ... failed\n" in result.stdout
    [line] = error_lines(result)
    assert "sha256 mismatch" in line
    assert files_under(packages) == {"alpha-1.0-py3-none-any.whl"}  # no staging file left


def test_garbled_json_answer(stub: Stub, tmp_path: Path, home: Path) -> None:
    stub.routes["/garbled/alpha/"] = ("application/vnd.pypi.simple.v1+json", b"<html>oops")
    packages = _only_alpha(tmp_path)
    result = run_update("-x", "--index-url", stub.url + "garbled/", packages, home=home)
    assert result.returncode == 1, result
    assert progress(result) == "e"
    [line] = error_lines(result)
    assert "not valid JSON" in line
    assert "no releases found" not in result.stdout


def test_progress_wraps_every_40_packages(stub: Stub, tmp_path: Path, home: Path) -> None:
    packages = tmp_path / "many"
    packages.mkdir()
    for i in range(41):
        make_wheel(packages, f"p{i:02d}", "1.0")
    result = run_update("--index-url", stub.url + "empty/", packages, home=home)
    assert result.returncode == 0, result  # unknown projects are not failures
    lines = result.stdout.splitlines()
    assert lines[1:3] == ["e" * 40, "e"]


# --- against a hostile upstream (issue 12, item 17) ---------------------------------------
#
# A raw upstream served by the test: each route is a behaviour that writes what it likes
# to the socket (bytes past the advertised size, no end at all, one byte at a time, a
# redirect to another scheme). Every test bounds the run with a short subprocess timeout:
# before the fix several of these runs never ended.

Behaviour = Callable[[BaseHTTPRequestHandler], None]
ENDLESS_LIMIT = 512 << 20  # a hostile stream stops by itself after this many bytes
TRICKLE_FOR = 30.0  # seconds a trickle goes on (if nobody cuts it off)


@dataclass
class Hostile:
    url: str
    routes: dict[str, Behaviour] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)


@pytest.fixture(scope="module")
def hostile() -> Iterator[Hostile]:
    state = Hostile("")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.hits[self.path] = state.hits.get(self.path, 0) + 1
            behaviour = state.routes.get(self.path)
            if behaviour is None:
                self.send_error(404)
                return
            with contextlib.suppress(OSError):  # the client went away: that is the point
                behaviour(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def _json_page(*entries: dict[str, object]) -> Behaviour:
    body = json.dumps({"meta": {"api-version": "1.0"}, "name": "alpha", "files": entries})
    return _fixed("application/vnd.pypi.simple.v1+json", body.encode())


def _fixed(content_type: str, body: bytes) -> Behaviour:
    def behaviour(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return behaviour


def _endless(state: Hostile, path: str, head: bytes, length: int | None = None) -> Behaviour:
    """``head``, then zeros without end (up to ENDLESS_LIMIT), counting what was sent."""

    def behaviour(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", "application/octet-stream")
        if length is not None:
            handler.send_header("Content-Length", str(length))
        handler.end_headers()
        handler.wfile.write(head)
        state.sent[path] = len(head)
        zeros = bytes(1 << 16)
        while state.sent[path] < ENDLESS_LIMIT:
            handler.wfile.write(zeros)
            state.sent[path] += len(zeros)

    return behaviour


def _trickle(raw_head: bytes) -> Behaviour:
    """``raw_head`` one byte every 50 ms, then one byte of body every 50 ms: each read
    gets something well within any socket timeout, so only a deadline ends it."""

    def behaviour(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        ends = time.monotonic() + TRICKLE_FOR
        data = iter(raw_head)
        while time.monotonic() < ends:
            handler.wfile.write(bytes([next(data, 48)]))
            time.sleep(0.05)

    return behaviour


def _alpha_wheel(state: Hostile, prefix: str) -> tuple[str, bytes, str]:
    filename, data = wheel_bytes("alpha", "2.0")
    return filename, data, f"/{prefix}/files/{filename}"


def _entry(filename: str, path: str, data: bytes, **extra: object) -> dict[str, object]:
    return {
        "filename": filename,
        "url": path,
        "hashes": {"sha256": hashlib.sha256(data).hexdigest()},
        **extra,
    }


def test_a_file_longer_than_the_index_says_is_cut_off_at_size_plus_one(
    hostile: Hostile, tmp_path: Path, home: Path
) -> None:
    filename, data, path = _alpha_wheel(hostile, "longer")
    hostile.routes["/longer/alpha/"] = _json_page(_entry(filename, path, data, size=len(data)))
    hostile.routes[path] = _endless(hostile, path, data)  # no Content-Length, no end
    packages = _only_alpha(tmp_path)
    result = run_update(
        "-x", "--index-url", hostile.url + "longer/", packages, home=home, timeout=60
    )
    assert result.returncode == 1, result
    assert f"{filename} ({_size(len(data))}) -> {packages} ... failed\n" in result.stdout
    [line] = error_lines(result)
    assert f"more than {len(data)} bytes (the index's size); cut off there, not stored" in line
    assert files_under(packages) == {"alpha-1.0-py3-none-any.whl"}  # no staging file left
    assert hostile.sent[path] < ENDLESS_LIMIT // 4  # what the socket buffers took, no more


@pytest.mark.parametrize("announced", [False, True], ids=["no-content-length", "content-length"])
@pytest.mark.parametrize("how", ["option", "environment"])
def test_a_file_without_a_size_is_capped_at_max_upload_size(
    hostile: Hostile, tmp_path: Path, home: Path, announced: bool, how: str
) -> None:
    prefix = f"cap-{how}-{announced}"
    filename, data, path = _alpha_wheel(hostile, prefix)
    digest = hashlib.sha256(data).hexdigest()
    hostile.routes[f"/{prefix}/alpha/"] = _fixed(
        "text/html", f'<a href="{path}#sha256={digest}">{filename}</a>'.encode()
    )
    hostile.routes[path] = _endless(hostile, path, data, 200 << 30 if announced else None)
    packages = _only_alpha(tmp_path)
    args: list[str | Path] = ["-x", "--index-url", f"{hostile.url}{prefix}/", packages]
    env = {}
    if how == "option":
        args[:0] = ["--max-upload-size", "64K"]
    else:
        env["PYPISERVER_MAX_UPLOAD_SIZE"] = "64K"
    result = run_update(*args, home=home, timeout=60, env=env)
    assert result.returncode == 1, result
    [line] = error_lines(result)
    if announced:  # refused from the headers, before a byte of the body is read
        assert f"{200 << 30} bytes, more than --max-upload-size (65536); not downloaded" in line
    else:
        assert "more than 65536 bytes (--max-upload-size); cut off there, not stored" in line
    assert files_under(packages) == {"alpha-1.0-py3-none-any.whl"}
    assert hostile.sent[path] < ENDLESS_LIMIT // 4


def test_a_file_the_index_says_is_too_large_is_not_requested(
    hostile: Hostile, tmp_path: Path, home: Path
) -> None:
    filename, data, path = _alpha_wheel(hostile, "huge")
    hostile.routes["/huge/alpha/"] = _json_page(_entry(filename, path, data, size=1 << 40))
    hostile.routes[path] = _fixed("application/octet-stream", data)
    packages = _only_alpha(tmp_path)
    args = ("-x", "--max-upload-size", "1M", "--index-url", hostile.url + "huge/", packages)
    result = run_update(*args, home=home, timeout=60)
    assert result.returncode == 1, result
    [line] = error_lines(result)
    assert f"{1 << 40} bytes, more than --max-upload-size ({1 << 20}); not downloaded" in line
    assert path not in hostile.hits
    assert files_under(packages) == {"alpha-1.0-py3-none-any.whl"}


@pytest.mark.parametrize(
    ("where", "how"),
    [("page-headers", "option"), ("file-headers", "option"), ("file-body", "environment")],
)
def test_a_trickle_is_cut_off_at_the_download_deadline(
    hostile: Hostile, tmp_path: Path, home: Path, where: str, how: str
) -> None:
    prefix = f"trickle-{where}-{how}"
    filename, data, path = _alpha_wheel(hostile, prefix)
    page = f"/{prefix}/alpha/"
    head = b"HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n"
    if where == "page-headers":
        hostile.routes[page] = _trickle(head + b"X-Slow: " + b"y" * 10_000)
    else:
        hostile.routes[page] = _json_page(_entry(filename, path, data))
        body = b"X-Slow: " + b"y" * 10_000 if where == "file-headers" else b"\r\n"
        hostile.routes[path] = _trickle(head + body)
    packages = _only_alpha(tmp_path)
    # --timeout (per read) is far longer than the 50 ms between bytes: only the
    # deadline can end this.
    args: list[str | Path] = ["-x", "--timeout", "5", "--index-url", hostile.url + prefix + "/"]
    env = {}
    if how == "option":
        args += ["--download-deadline", "1"]
    else:
        env["PYPISERVER_DOWNLOAD_DEADLINE"] = "1"
    result = run_update(*args, packages, home=home, timeout=20, env=env)
    assert result.returncode == 1, result
    [line] = error_lines(result)
    url = hostile.url.rstrip("/") + (page if where == "page-headers" else path)
    assert f"{url}: not finished after 1 s, cut off (--download-deadline)" in line
    assert files_under(packages) == {"alpha-1.0-py3-none-any.whl"}


def test_redirects_are_followed_only_to_http(hostile: Hostile, tmp_path: Path, home: Path) -> None:
    _, data = wheel_bytes("alpha", "2.0")
    # Three files of one release, all chosen (each has a py3-none-any tag), each
    # behind a redirect.
    names = {
        "file": "alpha-2.0-py3-none-any.whl",
        "ftp": "alpha-2.0-py2.py3-none-any.whl",
        "http": "alpha-2.0-py3.py38-none-any.whl",
    }
    with socket.socket() as ftp:  # an FTP server that must never be contacted
        ftp.bind(("127.0.0.1", 0))
        ftp.listen(8)
        ftp.setblocking(False)
        targets = {
            "file": "file:///etc/passwd",
            "ftp": f"ftp://127.0.0.1:{ftp.getsockname()[1]}/{names['ftp']}",
            "http": f"/redirect/real/{names['http']}",
        }
        entries = []
        for scheme, target in targets.items():
            hostile.routes[f"/redirect/{scheme}/{names[scheme]}"] = _redirect(target)
            entries.append(_entry(names[scheme], f"/redirect/{scheme}/{names[scheme]}", data))
        hostile.routes[targets["http"]] = _fixed("application/octet-stream", data)
        hostile.routes["/redirect/alpha/"] = _json_page(*entries)
        packages = _only_alpha(tmp_path)
        result = run_update("-x", "--index-url", hostile.url + "redirect/", packages, home=home)
        with pytest.raises(BlockingIOError):
            ftp.accept()
    assert result.returncode == 1, result
    lines = error_lines(result)
    assert len(lines) == 2, lines
    assert f"redirected to {targets['ftp']}; refused, only http(s) redirects" in lines[0]
    assert "redirected to file:///etc/passwd; refused, only http(s) redirects" in lines[1]
    assert files_under(packages) == {"alpha-1.0-py3-none-any.whl", names["http"]}
    assert (packages / names["http"]).read_bytes() == data


def _redirect(location: str) -> Behaviour:
    def behaviour(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return behaviour


def test_a_killed_runs_staging_file_is_removed_by_the_next_run(
    hostile: Hostile, tmp_path: Path, home: Path
) -> None:
    filename, data, path = _alpha_wheel(hostile, "killed")
    hostile.routes["/killed/alpha/"] = _json_page(_entry(filename, path, data))
    hostile.routes[path] = _trickle(b"HTTP/1.0 200 OK\r\n\r\n")  # a body that never ends
    packages = _only_alpha(tmp_path)
    index = hostile.url + "killed/"
    proc = subprocess.Popen(
        [sys.executable, "-m", "packyard", "update", "-x", "--index-url", index, str(packages)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_environ({"HOME": str(home)}),
    )
    try:
        ends = time.monotonic() + 30
        while not list(packages.glob(".packyard-upload-*.tmp")) and time.monotonic() < ends:
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait(timeout=10)
    [left] = packages.glob(".packyard-upload-*.tmp")
    # A staging file still being written by a live process (it holds the lock) stays.
    live_path, live = open_staging(str(packages))
    with live:
        result = run_update("--index-url", index, packages, home=home, timeout=60)
        assert result.returncode == 0, result
        assert f"removed 1 unfinished download(s) left in {packages}\n" in result.stdout
        assert not left.exists()
        assert Path(live_path).exists()
    Path(live_path).unlink()

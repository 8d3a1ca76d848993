"""packyard's waitress transport (issue 12, items 1-3), over raw sockets.

- A body is read only once its request is known to be allowed: refused uploads, POSTs
  to paths that take no body and oversized uploads are answered from the head alone,
  with no ``100 Continue`` and no temporary file.
- A client that trickles its request head is cut off at --header-timeout, and one
  address cannot hold more than --max-connections-per-address connections.
- Pipelined requests behind a large answer the client never reads hold no thread.
"""

from __future__ import annotations

import base64
import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Server, add_user, start_server, wait_for
from helpers.dists import wheel_bytes
from helpers.forms import encode_form

USER, PASSWORD = "gate", "gate-pw"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
BAD_AUTH = "Basic " + base64.b64encode(f"{USER}:wrong".encode()).decode()
HUGE = 5 << 30  # a Content-Length far beyond anything sent


def address(server: Server) -> tuple[str, int]:
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: packyard.test", *map(": ".join, headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


@dataclass
class Answer:
    raw: bytes
    closed: bool  # the server closed the connection after its answer

    @property
    def status(self) -> int:
        return int(self.raw.split(b" ", 2)[1])

    def header(self, name: str) -> str | None:
        head_text = self.raw.partition(b"\r\n\r\n")[0].decode("latin-1")
        for line in head_text.split("\r\n")[1:]:
            key, _, value = line.partition(":")
            if key.strip().lower() == name.lower():
                return value.strip()
        return None

    @property
    def body(self) -> bytes:
        return self.raw.partition(b"\r\n\r\n")[2]


def read_answer(sock: socket.socket) -> Answer:
    """Everything until the server closes (or the socket's timeout, which fails)."""
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        return Answer(b"".join(chunks), closed=False)
    except ConnectionResetError:
        pass
    return Answer(b"".join(chunks), closed=True)


def head_only(server: Server, data: bytes, timeout: float = 5.0) -> Answer:
    """Send a request head (no byte of its body) and read the answer."""
    with socket.create_connection(address(server), timeout=timeout) as sock:
        sock.sendall(data)
        return read_answer(sock)


# --- item 2: the gate ----------------------------------------------------------------


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Path]]:
    root = tmp_path_factory.mktemp("gate")
    htpasswd = root / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    packages = root / "packages"
    packages.mkdir()
    tmp = root / "tmp"  # waitress spools bodies here (TMPDIR)
    tmp.mkdir()
    server = start_server(
        "-P", htpasswd, "-a", "update", "--max-upload-size", "1M", packages,
        env={"TMPDIR": str(tmp)},
    )  # fmt: skip
    yield server, tmp
    server.stop()


FORM = {"Content-Type": "multipart/form-data; boundary=x", "Content-Length": str(HUGE)}
# name: (method, path, headers, status, words of the application's own answer)
REFUSED = {
    "anonymous-upload": ("POST", "/", FORM, 401, "'update' needs a user and password"),
    "anonymous-upload-expect-100": (
        "POST", "/", {**FORM, "Expect": "100-continue"}, 401, "needs a user and password",
    ),
    "anonymous-legacy-chunked": (
        "POST", "/legacy/",
        {"Content-Type": "multipart/form-data; boundary=x", "Transfer-Encoding": "chunked"},
        401, "needs a user and password",
    ),
    "wrong-password": ("POST", "/", {**FORM, "Authorization": BAD_AUTH}, 403, "wrong user"),
    "too-large": (
        "POST", "/", {**FORM, "Authorization": AUTH, "Content-Length": str(200 << 20)},
        413, "Upload too large: the limit is 1048576 bytes",
    ),
    "too-large-expect-100": (
        "POST", "/legacy",
        {**FORM, "Authorization": AUTH, "Content-Length": str(200 << 20),
         "Expect": "100-continue"},
        413, "Upload too large",
    ),
    "post-to-a-page": ("POST", "/simple/", {**FORM, "Authorization": AUTH}, 405, ""),
    "post-to-nothing": ("POST", "/no/such/page", {**FORM, "Authorization": AUTH}, 404, ""),
    "put-to-upload": ("PUT", "/", {**FORM, "Authorization": AUTH}, 405, ""),
    "xmlrpc-too-large": (
        "POST", "/RPC2", {"Content-Type": "text/xml", "Content-Length": str(2 << 20)},
        413, "XML-RPC request larger than",
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refused_body_is_answered_from_the_head(gated: tuple[Server, Path], case: str) -> None:
    """Only the head is sent: the application's refusal comes at once, with no
    100 Continue before it, and the connection is closed after it."""
    server, _tmp = gated
    method, path, headers, status, words = REFUSED[case]
    answer = head_only(server, head(method, path, headers))
    assert answer.raw.startswith(f"HTTP/1.1 {status} ".encode()), answer
    assert b"100 Continue" not in answer.raw
    assert answer.closed, answer
    assert answer.header("Connection") == "close"
    assert words.encode() in answer.body, answer
    if status == 401:
        assert answer.header("WWW-Authenticate") == 'Basic realm="pypi"'


def server_tmp_files(server: Server, tmp: Path) -> list[str]:
    """The server's open files inside its TMPDIR (spooled bodies; unnamed O_TMPFILE
    files show there as '<dir>/#<inode> (deleted)')."""
    fds = Path(f"/proc/{server.process.pid}/fd")
    links = []
    for fd in fds.iterdir():
        try:
            links.append(os.readlink(fd))
        except OSError:
            continue  # closed meanwhile
    return [link for link in links if link.startswith(str(tmp))]


def test_a_refused_body_is_never_spooled(gated: tuple[Server, Path]) -> None:
    """2 MiB of a body for a page (waitress spools more than 512 KiB to a temporary
    file): nothing of it is written, and the 405 comes from the head."""
    server, tmp = gated
    data = head("POST", "/simple/", {**FORM, "Content-Length": str(64 << 20)})
    with socket.create_connection(address(server), timeout=5) as sock:
        sock.sendall(data)

        def send_body() -> None:
            try:
                for _ in range(32):
                    sock.sendall(b"\0" * (64 << 10))
            except OSError:
                pass  # the server answered and closed

        sender = threading.Thread(target=send_body, daemon=True)
        sender.start()
        sender.join(2)
        # A spooling server has its temporary file open while it waits for the rest.
        spooled = wait_for(lambda: server_tmp_files(server, tmp) != [], timeout=3)
        answer = read_answer(sock)
    assert not spooled
    assert answer.raw.startswith(b"HTTP/1.1 405 "), answer


def test_an_allowed_upload_with_expect_continue_is_stored(gated: tuple[Server, Path]) -> None:
    server, _tmp = gated
    filename, data = wheel_bytes("gated", "1.0")
    body, content_type = encode_form(
        [(":action", "file_upload"), ("name", "gated"), ("version", "1.0")], (filename, data)
    )
    headers = {
        "Authorization": AUTH,
        "Content-Type": content_type,
        "Content-Length": str(len(body)),
        "Expect": "100-continue",
    }
    with socket.create_connection(address(server), timeout=5) as sock:
        sock.sendall(head("POST", "/", headers))
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        answer = read_answer(sock)
    assert answer.raw.startswith(b"HTTP/1.1 200 "), answer


def test_the_gate_knows_the_base_url(tmp_path: Path) -> None:
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    server = start_server(
        "-P", htpasswd, "-a", "update", "--server-base-url", "/pypi", tmp_path
    )  # fmt: skip
    try:
        answer = head_only(server, head("POST", "/pypi/", FORM))
        assert answer.status == 401, answer
        answer = head_only(server, head("POST", "/", {**FORM, "Authorization": AUTH}))
        assert answer.status == 404, answer
        assert b"served under /pypi/" in answer.body
    finally:
        server.stop()


# --- item 3: slow clients ------------------------------------------------------------


def test_a_client_trickling_its_head_is_cut_off(tmp_path: Path) -> None:
    server = start_server("-v", "--header-timeout", "2", tmp_path)
    try:
        with socket.create_connection(address(server), timeout=1) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nX-Slow: ")
            started = time.monotonic()
            closed = False
            while time.monotonic() - started < 10 and not closed:
                try:
                    sock.sendall(b"a")
                    closed = sock.recv(1) == b""
                except TimeoutError:
                    continue  # still open: send the next byte
                except OSError:
                    closed = True
            took = time.monotonic() - started
        assert closed, "a trickling client was never cut off"
        assert 1.5 < took < 6, took
        # The server logs the cut-off just after closing: wait for the line.
        assert wait_for(lambda: "--header-timeout" in server.log_text(), timeout=5)
    finally:
        server.stop()


def trickle(sockets: list[socket.socket], stop: threading.Event) -> None:
    """A byte of a request head on every connection now and then."""
    message = b"GET /health HTTP/1.1\r\nX-Slow: "
    while True:
        for sock in sockets:
            with contextlib.suppress(OSError):  # refused or cut off
                sock.send(message)
        message = b"a"
        if stop.wait(0.5):
            return


def test_one_address_cannot_take_every_connection(tmp_path: Path) -> None:
    """200 trickling connections from 127.0.0.1 against a limit of 100: a client on
    127.0.0.2 is still served at once (each address holds at most a quarter)."""
    server = start_server("--connection-limit", "100", tmp_path)
    host, port = address(server)
    sockets = []
    stop = threading.Event()
    try:
        for _ in range(200):
            sock = socket.socket()
            sock.settimeout(5)
            sock.connect((host, port))
            sockets.append(sock)
        thread = threading.Thread(target=trickle, args=(sockets, stop), daemon=True)
        thread.start()
        time.sleep(1)
        with socket.socket() as other:
            other.settimeout(2)
            other.bind(("127.0.0.2", 0))
            other.connect((host, port))
            other.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            answer = read_answer(other)
        assert answer.raw.startswith(b"HTTP/1.1 200 "), answer
        stop.set()
        thread.join(5)
    finally:
        stop.set()
        for sock in sockets:
            sock.close()
        server.stop()


# --- item 1: pipelined requests behind an answer nobody reads --------------------------


def test_pipelined_requests_behind_unread_files_hold_no_thread(tmp_path: Path) -> None:
    threads = 2
    (tmp_path / "big-1.0.tar.gz").write_bytes(b"\0" * (64 << 20))
    server = start_server("--threads", str(threads), tmp_path)
    host, port = address(server)
    request = b"GET /packages/big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n"
    readers = []
    try:
        for _ in range(threads + 2):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect((host, port))
            sock.sendall(request * 2)  # and never read
            readers.append(sock)
        time.sleep(1)
        for _ in range(3):
            with socket.create_connection((host, port), timeout=1) as sock:
                sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = read_answer(sock)
            assert answer.raw.startswith(b"HTTP/1.1 200 "), answer
    finally:
        for sock in readers:
            sock.close()
        server.stop()


def test_a_parked_connection_that_never_reads_is_closed(tmp_path: Path) -> None:
    """The request waiting behind an unread answer does not keep its connection
    open past --channel-timeout: reading afterwards gets what the buffers held, then
    the end, not the two whole files."""
    (tmp_path / "big-1.0.tar.gz").write_bytes(b"\0" * (64 << 20))
    server = start_server("--channel-timeout", "2", tmp_path)
    try:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.settimeout(5)
            sock.connect(address(server))
            sock.sendall(b"GET /packages/big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\n\r\n" * 2)
            time.sleep(8)
            received = 0
            with contextlib.suppress(ConnectionResetError):
                while chunk := sock.recv(1 << 20):
                    received += len(chunk)
        assert received < 64 << 20
    finally:
        server.stop()


def test_a_pipelined_request_is_answered_once_the_first_is_read(tmp_path: Path) -> None:
    """The parked request runs when the client reads: both files arrive whole."""
    size = 40 << 20
    (tmp_path / "big-1.0.tar.gz").write_bytes(b"\1" * size)
    server = start_server("--threads", "1", tmp_path)
    try:
        with socket.create_connection(address(server), timeout=10) as sock:
            request = b"GET /packages/big-1.0.tar.gz HTTP/1.1\r\nHost: x\r\n"
            sock.sendall(request + b"\r\n" + request + b"Connection: close\r\n\r\n")
            time.sleep(0.5)
            answer = read_answer(sock)
        assert answer.closed
        assert answer.raw.count(b"HTTP/1.1 200 OK") == 2
        assert len(answer.raw) > 2 * size
    finally:
        server.stop()


# --- the same refusals under gunicorn ---------------------------------------------------


def test_gunicorn_answers_refused_bodies_from_the_head(tmp_path: Path) -> None:
    """Under gunicorn the body is read only when the application reads wsgi.input:
    refusals come from the head. (gunicorn itself sends 100 Continue before the
    application runs, for any request that asks; see docs/security.md.)"""
    from test_multiprocess import answers, start_gunicorn, stop

    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    packages = tmp_path / "packages"
    packages.mkdir()
    env = {
        "PYPISERVER_PASSWORDS": str(htpasswd),
        "PYPISERVER_AUTHENTICATE": "update",
        "PYPISERVER_MAX_UPLOAD_SIZE": "1M",
    }
    proc, url = start_gunicorn(packages, 1, env)
    server = Server(proc, url)  # for address()
    try:
        assert wait_for(lambda: answers(url), timeout=30), stop(proc)
        for case in ("anonymous-upload", "too-large", "xmlrpc-too-large", "wrong-password"):
            method, path, headers, status, words = REFUSED[case]
            answer = head_only(server, head(method, path, headers))
            assert answer.raw.startswith(f"HTTP/1.1 {status} ".encode()), (case, answer)
            assert words.encode() in answer.body, (case, answer)
    finally:
        stop(proc)

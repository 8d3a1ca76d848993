"""Hostile input against a running server (issue 7).

Every case is sent byte for byte over a raw socket (urllib and http.client would
normalize paths, refuse CR/LF, or give up on enormous headers). Each must get a 4xx, or
be served correctly: never a 5xx, never a traceback in the body or in the server's log,
never a hang; and afterwards ``/health`` and ``/simple/`` still answer 200.

Cases that tests/integration/test_upload_api.py, test_http_files.py, test_http_index.py,
test_modern_api.py and test_limits.py already cover (``../`` filenames, simple header
splitting, ``bytes=abc``, billion laughs, ...) are not repeated here; this file adds the
variants they do not reach.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from helpers import Server, Site, add_user, http, start_server, wait_for
from helpers.dists import metadata_text, sdist_bytes, wheel_bytes

USER, PASSWORD = "hostile", "hostile-pw"
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

WHEEL_NAME, WHEEL_DATA = wheel_bytes("foo-bar", "1.0")
ODD_SDIST_NAME, ODD_SDIST_DATA = sdist_bytes("Foo_Bar", "1.0+local")
# Subdirectories of a packages directory may have any name: it shows in /packages/ and
# in every link to the files inside.
HOSTILE_DIRS = {"<svg onload=alert(1)>": "1.0", "\"'><b>&amp;": "2.0"}
XSS_SUMMARY = "<script>alert(2)</script>"
XSS_REQUIRES_PYTHON = '"><script>alert(1)</script>'
BIG = "1" * 5000  # more digits than int() converts (sys.get_int_max_str_digits(): 4300)


# --- the server --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("hostile")
    htpasswd = root / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    packages = root / "packages"
    packages.mkdir()
    (packages / WHEEL_NAME).write_bytes(WHEEL_DATA)
    (packages / ODD_SDIST_NAME).write_bytes(ODD_SDIST_DATA)
    for directory, version in HOSTILE_DIRS.items():
        (packages / directory).mkdir()
        name, data = sdist_bytes("xss-dir", version)
        (packages / directory / name).write_bytes(data)
    metadata = metadata_text(
        "xss-meta", "1.0", requires_python=XSS_REQUIRES_PYTHON, summary=XSS_SUMMARY
    ).encode()
    name, data = wheel_bytes("xss-meta", "1.0", metadata=metadata)
    (packages / name).write_bytes(data)
    server = start_server("-v", "-P", htpasswd, "-a", "update", "--disable-fallback", packages)
    yield Site(server, packages)
    server.stop()


# --- raw requests ------------------------------------------------------------------------


@dataclass
class Raw:
    """What came back on one connection. ``status`` is None when the server closed it
    (or the client gave up: ``timed_out``) without an answer."""

    status: int | None
    reason: str
    headers: list[tuple[str, str]]
    body: bytes
    timed_out: bool = False

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __str__(self) -> str:
        head = f"{self.status} {self.reason!r} timed_out={self.timed_out}"
        return f"{head}\n{self.headers}\n{self.body[:600]!r}"


def parse_answer(raw: bytes, timed_out: bool) -> Raw:
    while raw.startswith(b"HTTP/1.1 1"):  # interim answers (100 Continue)
        raw = raw.partition(b"\r\n\r\n")[2]
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        return Raw(None, "", [], raw, timed_out)
    lines = head.decode("latin-1").split("\r\n")
    _version, status, reason = ([*lines[0].split(" ", 2), ""])[:3]
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines[1:])]
    return Raw(int(status), reason, headers, body, timed_out)


def address(site: Site) -> tuple[str, int]:
    parts = urlsplit(site.server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return parts.hostname, parts.port


def exchange(site: Site, data: bytes, *, timeout: float = 15.0, half_close: bool = False) -> Raw:
    """Send ``data`` as it is and read until the server closes the connection. Sending
    runs in a thread of its own, so an answer that comes before the whole request was
    taken (a 431, a 413) is read, not lost in a reset."""
    with socket.create_connection(address(site), timeout=timeout) as sock:

        def send() -> None:
            try:
                sock.sendall(data)
                if half_close:
                    sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server answered and closed before taking everything

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        chunks = []
        timed_out = False
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        except TimeoutError:
            timed_out = True
        except ConnectionResetError:
            pass
        sender.join(timeout)
    return parse_answer(b"".join(chunks), timed_out)


def request(
    site: Site,
    method: str | bytes,
    target: str | bytes,
    headers: list[tuple[str, str | bytes]] | None = None,
    body: bytes = b"",
    version: str = "HTTP/1.1",
) -> bytes:
    """A request as bytes: header values given as str are sent as latin-1."""

    def raw(value: str | bytes) -> bytes:
        return value if isinstance(value, bytes) else value.encode("latin-1")

    host, port = address(site)
    out = raw(method) + b" " + raw(target) + b" " + raw(version) + b"\r\n"
    out += f"Host: {host}:{port}\r\nConnection: close\r\n".encode()
    for key, value in headers or []:
        out += raw(key) + b": " + raw(value) + b"\r\n"
    return out + b"\r\n" + body


def get(
    site: Site, target: str | bytes, headers: list[tuple[str, str | bytes]] | None = None
) -> Raw:
    return exchange(site, request(site, "GET", target, headers))


# --- the verdict on each case ------------------------------------------------------------


class Watch:
    """The server's log from the start of a case on."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.start = len(server.output)

    def text(self) -> str:
        return "".join(self.server.output[self.start :])

    def excerpt(self) -> str:
        """The log for an assertion message: long lines (a 60 KB path) cut short."""
        lines = [line[:500] for line in self.text().splitlines()]
        return "\n".join(lines[-80:])


_probes = iter(range(1_000_000))


def still_serving(site: Site, watch: Watch) -> None:
    """The server answers ordinary requests after the case; and everything it logged
    for the case has been read (the access line of this probe comes after it)."""
    probe = next(_probes)
    health = http(site.server.url + f"health?after={probe}")
    assert health.status == 200, f"/health after the case: {health.status}\n{watch.excerpt()}"
    simple = http(site.server.url + "simple/")
    assert simple.status == 200, f"/simple/ after the case: {simple.status}\n{watch.excerpt()}"
    wait_for(lambda: f"/health?after={probe} " in watch.text(), timeout=3)


def verdict(
    site: Site,
    watch: Watch,
    reply: Raw,
    allowed: set[int | None],
    needle: str | tuple[str, ...] | None = None,
) -> None:
    """The case's answer is one of ``allowed``, says ``needle`` (one of them) in its
    reason phrase or body, shows no traceback, reflects no markup, injects no header,
    left no traceback in the log; and the server keeps serving."""
    context = f"answer: {reply}\nserver log:\n{watch.excerpt()}"
    assert reply.status in allowed, context
    assert b"Traceback" not in reply.body, context
    assert b'File "' not in reply.body, context
    if needle is not None:
        needles = (needle,) if isinstance(needle, str) else needle
        said = reply.reason + "\n" + reply.body.decode("utf-8", "replace")
        assert any(n in said for n in needles), context
    content_type = (reply.header("Content-Type") or "").lower()
    if "html" in content_type:
        lowered = reply.body.lower()
        for markup in (b"<script", b"<svg", b"<b>", b"<img"):
            assert markup not in lowered, context
    names = {k.lower() for k, _ in reply.headers}
    assert not names & {"set-cookie", "x-evil", "x-injected"}, context
    for key, value in reply.headers:
        assert "\r" not in key + value, context
        assert "\n" not in key + value, context
    location = reply.header("Location")
    if location is not None:
        # Relative, and never leading to another host.
        assert not location.startswith(("//", "/\\", "\\")), context
        assert "://" not in location.split("?", 1)[0], context
    still_serving(site, watch)
    log = watch.text()
    context = f"answer: {reply}\nserver log:\n{watch.excerpt()}"
    assert "Traceback" not in log, context
    assert "uncaptured python exception" not in log, context


def listing(directory: Path) -> list[str]:
    """Every entry below ``directory``, hidden ones (staging files) included, except the
    server's ledger."""
    found = []
    for root, dirs, files in os.walk(directory):
        if root == str(directory) and ".packyard" in dirs:
            dirs.remove(".packyard")
        found += [os.path.relpath(os.path.join(root, e), directory) for e in dirs + files]
    return sorted(found)


# --- 1. multipart upload bodies ------------------------------------------------------------

BOUNDARY = b"hostile-boundary-7"
CT = "multipart/form-data; boundary=" + BOUNDARY.decode()


def part(disposition: bytes, data: bytes, extra: bytes = b"") -> bytes:
    return (
        b"--"
        + BOUNDARY
        + b"\r\nContent-Disposition: "
        + disposition
        + b"\r\n"
        + extra
        + (b"\r\n" + data + b"\r\n")
    )


def field(name: bytes, value: bytes) -> bytes:
    return part(b'form-data; name="' + name + b'"', value)


def file_part(filename: bytes, data: bytes, param: bytes = b"filename") -> bytes:
    if param == b"filename":
        return part(b'form-data; name="content"; filename="' + filename + b'"', data)
    return part(b'form-data; name="content"; ' + param + b"=" + filename, data)


END = b"--" + BOUNDARY + b"--\r\n"
ACTION = field(b":action", b"file_upload")
GOOD_NAME, GOOD_DATA = sdist_bytes("hostile-upload", "1.0")


def upload_form(filename: bytes, *, param: bytes = b"filename", data: bytes = GOOD_DATA) -> bytes:
    return ACTION + field(b"name", b"hostile-upload") + file_part(filename, data, param) + END


@dataclass
class Upload:
    body: bytes
    allowed: set[int | None]
    needle: str | tuple[str, ...] | None
    content_type: str | None = CT
    headers: tuple[tuple[str, str], ...] = ()
    length: str | None = None  # Content-Length as sent; None: the real one


UPLOADS = {
    # --- the form's framing
    "no-boundary-param": Upload(ACTION + END, {400}, "no usable boundary", "multipart/form-data"),
    "empty-boundary": Upload(ACTION + END, {400}, "no usable boundary", CT.split("=")[0] + "="),
    "boundary-71-chars": Upload(
        ACTION + END, {400}, "no usable boundary", "multipart/form-data; boundary=" + "b" * 71
    ),
    "boundary-with-tab": Upload(
        ACTION + END, {400}, "no usable boundary", 'multipart/form-data; boundary="a\tb"'
    ),
    "boundary-never-appears-short": Upload(b"just some bytes\r\n", {400}, "has no parts"),
    "boundary-never-appears-long": Upload(b"x" * 100_000, {400}, "does not start with"),
    "closing-boundary-missing": Upload(ACTION, {400}, "ends before its closing boundary"),
    "closing-boundary-without-dashes": Upload(
        ACTION + b"--" + BOUNDARY + b"\r\n", {400}, "ends inside part headers"
    ),
    "delimiter-line-garbage": Upload(
        ACTION + b"--" + BOUNDARY + b"garbage\r\n" + END, {400}, "malformed multipart delimiter"
    ),
    "part-without-content-disposition": Upload(
        b"--" + BOUNDARY + b"\r\nX-Other: 1\r\n\r\nx\r\n" + END,
        {400},
        "no Content-Disposition",
    ),
    "part-not-form-data": Upload(
        part(b'attachment; name="content"; filename="x.whl"', b"x") + END,
        {400},
        "not a named form-data field",
    ),
    "part-without-name": Upload(
        part(b'form-data; filename="x.whl"', b"x") + END, {400}, "not a named form-data field"
    ),
    # --- sizes and counts
    "ten-thousand-fields": Upload(
        b"".join(field(b"f%d" % i, b"v") for i in range(10_000)) + END,
        {413},
        "too many form fields",
    ),
    "field-name-100kb": Upload(
        field(b"n" * 100_000, b"v") + END,
        {400, 413, 431},
        ("headers of a multipart part are too large", "longer than"),
    ),
    "field-name-1kb": Upload(field(b"n" * 1000, b"v") + END, {400}, "longer than 200 characters"),
    "part-header-line-1mb": Upload(
        part(b'form-data; name="a"', b"v", b"X-Big: " + b"x" * (1 << 20) + b"\r\n") + END,
        {400, 431},
        "headers of a multipart part are too large",
    ),
    # --- encodings
    "non-utf8-field-name": Upload(
        field(b"\xff\xfe", b"v") + field(b":action", b"submit") + END, {200, 400}, None
    ),
    "non-utf8-field-value": Upload(field(b":action", b"\xff\xfe") + END, {400}, "not UTF-8 text"),
    "non-utf8-filename": Upload(upload_form(b"\xff\xfe-1.0.tar.gz"), {400}, "Invalid filename"),
    "action-with-nel-and-header": Upload(
        field(b":action", "x\u0085Set-Cookie: a=b".encode()) + END, {400}, "Unsupported ':action'"
    ),
    "action-with-line-separator": Upload(
        field(b":action", "x\u2028X-Evil: 1\r\nX-Injected: 1".encode()) + END,
        {400},
        "Unsupported ':action'",
    ),
    # --- filenames
    "filename-nul": Upload(upload_form(b"hostile\x00-1.0.tar.gz"), {400}, "control characters"),
    "filename-nul-then-extension": Upload(
        upload_form(GOOD_NAME.encode() + b"\x00.txt"), {400}, "control characters"
    ),
    "filename-absolute": Upload(upload_form(b"/etc/passwd"), {400}, "must not contain a path"),
    "filename-1000-chars": Upload(
        upload_form(b"h" * 1000 + b"-1.0.tar.gz"), {400}, "longer than 255 bytes"
    ),
    "filename-script": Upload(
        upload_form(b"<script>alert(1)</script>-1.0.tar.gz"), {400}, "Invalid filename"
    ),
    "filename-markup-without-slash": Upload(
        upload_form(b"<b onmouseover=alert(1)>-1.0.tar.gz"), {400}, "only letters, digits"
    ),
    "filename-percent-encoded-dotdot": Upload(
        upload_form(b"..%2Fhostile_upload-1.0.tar.gz"), {400}, "only letters, digits"
    ),
    "filename-star-backslash": Upload(
        upload_form(b"UTF-8''..%5Chostile_upload-1.0.tar.gz", param=b"filename*"),
        {400},
        "must not contain a path",
    ),
    "filename-star-nul": Upload(
        upload_form(b"UTF-8''hostile%00-1.0.tar.gz", param=b"filename*"),
        {400},
        "control characters",
    ),
    "filename-star-not-utf8": Upload(
        upload_form(b"UTF-8''%ff%fe-1.0.tar.gz", param=b"filename*"),
        {400},
        "cannot decode the filename* parameter",
    ),
    "filename-star-unknown-charset": Upload(
        upload_form(b"x-no-such-charset''%41-1.0.tar.gz", param=b"filename*"),
        {400},
        "cannot decode the filename* parameter",
    ),
    # --- the request around the form
    "content-type-text-plain": Upload(ACTION + END, {415}, "multipart/form-data", "text/plain"),
    "content-type-multipart-mixed": Upload(
        ACTION + END, {415}, "multipart/form-data", "multipart/mixed; boundary=hostile-boundary-7"
    ),
    "no-content-type": Upload(ACTION + END, {415}, "multipart/form-data", None),
    "content-length-not-a-number": Upload(ACTION + END, {400}, "Content-Length", length="abc"),
    "content-length-negative": Upload(ACTION + END, {400}, "Content-Length", length="-5"),
    "content-length-with-plus": Upload(ACTION + END, {400}, "Content-Length", length="+9"),
    "content-length-10e30": Upload(ACTION + END, {413}, "Upload too large", length="1" + "0" * 30),
    # waitress parses Content-Length with int(): 5,000 digits is over Python's limit
    "content-length-5000-digits": Upload(ACTION + END, {400, 413}, None, length=BIG),
    "two-content-lengths": Upload(
        ACTION + END, {400}, "Content-Length", headers=(("Content-Length", "3"),)
    ),
    "chunked-with-bad-chunk-size": Upload(
        b"zz\r\nabc\r\n0\r\n\r\n", {400}, "chunk", headers=(("Transfer-Encoding", "chunked"),)
    ),
    # RFC 9112 6.1: an unknown transfer coding is 501 (the one 5xx that is right here)
    "transfer-encoding-gzip": Upload(
        ACTION + END, {400, 501}, None, headers=(("Transfer-Encoding", "gzip"),)
    ),
    # --- numbers too long for int(): PEP 440 versions are parsed with int()
    "version-field-5000-digits": Upload(
        ACTION
        + field(b"name", b"hostile-upload")
        + field(b"version", BIG.encode())
        + file_part(GOOD_NAME.encode(), GOOD_DATA)
        + END,
        {400},
        "version",
    ),
    "remove-pkg-version-5000-digits": Upload(
        field(b":action", b"remove_pkg")
        + field(b"name", b"foo-bar")
        + field(b"version", BIG.encode())
        + END,
        {400, 404},
        ("Not Found", "version"),
    ),
    "yank-version-5000-digits": Upload(
        field(b":action", b"yank")
        + field(b"name", b"foo-bar")
        + field(b"version", BIG.encode())
        + END,
        {400, 404},
        ("Not Found", "version"),
    ),
    "yank-filename-5000-digit-version": Upload(
        field(b":action", b"yank")
        + field(b"filename", b"foo_bar-" + BIG.encode() + b"-py3-none-any.whl")
        + END,
        {400, 404},
        ("Not Found", "filename"),
    ),
}


@pytest.mark.parametrize("case", list(UPLOADS), ids=list(UPLOADS))
def test_hostile_upload_form(site: Site, case: str) -> None:
    spec = UPLOADS[case]
    watch = Watch(site.server)
    before = listing(site.packages)
    headers: list[tuple[str, str | bytes]] = [("Authorization", AUTH), ("Accept", "*/*")]
    if spec.content_type is not None:
        headers.append(("Content-Type", spec.content_type))
    if not any(k.lower() == "transfer-encoding" for k, _ in spec.headers):
        headers.append(("Content-Length", spec.length or str(len(spec.body))))
    headers += list(spec.headers)
    reply = exchange(site, request(site, "POST", "/", headers, spec.body))
    verdict(site, watch, reply, spec.allowed, spec.needle)
    # Nothing was stored, and no staging file was left behind.
    assert listing(site.packages) == before


def test_chunked_upload_is_served(site: Site) -> None:
    """A chunked body (no Content-Length) is a valid way to send a form."""
    watch = Watch(site.server)
    filename, data = wheel_bytes("hostile-chunked", "1.0")
    body = (
        ACTION
        + field(b"name", b"hostile-chunked")
        + field(b"sha256_digest", hashlib.sha256(data).hexdigest().encode())
        + file_part(filename.encode(), data)
        + END
    )
    chunked = b"".join(
        b"%x\r\n" % len(body[i : i + 333]) + body[i : i + 333] + b"\r\n"
        for i in range(0, len(body), 333)
    )
    headers: list[tuple[str, str | bytes]] = [
        ("Authorization", AUTH),
        ("Content-Type", CT),
        ("Transfer-Encoding", "chunked"),
    ]
    reply = exchange(site, request(site, "POST", "/", headers, chunked + b"0\r\n\r\n"))
    verdict(site, watch, reply, {200}, "stored")
    assert (site.packages / filename).read_bytes() == data


def test_slowly_sent_upload_is_served(site: Site) -> None:
    """A form that arrives in small pieces with pauses is stored like any other."""
    watch = Watch(site.server)
    filename, data = wheel_bytes("hostile-slow", "1.0")
    body = ACTION + field(b"name", b"hostile-slow") + file_part(filename.encode(), data) + END
    headers: list[tuple[str, str | bytes]] = [
        ("Authorization", AUTH),
        ("Content-Type", CT),
        ("Content-Length", str(len(body))),
    ]
    raw = request(site, "POST", "/", headers, body)
    with socket.create_connection(address(site), timeout=15) as sock:
        step = len(raw) // 8 + 1
        for i in range(0, len(raw), step):
            sock.sendall(raw[i : i + step])
            time.sleep(0.05)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    verdict(site, watch, parse_answer(answer, False), {200}, "stored")
    assert (site.packages / filename).read_bytes() == data


def test_truncated_body_then_close(site: Site) -> None:
    """Content-Length larger than what is sent, then the client closes its side: no
    answer is needed, but nothing may be stored and the server goes on."""
    watch = Watch(site.server)
    before = listing(site.packages)
    body = upload_form(GOOD_NAME.encode())
    headers: list[tuple[str, str | bytes]] = [
        ("Authorization", AUTH),
        ("Content-Type", CT),
        ("Content-Length", str(len(body) + 1000)),
    ]
    reply = exchange(site, request(site, "POST", "/", headers, body), half_close=True, timeout=10)
    assert not reply.timed_out, "the server kept a half-closed connection open"
    verdict(site, watch, reply, {None, 400})
    assert listing(site.packages) == before


def test_truncated_body_left_open(site: Site) -> None:
    """Content-Length larger than what is sent, the connection left open: the server
    waits for the rest (as it must), answers others meanwhile, and stores nothing."""
    watch = Watch(site.server)
    before = listing(site.packages)
    body = upload_form(GOOD_NAME.encode())
    headers: list[tuple[str, str | bytes]] = [
        ("Authorization", AUTH),
        ("Content-Type", CT),
        ("Content-Length", str(len(body) + 1000)),
    ]
    with socket.create_connection(address(site), timeout=1) as sock:
        sock.sendall(request(site, "POST", "/", headers, body))
        assert http(site.server.url + "simple/foo-bar/").status == 200
        with pytest.raises(TimeoutError):
            sock.recv(1024)
    still_serving(site, watch)
    assert "Traceback" not in watch.text()
    assert listing(site.packages) == before


# --- 2. pages never reflect markup --------------------------------------------------------


def test_hostile_names_on_disk_are_escaped_on_every_page(site: Site) -> None:
    watch = Watch(site.server)
    for path in ("/", "/packages/", "/simple/", "/simple/xss-dir/", "/simple/xss-meta/"):
        reply = get(site, path, [("Accept", "text/html")])
        verdict(site, watch, reply, {200})
        assert (reply.header("Content-Type") or "").startswith("text/html")
    listing_page = get(site, "/packages/").body.decode()
    assert "&lt;svg onload=alert(1)&gt;/xss_dir-1.0.tar.gz" in listing_page
    assert "&quot;&#x27;&gt;&lt;b&gt;&amp;amp;/xss_dir-2.0.tar.gz" in listing_page
    assert ODD_SDIST_NAME in listing_page
    meta_page = get(site, "/simple/xss-meta/").body.decode()
    assert 'data-requires-python="&quot;&gt;&lt;script&gt;' in meta_page
    # The escaped links still lead to the files.
    page_url = site.server.url + "simple/xss-dir/"
    hrefs = [
        h.split('"')[0] for h in get(site, "/simple/xss-dir/").body.decode().split('href="')[1:]
    ]
    assert len(hrefs) == 2
    for href in hrefs:
        resp = http(urljoin(page_url, href.partition("#")[0]))
        assert resp.status == 200
        assert hashlib.sha256(resp.body).hexdigest() == href.partition("#sha256=")[2]


@pytest.mark.parametrize(
    "path",
    [
        "/simple/xss-meta/?format=application/vnd.pypi.simple.v1%2Bjson",
        "/simple/xss-dir/?format=application/vnd.pypi.simple.v1%2Bjson",
        "/pypi/xss-meta/json",
        "/pypi/xss-meta/1.0/json",
        "/xss-meta/json",
    ],
)
def test_json_documents_are_never_served_as_html(site: Site, path: str) -> None:
    watch = Watch(site.server)
    reply = get(site, path)
    verdict(site, watch, reply, {200})
    assert "json" in (reply.header("Content-Type") or "")


def test_xmlrpc_search_escapes_the_summary(site: Site) -> None:
    watch = Watch(site.server)
    call = xmlrpc.client.dumps(({"name": ["xss"]}, "or"), methodname="search").encode()
    headers: list[tuple[str, str | bytes]] = [
        ("Content-Type", "text/xml"),
        ("Content-Length", str(len(call))),
    ]
    reply = exchange(site, request(site, "POST", "/RPC2", headers, call))
    verdict(site, watch, reply, {200})
    assert b"<script>" not in reply.body
    assert b"&lt;script&gt;alert(2)&lt;/script&gt;" in reply.body
    (hits,), _ = xmlrpc.client.loads(reply.body)
    assert {h["summary"] for h in hits if h["name"] == "xss-meta"} == {XSS_SUMMARY}


def test_host_header_is_escaped_on_the_welcome_page(site: Site) -> None:
    watch = Watch(site.server)
    host = 'evil.example"><script>alert(1)</script>'
    raw = request(site, "GET", "/").replace(
        f"Host: {':'.join(map(str, address(site)))}".encode(), f"Host: {host}".encode()
    )
    reply = exchange(site, raw)
    verdict(site, watch, reply, {200})
    assert b"&lt;script&gt;" in reply.body


# Requests whose path or query carry markup: refused or redirected, as plain text (or
# JSON), never as HTML that shows the markup.
MARKUP_PATHS = [
    "/simple/%3Cscript%3Ealert(1)%3C/script%3E/",
    "/simple/%3Cscript%3Ealert(1)%3C%2Fscript%3E/",
    "/simple/<script>alert(1)</script>/",
    "/simple/<svg onload=alert(1)>",
    "/%3Cimg%20src=x%20onerror=alert(1)%3E",
    "/%3Cimg%20src=x%20onerror=alert(1)%3E/",
    "/packages/%3Cscript%3Ealert(1)%3C/script%3E.whl",
    "/packages/<script>.whl.metadata",
    "/pypi/%3Cscript%3E/json",
    "/pypi/foo-bar/%3Cscript%3E/json",
    "/%3Cscript%3E/json",
    "/simple/foo-bar/?format=%3Cscript%3Ealert(1)%3C/script%3E",
    "/simple/?format=<script>",
    "/simple/Foo_Bar/?<script>=1",
    "/simple/Foo_Bar/?%3Cscript%3E",
    "/Foo_Bar/?<svg onload=alert(1)>",
    "/nothing/<script>alert(1)</script>",
]


@pytest.mark.parametrize("path", MARKUP_PATHS)
def test_markup_in_the_request_is_never_reflected_as_html(site: Site, path: str) -> None:
    watch = Watch(site.server)
    reply = get(site, path.replace(" ", "%20"))
    verdict(site, watch, reply, {301, 303, 400, 404, 406})
    content_type = reply.header("Content-Type") or ""
    assert content_type.startswith(("text/plain", "application/json")), str(reply)
    location = reply.header("Location")
    if location is not None:
        assert "<" not in location
        assert ">" not in location


# --- 3. paths: header injection, encodings, traversal -------------------------------------

INJECTION_PATHS = [
    "/simple/Foo%0aSet-Cookie:%20x=1/",
    "/simple/Foo%0dSet-Cookie:%20x=1/",
    "/simple/Foo%0d%0aSet-Cookie:%20x=1",
    "/simple/Foo_Bar%0d%0aX-Evil:%201/",
    # U+560A U+560D: servers that keep only the low byte of each character get CR LF
    "/simple/Foo%E5%98%8A%E5%98%8DSet-Cookie:x=1/",
    "/Foo%E5%98%8A%E5%98%8DX-Evil:1",
    "/pypi/Foo%0d%0aX-Evil:1/json",
    "/Foo%0aX-Evil:1/json",
    "/pypi/Foo_Bar/json?a%0d%0aX-Evil:1",
    "/Foo_Bar/json?%0d%0aSet-Cookie:%20x=1",
    "/packages?%0d%0aX-Evil:1",
    "/simple/Foo_Bar/?%E5%98%8A%E5%98%8DX-Evil:1",
    "/simple/Foo_Bar/?a=%0d%0a%0d%0a<script>",
]


@pytest.mark.parametrize("path", INJECTION_PATHS)
def test_no_header_injection_through_redirects(site: Site, path: str) -> None:
    watch = Watch(site.server)
    reply = get(site, path)
    verdict(site, watch, reply, {301, 303, 404})
    if reply.status in (301, 303):
        assert len(reply.all("Location")) == 1


# (path, allowed answers): percent-encoded bytes that are not UTF-8 are 400 (the path
# cannot be read); anything else that names nothing is 404.
ENCODED_PATHS = {
    "/simple/%c3%28/": {400},
    "/packages/%c3%28.whl": {400},
    "/simple/%c0%ae%c0%ae/": {400},  # overlong "."
    "/packages/%c0%af%c0%afetc%c0%afpasswd": {400},  # overlong "/"
    "/packages/%e0%80%af": {400},  # overlong "/", three bytes
    "/simple/%ed%a0%80/": {400},  # a UTF-16 surrogate
    "/pypi/foo-bar/%ff/json": {400},
    "/health%00": {404},
    "/packages/" + WHEEL_NAME + "%00": {404},
    "/packages/" + WHEEL_NAME + "%00.metadata": {404},
    "/pypi/foo-bar/1.0%00/json": {404},
    "/simple/foo-bar%00/": {404},
    "/packages/..%2f..%2fetc%2fpasswd": {404},
    "/packages/..%5c..%5cetc%5cpasswd": {404},
    "/packages/..\\..\\etc\\passwd": {404},
    "/packages/%2fetc%2fpasswd": {404},
    "/packages//etc/passwd": {404},
    "/packages/./" + WHEEL_NAME: {200, 404},
    "/packages/" + WHEEL_NAME + "/..": {404},
    "/packages/%2e%2e%2f%2e%2e%2f" + WHEEL_NAME: {404},
    "/simple/..%2f..%2f/": {404},
    "/simple/foo-bar//": {404},
    "//simple//": {404},
    "/simple//foo-bar/": {404},
    "/simple/%2F%2Fevil.example/": {404},
    "//evil.example/": {303, 404},
    "/%2F%2Fevil.example%2F": {303, 404},
    "/\\evil.example": {404},
    "/simple/Foo_Bar/?//evil.example": {301},
    "/simple/http:%2F%2Fevil.example/": {404},
    "/http:%2F%2Fevil.example": {303, 404},
    "/javascript:alert(1)": {404},
    "/simple/javascript:alert(1)/": {404},
    "/simple/" + "a" * 60_000 + "/": {303, 404},
    "/pypi/foo-bar/" + BIG + "/json": {404},
    "/pypi/foo-bar/" + BIG + "/json?x=1": {404},
}


def _path_id(path: str) -> str:
    return path.replace(BIG, "<5000 digits>").replace("a" * 60_000, "<60000 a>")


@pytest.mark.parametrize("path", list(ENCODED_PATHS), ids=[_path_id(p) for p in ENCODED_PATHS])
def test_odd_paths(site: Site, path: str) -> None:
    watch = Watch(site.server)
    reply = get(site, path)
    verdict(site, watch, reply, ENCODED_PATHS[path])
    if reply.status == 200:
        assert reply.body == WHEEL_DATA
    else:
        assert b"root:" not in reply.body


@pytest.mark.parametrize(
    "raw_path",
    [
        b"/simple/\xff\xfe/",  # raw bytes that are not ASCII
        "/simple/\u00e9t\u00e9/".encode(),
        b"/simple/a\x00b/",
        b"/simple/a\x01b/",
        b"/packages/\x7f.whl",
        b"/simple/Foo_Bar/?\xff\xfe",
    ],
)
def test_raw_bytes_in_the_request_target(site: Site, raw_path: bytes) -> None:
    watch = Watch(site.server)
    reply = exchange(site, request(site, "GET", raw_path))
    verdict(site, watch, reply, {400, 404})


# --- 4. ranges and validators ------------------------------------------------------------

WHEEL_PATH = "/packages/" + WHEEL_NAME
SIZE = len(WHEEL_DATA)

RANGES: dict[str, tuple[bytes, set[int]]] = {
    "1000-ranges": (("bytes=" + ",".join(f"{i}-{i}" for i in range(1000))).encode(), {200}),
    "1000-overlapping-ranges": (("bytes=" + ",".join(["0-"] * 1000)).encode(), {200}),
    "suffix-zero": (b"bytes=-0", {416}),
    "first-400-digits": (b"bytes=" + b"9" * 400 + b"-", {416}),
    "last-400-digits": (b"bytes=0-" + b"9" * 400, {206}),
    "suffix-400-digits": (b"bytes=-" + b"9" * 400, {206}),
    # more digits than int() converts
    "first-5000-digits": (b"bytes=" + BIG.encode() + b"-", {200, 416}),
    "last-5000-digits": (b"bytes=0-" + BIG.encode(), {200, 206}),
    "suffix-5000-digits": (b"bytes=-" + BIG.encode(), {200, 206}),
    "leading-zeros-5000": (b"bytes=0-" + b"0" * 5000 + b"1", {200, 206}),
    # latin-1 characters that str.isdigit() accepts and int() does not
    "superscript-first": (b"bytes=\xb2-5", {200}),
    "superscript-last": (b"bytes=0-\xb9", {200}),
    "superscript-suffix": (b"bytes=-\xb3", {200}),
    "underscore-digits": (b"bytes=1_0-20", {200}),
    "plus-sign": (b"bytes=+1-2", {200}),
    "hex": (b"bytes=0x10-20", {200}),
    "two-dashes": (b"bytes=0--1", {200}),
    "only-dash": (b"bytes=-", {200}),
    "empty": (b"", {200}),
    "equals-only": (b"=", {200}),
    "parameter": (b"bytes=0-1;x=y", {200}),
    "non-ascii": (b"bytes=\xff\xfe-\x80", {200}),
    "huge-header": (b"bytes=" + b"0-0," * 12_000 + b"0-0", {200}),
}


@pytest.mark.parametrize("case", list(RANGES), ids=list(RANGES))
def test_hostile_range(site: Site, case: str) -> None:
    value, allowed = RANGES[case]
    watch = Watch(site.server)
    reply = get(site, WHEEL_PATH, [("Range", value)])
    verdict(site, watch, reply, set(allowed))
    if reply.status == 200:
        assert reply.body == WHEEL_DATA
        assert reply.header("Content-Range") is None
    elif reply.status == 206:
        unit, _, spec = (reply.header("Content-Range") or "").partition(" ")
        assert unit == "bytes"
        span, _, total = spec.partition("/")
        first, _, last = span.partition("-")
        assert total == str(SIZE)
        assert reply.body == WHEEL_DATA[int(first) : int(last) + 1]
    else:
        assert reply.header("Content-Range") == f"bytes */{SIZE}"


def test_range_on_an_index_page_is_ignored(site: Site) -> None:
    watch = Watch(site.server)
    reply = get(site, "/simple/foo-bar/", [("Range", "bytes=0-3,\xb2-")])
    verdict(site, watch, reply, {200})
    assert reply.body.startswith(b"<!DOCTYPE html>")


FAR_FUTURE = "Fri, 31 Dec 9999 23:59:59 GMT"
VALIDATORS: dict[str, tuple[str, bytes]] = {
    "inm-lone-quote": ("If-None-Match", b'"'),
    "inm-unbalanced": ("If-None-Match", b'"abc, W/"'),
    "inm-10kb-junk": ("If-None-Match", b"\x21\x7e" * 5000),
    "inm-non-ascii": ("If-None-Match", b'"\xff\xfe\x80"'),
    "inm-1000-tags": ("If-None-Match", b", ".join(b'"tag%d"' % i for i in range(1000))),
    "inm-commas": ("If-None-Match", b",,,,,"),
    "inm-empty": ("If-None-Match", b""),
    "ims-year-99999999999999999999": (
        "If-Modified-Since",
        b"Mon, 1 Jan 99999999999999999999 00:00:00 GMT",
    ),
    "ims-5000-zeros": ("If-Modified-Since", b"0" * 5000),
    "ims-5000-digit-year": ("If-Modified-Since", b"Mon, 1 Jan " + BIG.encode() + b" 00:00:00 GMT"),
    "ims-bad-zone": ("If-Modified-Since", b"Mon, 1 Jan 2000 00:00:00 +9999"),
    "ims-fields-out-of-range": ("If-Modified-Since", b"Mon, 99 Foo 99999 99:99:99 GMT"),
    "ims-year-1": ("If-Modified-Since", b"Sat, 01 Jan 0001 00:00:00 GMT"),
    "ims-10kb-junk": ("If-Modified-Since", b"x" * 10_000),
    "ims-non-ascii": ("If-Modified-Since", b"\xff\xfe, 01 \xe9t\xe9 2000"),
}


@pytest.mark.parametrize(
    "path",
    [WHEEL_PATH, WHEEL_PATH + ".metadata", "/simple/foo-bar/", "/simple/", "/pypi/foo-bar/json"],
)
@pytest.mark.parametrize("case", list(VALIDATORS), ids=list(VALIDATORS))
def test_garbage_validators_give_the_whole_answer(site: Site, case: str, path: str) -> None:
    name, value = VALIDATORS[case]
    watch = Watch(site.server)
    plain = get(site, path)
    reply = get(site, path, [(name, value)])
    verdict(site, watch, reply, {200})
    if path == WHEEL_PATH:
        assert reply.body == WHEEL_DATA
    else:
        assert reply.body == plain.body


def test_far_future_if_modified_since_is_304(site: Site) -> None:
    watch = Watch(site.server)
    reply = get(site, WHEEL_PATH, [("If-Modified-Since", FAR_FUTURE)])
    verdict(site, watch, reply, {304})
    assert reply.body == b""


@pytest.mark.parametrize(
    "if_range",
    [
        b'"',
        b"W/" + b'"x"',
        b"x" * 10_000,
        b"\xff\xfe",
        b"Mon, 1 Jan 99999999999999999999 00:00:00 GMT",
        b"0" * 5000,
        b"",
    ],
)
def test_garbage_if_range_gives_the_whole_file(site: Site, if_range: bytes) -> None:
    watch = Watch(site.server)
    reply = get(site, WHEEL_PATH, [("Range", b"bytes=0-1"), ("If-Range", if_range)])
    verdict(site, watch, reply, {200})
    assert reply.body == WHEEL_DATA


# --- 5. XML-RPC ------------------------------------------------------------------------------


def _nested(levels: int) -> bytes:
    return (
        b"<?xml version='1.0'?><methodCall><methodName>search</methodName><params><param>"
        + b"<value><array><data>" * levels
        + b"</data></array></value>" * levels
        + b"</param></params></methodCall>"
    )


def _call(method: str, *params: object) -> bytes:
    return xmlrpc.client.dumps(params, methodname=method).encode()


LIST_CALL = _call("list_packages")
PARAMETER_ENTITIES = (
    b'<?xml version="1.0"?>\n<!DOCTYPE methodCall [\n<!ENTITY % a "lol">\n'
    b'<!ENTITY % b "%a;%a;%a;%a;%a;%a;%a;%a;%a;%a;">\n%b;\n]>\n'
    b"<methodCall><methodName>list_packages</methodName></methodCall>"
)

XMLRPC: dict[str, tuple[bytes, str | None, set[int], str | None]] = {
    # name: (body, Content-Type, allowed, needle)
    "body-over-1-mib": (
        _call("search", {"name": "a" * (2 << 20)}),
        "text/xml",
        {413},
        "larger than 1048576 bytes",
    ),
    "nested-20000-arrays": (_nested(20_000), "text/xml", {200, 400}, None),
    "nested-100000-arrays": (_nested(100_000), "text/xml", {400, 413}, None),
    "300000-unclosed-elements": (b"<a>" * 300_000, "text/xml", {400}, "not well-formed"),
    "parameter-entities": (PARAMETER_ENTITIES, "text/xml", {400}, "DTD"),
    "external-dtd": (
        b'<?xml version="1.0"?>\n<!DOCTYPE methodCall SYSTEM "file:///etc/passwd">\n'
        + LIST_CALL.split(b"?>", 1)[1],
        "text/xml",
        {400},
        "DTD",
    ),
    "xinclude": (
        b'<methodCall xmlns:xi="http://www.w3.org/2001/XInclude"><methodName>'
        b'<xi:include href="file:///etc/passwd" parse="text"/></methodName></methodCall>',
        "text/xml",
        {200, 400},
        None,
    ),
    "binary-garbage": (b"\x00\xff\xfe" * 100, "text/xml", {400}, "Invalid"),
    "empty-body": (b"", "text/xml", {400}, "Invalid"),
    "json-content-type": (LIST_CALL, "application/json", {200, 415}, None),
    "no-content-type": (LIST_CALL, None, {200, 415}, None),
    "unknown-encoding-declaration": (
        b"<?xml version='1.0' encoding='x-no-such-encoding'?>"
        b"<methodCall><methodName>list_packages</methodName></methodCall>",
        "text/xml",
        {400},
        "Invalid",
    ),
    "utf-16-body": (
        LIST_CALL.decode().replace("?>", " encoding='utf-16'?>", 1).encode("utf-16"),
        "text/xml",
        {200},
        None,
    ),
    "int-5000-digits": (
        b"<methodCall><methodName>package_releases</methodName><params><param><value><int>"
        + BIG.encode()
        + b"</int></value></param></params></methodCall>",
        "text/xml",
        {400},
        "Invalid XML-RPC request",
    ),
    "struct-member-without-name": (
        b"<methodCall><methodName>search</methodName><params><param><value><struct><member>"
        b"<value><int>1</int></value></member></struct></value></param></params></methodCall>",
        "text/xml",
        {400},
        "Invalid XML-RPC request",
    ),
    "bad-base64": (
        b"<methodCall><methodName>search</methodName><params><param><value>"
        b"<base64>!!!</base64></value></param></params></methodCall>",
        "text/xml",
        {200, 400},
        None,
    ),
    "method-name-10kb": (_call("m" * 10_000), "text/xml", {200}, None),
    "method-name-non-ascii": (_call("s\u00e9arch\u2028\x85"), "text/xml", {200}, None),
}


# POST / is answered as XML-RPC when the body is text/xml (pip search --index URL/).
XMLRPC_ROUTES = [
    pytest.param(case, path, id=f"{case}-{path}")
    for case in XMLRPC
    for path in ("/RPC2", "/")
    if path == "/RPC2" or XMLRPC[case][1] == "text/xml"
]


@pytest.mark.parametrize(("case", "path"), XMLRPC_ROUTES)
def test_hostile_xmlrpc(site: Site, case: str, path: str) -> None:
    body, content_type, allowed, needle = XMLRPC[case]
    watch = Watch(site.server)
    headers: list[tuple[str, str | bytes]] = [("Content-Length", str(len(body)))]
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    reply = exchange(site, request(site, "POST", path, headers, body))
    verdict(site, watch, reply, allowed, needle)
    assert b"root:" not in reply.body
    assert b"lollol" not in reply.body
    if reply.status == 200:
        with contextlib.suppress(xmlrpc.client.Fault):
            xmlrpc.client.loads(reply.body)


# --- 6. the request line and headers -------------------------------------------------------

PROTOCOL: dict[str, tuple[bytes, set[int | None], str | None]] = {
    # name: (whole request, allowed, needle); "{host}" is replaced
    "header-1mb": (
        b"GET /health HTTP/1.1\r\nHost: {host}\r\nX-Big: " + b"x" * (1 << 20) + b"\r\n\r\n",
        {431},
        None,
    ),
    "10000-headers": (
        b"GET /health HTTP/1.1\r\nHost: {host}\r\n"
        + b"".join(b"X-H%d: v\r\n" % i for i in range(10_000))
        + b"\r\n",
        {431},
        None,
    ),
    "path-100kb": (
        b"GET /simple/" + b"a" * 100_000 + b"/ HTTP/1.1\r\nHost: {host}\r\n\r\n",
        {414, 431},
        None,
    ),
    "version-1.1x": (b"GET /health HTTP/1.1x\r\nHost: {host}\r\n\r\n", {400}, None),
    "version-FOO": (b"GET /health FOO/1.1\r\nHost: {host}\r\n\r\n", {400}, None),
    "version-9.9": (b"GET /health HTTP/9.9\r\nHost: {host}\r\n\r\n", {200, 400, 505}, None),
    "no-version": (b"GET /health\r\n\r\n", {200, 400}, None),
    "lowercase-method": (b"get /health HTTP/1.1\r\nHost: {host}\r\n\r\n", {400, 405, 501}, None),
    "method-with-nul": (b"GE\x00T /health HTTP/1.1\r\nHost: {host}\r\n\r\n", {400, 405, 501}, None),
    "binary-garbage": (b"\x00\x01\x02\xff\xfe\r\n\r\n", {400}, None),
    "space-in-target": (b"GET /heal th HTTP/1.1\r\nHost: {host}\r\n\r\n", {400}, None),
    "header-without-colon": (
        b"GET /health HTTP/1.1\r\nHost: {host}\r\nNoColonHere\r\n\r\n",
        {400},
        None,
    ),
    "space-before-colon": (b"GET /health HTTP/1.1\r\nHost: {host}\r\nX-A : b\r\n\r\n", {400}, None),
    "nul-in-header": (b"GET /health HTTP/1.1\r\nHost: {host}\r\nX-A: a\x00b\r\n\r\n", {400}, None),
    "bare-cr-in-header": (
        b"GET /health HTTP/1.1\r\nHost: {host}\r\nX-A: a\rb\r\n\r\n",
        {400},
        None,
    ),
    "obsolete-line-folding": (
        b"GET /health HTTP/1.1\r\nHost: {host}\r\nX-A: b\r\n  c\r\n\r\n",
        {200, 400},
        None,
    ),
    "absolute-form-other-host": (
        b"GET http://evil.example/health HTTP/1.1\r\nHost: {host}\r\n\r\n",
        {200, 400},
        None,
    ),
    "get-with-body": (
        b"GET /health HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello",
        {200, 400},
        None,
    ),
    "no-host": (b"GET /health HTTP/1.1\r\n\r\n", {200, 400}, None),
    "asterisk-form": (b"OPTIONS * HTTP/1.1\r\nHost: {host}\r\n\r\n", {400, 404, 405}, None),
}


@pytest.mark.parametrize("case", list(PROTOCOL), ids=list(PROTOCOL))
def test_malformed_requests(site: Site, case: str) -> None:
    template, allowed, needle = PROTOCOL[case]
    host, port = address(site)
    raw = template.replace(b"{host}", f"{host}:{port}".encode())
    raw = (
        raw.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
        if b"HTTP/1.1\r\n" in raw
        else raw
    )
    watch = Watch(site.server)
    verdict(site, watch, exchange(site, raw), allowed, needle)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("BREW", "/"),
        ("OPTIONS", "/"),
        ("DELETE", "/"),
        ("PUT", "/"),
        ("PATCH", "/simple/"),
        ("TRACE", "/"),
        ("DELETE", WHEEL_PATH),
        ("PUT", WHEEL_PATH),
        ("POST", "/simple/"),
        ("POST", "/health"),
    ],
)
def test_other_methods_are_405_with_allow(site: Site, method: str, path: str) -> None:
    watch = Watch(site.server)
    reply = exchange(
        site, request(site, method, path, [("Content-Length", "0")] if method != "TRACE" else [])
    )
    verdict(site, watch, reply, {405})
    allow = {m.strip() for m in (reply.header("Allow") or "").split(",")}
    assert "GET" in allow, str(reply)
    assert method not in allow


# --- 7. credentials ------------------------------------------------------------------------------


def _basic(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


AUTHORIZATIONS: dict[str, tuple[bytes, set[int]]] = {
    "bangs": (b"Basic !!!", {401}),
    "scheme-only": (b"Basic", {401}),
    "padding-only": (b"Basic ====", {401}),
    "not-base64": (b"Basic not base64 at all", {401}),
    "no-colon": (_basic(b"nocolon"), {401}),
    "empty-user": (_basic(b":" + PASSWORD.encode()), {401}),
    "non-utf8-user": (_basic(b"\xff\xfe:" + PASSWORD.encode()), {401, 403}),
    "non-utf8-password": (_basic(USER.encode() + b":\xff"), {401, 403}),
    "nul-in-user": (_basic(USER.encode() + b"\x00:" + PASSWORD.encode()), {403}),
    "password-40kb": (_basic(USER.encode() + b":" + b"p" * 40_000), {403}),
    "user-40kb": (_basic(b"u" * 40_000 + b":p"), {403}),
    "raw-non-ascii": (b"\xff\xfe\x80", {401}),
    "bearer": (b"Bearer abc.def.ghi", {401}),
    "digest": (b'Digest username="hostile", realm="pypi"', {401}),
    "base64-of-all-bytes": (_basic(bytes(range(256))), {401}),
}


@pytest.mark.parametrize("case", list(AUTHORIZATIONS), ids=list(AUTHORIZATIONS))
def test_garbage_credentials(site: Site, case: str) -> None:
    value, allowed = AUTHORIZATIONS[case]
    body = field(b":action", b"submit") + END
    headers: list[tuple[str, str | bytes]] = [
        ("Authorization", value),
        ("Content-Type", CT),
        ("Content-Length", str(len(body))),
    ]
    watch = Watch(site.server)
    reply = exchange(site, request(site, "POST", "/", headers, body))
    verdict(site, watch, reply, set(allowed), ("Unauthorized", "Forbidden"))
    if reply.status == 401:
        assert reply.header("WWW-Authenticate") == 'Basic realm="pypi"'


def test_authorization_header_of_100kb_is_431(site: Site) -> None:
    watch = Watch(site.server)
    reply = exchange(
        site, request(site, "GET", "/health", [("Authorization", "Basic " + "A" * 100_000)])
    )
    verdict(site, watch, reply, {431})


# --- 8. slow clients -------------------------------------------------------------------------------


def test_half_a_request_line_does_not_block_others(site: Site) -> None:
    watch = Watch(site.server)
    with socket.create_connection(address(site), timeout=10) as slow:
        slow.sendall(b"GET /sim")
        time.sleep(0.2)
        done = threading.Event()

        def other() -> None:
            if http(site.server.url + "simple/foo-bar/").status == 200:
                done.set()

        worker = threading.Thread(target=other, daemon=True)
        worker.start()
        worker.join(10)
        assert done.is_set(), "a request was not answered while a slow one was open"
        # The slow client finishes its request and is answered too.
        slow.sendall(b"ple/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := slow.recv(65536):
            answer += chunk
    verdict(site, watch, parse_answer(answer, False), {200})


def test_slowloris_connections_do_not_block_others(site: Site) -> None:
    """50 connections, each one byte into its headers: ordinary requests still go
    through, as many as there are threads and more."""
    watch = Watch(site.server)
    host, port = address(site)
    opened = []
    try:
        for _ in range(50):
            sock = socket.create_connection((host, port), timeout=10)
            sock.sendall(f"GET /simple/ HTTP/1.1\r\nHost: {host}:{port}\r\nX".encode())
            opened.append(sock)
        time.sleep(0.2)
        for _ in range(20):
            assert http(site.server.url + "simple/foo-bar/").status == 200
        verdict(site, watch, get(site, "/health"), {200})
    finally:
        for sock in opened:
            sock.close()
    still_serving(site, watch)


def test_bare_lf_request_does_not_block_others(site: Site) -> None:
    """A request with bare LF line ends: answered (400 or served), or held as an
    unfinished request until the connection times out; others are served meanwhile."""
    watch = Watch(site.server)
    host, port = address(site)
    with socket.create_connection((host, port), timeout=1) as sock:
        sock.sendall(f"GET /health HTTP/1.1\nHost: {host}:{port}\nConnection: close\n\n".encode())
        assert http(site.server.url + "simple/foo-bar/").status == 200
        try:
            answer = sock.recv(65536)
        except TimeoutError:
            answer = b""
    if answer:
        assert answer.startswith((b"HTTP/1.1 200 ", b"HTTP/1.1 400 ", b"HTTP/1.0 400 ")), answer
    still_serving(site, watch)
    assert "Traceback" not in watch.text()


def test_client_that_never_reads_its_answer(site: Site) -> None:
    """Many pipelined requests from a client that reads nothing: others are served."""
    watch = Watch(site.server)
    host, port = address(site)
    one = f"GET {WHEEL_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    with socket.create_connection((host, port), timeout=10) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(one * 200)
        for _ in range(10):
            assert http(site.server.url + "simple/foo-bar/").status == 200
    still_serving(site, watch)
    assert "Traceback" not in watch.text()

"""The index pages, redirects, fallback, welcome page, health and access log, against a
real packyard server (three servers with different options share one tree of files)."""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from helpers import Server, http, raw, start_server, wait_for
from helpers.dists import sdist_bytes, wheel_bytes

# --- helpers ---------------------------------------------------------------------------


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


def links(html: str) -> list[tuple[str, str]]:
    """(href, anchor text) of every <a> in the page, in order."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.links


def raw_request(url: str, path: str, method: str = "GET") -> tuple[int, list[bytes], bytes]:
    """Send ``path`` byte for byte (no client normalization); (status, header lines, body)."""
    head = raw.request_head(path, urlsplit(url).netloc, method)
    answer = raw.parse(raw.exchange(url, head, timeout=30))
    return answer.status, answer.header_lines, answer.body


def target_of(request_url: str, location: str) -> tuple[str, str]:
    """(path, query) where a Location sent for ``request_url`` leads."""
    resolved = urlsplit(urljoin(request_url, location))
    return resolved.path, resolved.query


# --- the served tree ---------------------------------------------------------------------


@dataclass(frozen=True)
class Dist:
    relpath: str
    data: bytes

    @property
    def filename(self) -> str:
        return self.relpath.rpartition("/")[2]


@dataclass
class Tree:
    root1: Path
    root2: Path
    dists: dict[str, Dist]  # relpath -> file, as served

    def of_project_in_order(self) -> list[Dist]:
        return [self.dists[r] for r in FOO_BAR_ORDER]


# foo-bar in the order PEP 440 sorts it, spread over both roots and subdirectories.
FOO_BAR_ORDER = [
    "Foo_Bar-1.0-py3-none-any.whl",  # root1
    "foo_bar-1.0.post1.tar.gz",  # root2
    "sub/foo_bar-1.1rc1.tar.gz",  # root1/sub
    "foo_bar-1.1-py3-none-any.whl",  # root2
    "sub/deeper/foo_bar-10.0-py3-none-any.whl",  # root1/sub/deeper
]
PROJECTS = ["aaa", "alpha-beta", "foo-bar", "mixed-case", "weird-x"]


def _write(root: Path, relpath: str, data: bytes) -> Dist:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Dist(relpath, data)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("index")
    root1, root2 = base / "root1", base / "root2"
    root1.mkdir()
    root2.mkdir()
    dists = [
        # written out of order on purpose
        _write(
            root1, "sub/deeper/foo_bar-10.0-py3-none-any.whl", wheel_bytes("foo_bar", "10.0")[1]
        ),
        _write(root2, "foo_bar-1.1-py3-none-any.whl", wheel_bytes("foo_bar", "1.1")[1]),
        _write(root1, "sub/foo_bar-1.1rc1.tar.gz", sdist_bytes("foo_bar", "1.1rc1")[1]),
        _write(root2, "foo_bar-1.0.post1.tar.gz", sdist_bytes("foo_bar", "1.0.post1")[1]),
        _write(root1, "Foo_Bar-1.0-py3-none-any.whl", wheel_bytes("Foo_Bar", "1.0")[1]),
        _write(root1, "Alpha_Beta-2.0-py3-none-any.whl", wheel_bytes("Alpha.Beta", "2.0")[1]),
        _write(root1, "Mixed.Case-3.0.tar.gz", sdist_bytes("Mixed.Case", "3.0")[1]),
        _write(root2, "sub/AAA-0.1.zip", b"PK\x05\x06" + b"\0" * 18),
        # a directory name that needs percent-encoding and HTML escaping
        _write(root1, "odd dir #%+&'\"<é>/Weird_X-1.0.tar.gz", sdist_bytes("Weird_X", "1.0")[1]),
    ]
    (root1 / "notes.txt").write_text("not a distribution\n")
    return Tree(root1, root2, {d.relpath: d for d in dists})


WELCOME = """<html><body>
<p>url={{URL}} n={{NUMPKGS}} raw={{!NUMPKGS}}</p>
<p>code: {{ __import__('os').getcwd() }}</p>
% import os
<p>{{os.getcwd()}}</p>
<a href="{{SIMPLE}}">simple</a> <a href="{{PACKAGES}}">packages</a>
</body></html>
"""


@pytest.fixture(scope="module")
def server(tree: Tree) -> Iterator[Server]:
    """Defaults (sha256, fallback to PyPI), -v."""
    srv = start_server("-v", tree.root1, tree.root2)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def alt_server(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """md5 fragments, another fallback URL, /ping, a welcome file."""
    welcome = tmp_path_factory.mktemp("welcome") / "welcome.html"
    welcome.write_text(WELCOME, encoding="utf-8")
    srv = start_server(
        "--hash-algo",
        "md5",
        "--fallback-url",
        "https://example.invalid/simple",
        "--health-endpoint",
        "/ping",
        "--welcome",
        welcome,
        tree.root1,
        tree.root2,
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def off_server(tree: Tree) -> Iterator[Server]:
    """No hash fragment, no fallback."""
    srv = start_server("--hash-algo", "off", "--disable-fallback", tree.root1, tree.root2)
    yield srv
    srv.stop()


# --- /simple/ ------------------------------------------------------------------------------


def test_project_list_is_sorted_normalized_and_relative(server: Server) -> None:
    resp = http(server.url + "simple/")
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/html")
    found = links(resp.text)
    assert [text for _, text in found] == PROJECTS
    assert [href for href, _ in found] == [p + "/" for p in PROJECTS]
    for href, name in found:
        assert urlsplit(urljoin(server.url + "simple/", href)).path == f"/simple/{name}/"
        assert http(urljoin(server.url + "simple/", href)).status == 200


def test_project_page_orders_by_pep440_over_roots_and_subdirectories(
    server: Server, tree: Tree
) -> None:
    page_url = server.url + "simple/foo-bar/"
    resp = http(page_url)
    assert resp.status == 200
    found = links(resp.text)
    expected = tree.of_project_in_order()
    assert [text for _, text in found] == [d.filename for d in expected]
    for (href, _), dist in zip(found, expected, strict=True):
        assert not urlsplit(href).scheme
        assert not href.startswith("/")
        resolved = urlsplit(urljoin(page_url, href))
        assert unquote(resolved.path) == "/packages/" + dist.relpath
        assert resolved.fragment == "sha256=" + hashlib.sha256(dist.data).hexdigest()
        got = http(urljoin(page_url, href).partition("#")[0])
        assert got.status == 200
        assert got.body == dist.data


def test_every_project_page_lists_all_its_files(server: Server, tree: Tree) -> None:
    seen: list[str] = []
    for project in PROJECTS:
        page_url = f"{server.url}simple/{project}/"
        for href, _ in links(http(page_url).text):
            seen.append(unquote(urlsplit(urljoin(page_url, href)).path).removeprefix("/packages/"))
    assert sorted(seen) == sorted(tree.dists)


def test_hash_algo_md5_fragment(alt_server: Server, tree: Tree) -> None:
    page_url = alt_server.url + "simple/foo-bar/"
    found = links(http(page_url).text)
    assert len(found) == len(FOO_BAR_ORDER)
    for (href, _), dist in zip(found, tree.of_project_in_order(), strict=True):
        assert href.endswith("#md5=" + hashlib.md5(dist.data).hexdigest())


def test_hash_algo_off_has_no_fragment(off_server: Server, tree: Tree) -> None:
    page_url = off_server.url + "simple/foo-bar/"
    found = links(http(page_url).text)
    assert [text for _, text in found] == [d.filename for d in tree.of_project_in_order()]
    for href, _ in found:
        assert "#" not in href
        assert http(urljoin(page_url, href)).status == 200


def test_packages_listing_has_every_file_by_relpath(server: Server, tree: Tree) -> None:
    page_url = server.url + "packages/"
    resp = http(page_url)
    assert resp.status == 200
    found = links(resp.text)
    assert sorted(text for _, text in found) == sorted(tree.dists)
    assert "sub/deeper/foo_bar-10.0-py3-none-any.whl" in [t for _, t in found]
    for href, text in found:
        assert not urlsplit(href).scheme
        assert not href.startswith("/")
        target = urljoin(page_url, href)
        assert unquote(urlsplit(target).path) == "/packages/" + text
        assert http(target).body == tree.dists[text].data
    assert "notes.txt" not in resp.text


# --- redirects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "target"),
    [
        ("/simple/Foo_Bar/", 301, "/simple/foo-bar/"),
        ("/simple/FOO.bar/", 301, "/simple/foo-bar/"),
        ("/simple/foo-bar", 301, "/simple/foo-bar/"),
        ("/simple/Foo_Bar", 301, "/simple/foo-bar/"),
        ("/simple", 301, "/simple/"),
        ("/packages", 301, "/packages/"),
        ("/Foo_Bar", 303, "/simple/foo-bar/"),
        ("/foo-bar/", 303, "/simple/foo-bar/"),
        ("/Foo.Bar/", 303, "/simple/foo-bar/"),
    ],
)
@pytest.mark.parametrize("query", ["", "x=1", "a=b&c=%2F"])
def test_redirects_are_relative_and_keep_the_query(
    server: Server, path: str, status: int, target: str, query: str
) -> None:
    url = server.url.rstrip("/") + path + (f"?{query}" if query else "")
    resp = http(url)
    assert resp.status == status
    location = resp.header("Location")
    assert location is not None
    assert not urlsplit(location).scheme
    assert not urlsplit(location).netloc
    assert not location.startswith("/")
    assert target_of(url, location) == (target, query)


def test_redirect_locations_exactly(server: Server) -> None:
    base = server.url.rstrip("/")
    assert http(base + "/simple/Foo_Bar/").header("Location") == "../foo-bar/"
    assert http(base + "/simple/foo-bar").header("Location") == "foo-bar/"
    assert http(base + "/simple/Foo_Bar/?x=1").header("Location") == "../foo-bar/?x=1"


def test_followed_redirects_end_on_the_project_page(server: Server) -> None:
    url = server.url + "Foo_Bar"
    for _ in range(3):
        resp = http(url)
        if resp.status not in (301, 303):
            break
        url = urljoin(url, resp.header("Location"))
    assert resp.status == 200
    assert urlsplit(url).path == "/simple/foo-bar/"
    assert "Links for foo-bar" in resp.text


def test_unknown_project_falls_back_to_pypi(server: Server) -> None:
    resp = http(server.url + "simple/not-here-at-all/")
    assert resp.status == 303
    assert resp.header("Location") == "https://pypi.org/simple/not-here-at-all/"
    # the non-normalized spelling is normalized first, then falls back
    first = http(server.url + "simple/Not_Here.At-all/")
    assert first.status == 301
    second_url = urljoin(server.url + "simple/Not_Here.At-all/", first.header("Location"))
    assert http(second_url).header("Location") == "https://pypi.org/simple/not-here-at-all/"


def test_fallback_url_option(alt_server: Server) -> None:
    resp = http(alt_server.url + "simple/not-here-at-all/")
    assert resp.status == 303
    assert resp.header("Location") == "https://example.invalid/simple/not-here-at-all/"
    # local projects never fall back
    assert http(alt_server.url + "simple/foo-bar/").status == 200


def test_disable_fallback_gives_a_short_404(off_server: Server) -> None:
    resp = http(off_server.url + "simple/not-here-at-all/")
    assert resp.status == 404
    assert resp.header("Location") is None
    assert resp.header("Content-Type").startswith("text/plain")
    assert "not-here-at-all" in resp.text
    assert len(resp.body) < 200
    assert "<" not in resp.text
    assert http(off_server.url + "simple/foo-bar/").status == 200


@pytest.mark.parametrize("name", ["-bad-", "bad-", "_x", "a%20b", "a%2Fb", "%C3%A9t%C3%A9", "a!b"])
@pytest.mark.parametrize("form", ["/simple/{}/", "/simple/{}", "/{}", "/{}/"])
def test_invalid_project_name_is_404_never_a_redirect(server: Server, name: str, form: str) -> None:
    status, headers, _ = raw_request(server.url, form.format(name))
    assert status == 404
    assert not any(h.lower().startswith(b"location:") for h in headers)


@pytest.mark.parametrize(
    "path",
    [
        "/simple/a%0d%0aX-Evil:%201/",
        "/simple/a%0d%0aX-Evil:%201",
        "/a%0d%0aX-Evil:%201/",
        "/a%0d%0aX-Evil:%201",
        "/simple/%0d%0aX-Evil:%201/",
        "/simple/Foo_Bar/?q=%0d%0aX-Evil:%201",
        "/simple/foo-bar?%0d%0aX-Evil:%201",
        "/Foo_Bar/?%0D%0AX-Evil:%201",
        "/simple?%0d%0aX-Evil:%201",
        "/packages/a%0d%0aX-Evil:%201.whl",
    ],
)
def test_no_header_splitting(server: Server, path: str) -> None:
    status, headers, _ = raw_request(server.url, path)
    assert status in (301, 303, 404)
    names = [h.split(b":", 1)[0].strip().lower() for h in headers]
    assert b"x-evil" not in names
    for line in headers:
        assert b"\r" not in line
        assert b"\n" not in line
    location = [h for h in headers if h.lower().startswith(b"location:")]
    if status in (301, 303):
        assert len(location) == 1
        assert b"X-Evil" in location[0]  # kept percent-encoded inside the one header
    else:
        assert location == []


# --- under a path prefix (a reverse proxy that strips /pypi) -------------------------------

PREFIX = "/pypi"


class _StripPrefixProxy(BaseHTTPRequestHandler):
    backend: tuple[str, int] = ("127.0.0.1", 0)

    def do_GET(self) -> None:
        self._forward()

    def do_HEAD(self) -> None:
        self._forward()

    def _forward(self) -> None:
        if not self.path.startswith(PREFIX + "/"):
            self.send_error(404)
            return
        conn = HTTPConnection(*self.backend, timeout=30)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        conn.request(self.command, self.path[len(PREFIX) :], headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        self.send_response(resp.status)
        for key, value in resp.getheaders():
            if key.lower() not in ("connection", "transfer-encoding", "date", "server"):
                self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def proxied(server: Server) -> Iterator[str]:
    """URL of the index through a proxy that serves it at /pypi/."""
    parts = urlsplit(server.url)
    handler = type("Proxy", (_StripPrefixProxy,), {"backend": (parts.hostname, parts.port)})
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{proxy.server_address[1]}{PREFIX}/"
    proxy.shutdown()
    proxy.server_close()


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("simple", "/pypi/simple/"),
        ("simple?x=1", "/pypi/simple/"),
        ("packages", "/pypi/packages/"),
        ("simple/Foo_Bar/", "/pypi/simple/foo-bar/"),
        ("simple/Foo_Bar/?x=1", "/pypi/simple/foo-bar/"),
        ("simple/foo-bar", "/pypi/simple/foo-bar/"),
        ("simple/Foo.Bar", "/pypi/simple/foo-bar/"),
        ("Foo_Bar", "/pypi/simple/foo-bar/"),
        ("foo-bar/", "/pypi/simple/foo-bar/"),
        ("Foo_Bar/?x=1", "/pypi/simple/foo-bar/"),
    ],
)
def test_redirects_under_a_prefix(proxied: str, path: str, target: str) -> None:
    url = proxied + path
    resp = http(url)
    assert resp.status in (301, 303)
    location = resp.header("Location")
    assert location is not None
    query = urlsplit(url).query
    assert target_of(url, location) == (target, query)
    assert http(urljoin(url, location)).status == 200


def test_pages_and_files_under_a_prefix(proxied: str, tree: Tree) -> None:
    index = proxied + "simple/"
    projects = links(http(index).text)
    assert [t for _, t in projects] == PROJECTS
    fetched = 0
    for href, name in projects:
        page_url = urljoin(index, href)
        assert urlsplit(page_url).path == f"/pypi/simple/{name}/"
        page = http(page_url)
        assert page.status == 200
        for file_href, filename in links(page.text):
            file_url = urljoin(page_url, file_href).partition("#")[0]
            relpath = unquote(urlsplit(file_url).path).removeprefix("/pypi/packages/")
            assert relpath in tree.dists
            assert filename == tree.dists[relpath].filename
            assert http(file_url).body == tree.dists[relpath].data
            fetched += 1
    assert fetched == len(tree.dists)
    listing_url = proxied + "packages/"
    for href, text in links(http(listing_url).text):
        assert unquote(urlsplit(urljoin(listing_url, href)).path) == "/pypi/packages/" + text


def test_welcome_links_under_a_prefix(proxied: str) -> None:
    page = http(proxied)
    assert page.status == 200
    targets = {urlsplit(urljoin(proxied, href)).path for href, _ in links(page.text)}
    assert "/pypi/simple/" in targets
    assert "/pypi/packages/" in targets


# --- welcome, health -----------------------------------------------------------------------


def test_default_welcome_page(server: Server, tree: Tree) -> None:
    resp = http(server.url)
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/html")
    assert f"{len(tree.dists)} files" in resp.text
    assert f"pip install --index-url {server.url}simple/" in resp.text
    targets = {urlsplit(urljoin(server.url, href)).path for href, _ in links(resp.text)}
    assert {"/simple/", "/packages/"} <= targets


def test_welcome_file_is_substituted_not_executed(alt_server: Server, tree: Tree) -> None:
    resp = http(alt_server.url)
    assert resp.status == 200
    text = resp.text
    n = len(tree.dists)
    assert f"url={alt_server.url} n={n} raw={n}" in text
    assert "code: {{ __import__('os').getcwd() }}" in text
    assert "\n% import os\n" in text
    assert "{{os.getcwd()}}" in text
    assert str(Path.cwd()) not in text
    targets = {urlsplit(urljoin(alt_server.url, href)).path for href, _ in links(text)}
    assert targets == {"/simple/", "/packages/"}


def test_health(server: Server) -> None:
    resp = http(server.url + "health")
    assert resp.status == 200
    assert resp.text.strip() == "ok"


def test_health_endpoint_option(alt_server: Server) -> None:
    resp = http(alt_server.url + "ping")
    assert resp.status == 200
    assert resp.text.strip() == "ok"


# --- robustness and the access log -------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/simple/%ff/",
        "/simple/%ff",
        "/%ff",
        "/%ff/",
        "/packages/%00",
        "/packages/%ff%fe.whl",
        "/simple/%00/",
        "/%00/",
        "/simple/" + "-" * 4000 + "/",
        "/" + "x." * 2000 + "-/",
        "/packages/" + "a" * 5000 + "-1.0.tar.gz",
        "/packages/" + "d/" * 1000 + "x-1.0.tar.gz",
        "/simple//",
        "/packages//",
        "/packages/%2e%2e/%2e%2e/etc/passwd",
        "/nothing/here/at/all",
    ],
)
def test_weird_paths_are_4xx_and_the_server_keeps_serving(server: Server, path: str) -> None:
    status, _, body = raw_request(server.url, path)
    assert 400 <= status < 500, (status, body[:200])
    assert http(server.url + "simple/foo-bar/").status == 200


def test_head_on_pages(server: Server) -> None:
    for path in ("", "simple/", "simple/foo-bar/", "packages/"):
        get = http(server.url + path)
        head = http(server.url + path, method="HEAD")
        assert head.status == 200
        assert head.body == b""
        assert head.header("Content-Length") == str(len(get.body))


def test_access_log_has_one_line_per_request(server: Server, tree: Tree) -> None:
    token = uuid.uuid4().hex
    page = http(f"{server.url}simple/?log={token}")
    assert page.status == 200
    relpath = "Foo_Bar-1.0-py3-none-any.whl"
    head = http(f"{server.url}packages/{relpath}?log={token}", method="HEAD")
    assert head.status == 200
    missing = http(f"{server.url}packages/missing-{token}-1.0.tar.gz")
    assert missing.status == 404
    expected = [
        f"GET /simple/?log={token} 200 {len(page.body)} ",
        f"HEAD /packages/{relpath}?log={token} 200 {len(tree.dists[relpath].data)} ",
        f"GET /packages/missing-{token}-1.0.tar.gz 404 {len(missing.body)} ",
    ]
    assert wait_for(lambda: all(e in server.log_text() for e in expected))
    lines = [line for line in server.log_text().splitlines() if token in line]
    assert len(lines) == 3
    for line, want in zip(lines, expected, strict=True):
        assert want in line

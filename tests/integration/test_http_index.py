"""The index over a real packyard server: targets sent byte for byte (invalid names, header
splitting, weird paths), HEAD, a prefix behind a real proxy, the access log. The pages,
redirects, fallback, welcome page and health in-process: tests/component/test_component_index.py."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from http.client import HTTPConnection
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from helpers import Server, http, raw, start_server, wait_for
from helpers.index_tree import PROJECTS, Tree, links, make_tree, target_of

# --- helpers ---------------------------------------------------------------------------


def raw_request(url: str, path: str, method: str = "GET") -> tuple[int, list[bytes], bytes]:
    """Send ``path`` byte for byte (no client normalization); (status, header lines, body)."""
    head = raw.request_head(path, urlsplit(url).netloc, method)
    answer = raw.parse(raw.exchange(url, head, timeout=30))
    return answer.status, answer.header_lines, answer.body


# --- the served tree ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return make_tree(tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="module")
def server(tree: Tree) -> Iterator[Server]:
    """Defaults (sha256, fallback to PyPI), -v."""
    srv = start_server("-v", tree.root1, tree.root2)
    yield srv
    srv.stop()


# --- targets sent byte for byte ----------------------------------------------------------


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

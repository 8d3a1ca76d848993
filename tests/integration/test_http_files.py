"""Serving distribution files: bodies, HEAD, ranges, validators, cache headers, what is
never served (hidden files, traversal, symlinks out of the root) and several roots."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from email.utils import formatdate
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, unquote, urljoin, urlsplit

import pytest
from helpers import Server, http, raw, start_server
from helpers.dists import sdist_bytes, wheel_bytes

# --- helpers ---------------------------------------------------------------------------


class _Hrefs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = ""

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, self._text))
            self._href = None


def links(html: str) -> list[tuple[str, str]]:
    parser = _Hrefs()
    parser.feed(html)
    parser.close()
    return parser.links


def raw_status(url: str, path: str) -> int:
    """Status of a GET of ``path`` sent byte for byte (no client-side dot-segment removal)."""
    head = raw.request_head(path, urlsplit(url).netloc)
    return int(raw.exchange(url, head, timeout=30, until=b"\r\n").split(b" ", 2)[1])


# --- the served tree ---------------------------------------------------------------------

WHEEL = "demo_pkg-1.0-py3-none-any.whl"


@dataclass
class Tree:
    base: Path
    root1: Path
    root2: Path
    served: dict[str, bytes]  # relpath -> the bytes the index must serve for it


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    base = tmp_path_factory.mktemp("files")
    root1, root2, outside = base / "root1", base / "root2", base / "outside"
    for d in (root1 / "sub" / ".inner", root1 / ".dotdir", root2 / "sub", outside):
        d.mkdir(parents=True)
    served: dict[str, bytes] = {}

    def put(root: Path, relpath: str, data: bytes, listed: bool = True) -> None:
        (root / relpath).write_bytes(data)
        if listed:
            served.setdefault(relpath, data)

    # root1: the first root wins for a relpath present in both
    put(root1, WHEEL, wheel_bytes("demo-pkg", "1.0", module_body="X = 1\n" * 200)[1])
    put(root1, "sub/demo_pkg-1.1.tar.gz", sdist_bytes("demo-pkg", "1.1")[1])
    put(root1, "shared-1.0.tar.gz", sdist_bytes("shared", "1.0")[1])
    # root2
    put(root2, "shared-1.0.tar.gz", sdist_bytes("shared", "1.0", requires=("other",))[1])
    put(root2, "sub/demo_pkg-1.1.tar.gz", sdist_bytes("demo-pkg", "1.1", requires=("x",))[1])
    put(root2, "only2-1.0-py3-none-any.whl", wheel_bytes("only2", "1.0")[1])
    assert (root1 / "shared-1.0.tar.gz").read_bytes() != (root2 / "shared-1.0.tar.gz").read_bytes()

    # never served
    put(root1, ".demo_pkg-9.0.tar.gz", sdist_bytes("demo-pkg", "9.0")[1], listed=False)
    put(root1, ".dotdir/demo_pkg-8.0-py3-none-any.whl", wheel_bytes("demo-pkg", "8.0")[1], False)
    put(root1, "sub/.inner/demo_pkg-7.0.tar.gz", sdist_bytes("demo-pkg", "7.0")[1], False)
    put(root1, "notes.txt", b"notes\n", listed=False)
    put(root1, WHEEL + ".asc", b"-----BEGIN PGP SIGNATURE-----\n", listed=False)
    put(outside, "outside_link-1.0.tar.gz", sdist_bytes("outside-link", "1.0")[1], False)
    put(outside, "viadir-1.0.tar.gz", sdist_bytes("viadir", "1.0")[1], False)
    (root1 / "outside_link-1.0.tar.gz").symlink_to(outside / "outside_link-1.0.tar.gz")
    (root1 / "linkdir_out").symlink_to(outside, target_is_directory=True)
    (root1 / "linkdir_in").symlink_to(root1 / "sub", target_is_directory=True)

    # a symlink to a file inside the root is served (with the target's bytes)
    (root1 / "store").mkdir()
    blob = sdist_bytes("linked", "2.0")[1]
    (root1 / "store" / "blob.bin").write_bytes(blob)
    (root1 / "linked-2.0.tar.gz").symlink_to(Path("store") / "blob.bin")
    served["linked-2.0.tar.gz"] = blob
    return Tree(base, root1, root2, served)


@pytest.fixture(scope="module")
def server(tree: Tree) -> Iterator[Server]:
    srv = start_server("--cache-control", "3600", tree.root1, tree.root2)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def wheel_url(server: Server) -> str:
    return server.url + "packages/" + WHEEL


@pytest.fixture(scope="module")
def wheel_data(tree: Tree) -> bytes:
    data = tree.served[WHEEL]
    assert len(data) > 100
    return data


# --- bodies and HEAD -----------------------------------------------------------------------


def test_every_listed_file_is_served_byte_for_byte(server: Server, tree: Tree) -> None:
    listing_url = server.url + "packages/"
    listed = {text: urljoin(listing_url, href) for href, text in links(http(listing_url).text)}
    assert set(listed) == set(tree.served)
    for relpath, url in listed.items():
        resp = http(url)
        assert resp.status == 200
        assert resp.body == tree.served[relpath], relpath
        assert resp.header("Content-Length") == str(len(tree.served[relpath]))


def test_head_has_length_and_no_body(wheel_url: str, wheel_data: bytes) -> None:
    resp = http(wheel_url, method="HEAD")
    assert resp.status == 200
    assert resp.body == b""
    assert resp.header("Content-Length") == str(len(wheel_data))
    assert resp.header("ETag")
    assert resp.header("Accept-Ranges") == "bytes"


def test_file_headers(wheel_url: str) -> None:
    resp = http(wheel_url)
    assert resp.header("Accept-Ranges") == "bytes"
    etag = resp.header("ETag")
    assert etag is not None
    assert etag.startswith(('"', 'W/"'))
    assert etag.endswith('"')
    last_modified = resp.header("Last-Modified")
    assert last_modified is not None
    assert last_modified.endswith(" GMT")
    assert resp.header("Cache-Control") == "public, max-age=3600, immutable"


# --- ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "first", "last"),
    [
        ("bytes=0-9", 0, 9),
        ("bytes=-5", -5, -1),
        ("bytes=5-", 5, -1),
        ("bytes=3-3", 3, 3),
        ("bytes=10-999999", 10, -1),
        ("bytes=-999999", 0, -1),
        ("bytes= 0-9", 0, 9),
    ],
)
def test_single_range(wheel_url: str, wheel_data: bytes, spec: str, first: int, last: int) -> None:
    size = len(wheel_data)
    first, last = first % size, last % size
    resp = http(wheel_url, headers={"Range": spec})
    assert resp.status == 206
    assert resp.header("Content-Range") == f"bytes {first}-{last}/{size}"
    assert resp.body == wheel_data[first : last + 1]
    assert resp.header("Content-Length") == str(last - first + 1)
    assert resp.header("Cache-Control") == "public, max-age=3600, immutable"


@pytest.mark.parametrize("spec", ["bytes=999999-", "bytes=999999-1000000", "bytes={size}-"])
def test_unsatisfiable_range(wheel_url: str, wheel_data: bytes, spec: str) -> None:
    size = len(wheel_data)
    resp = http(wheel_url, headers={"Range": spec.format(size=size)})
    assert resp.status == 416
    assert resp.header("Content-Range") == f"bytes */{size}"
    assert wheel_data not in resp.body


@pytest.mark.parametrize(
    "spec",
    [
        "bytes=0-1,3-4",
        "bytes=0-9, 20-29",
        "garbage",
        "bytes=abc",
        "items=0-5",
        "bytes=5-2",
        "bytes",
    ],
)
def test_multi_or_invalid_range_gives_the_whole_file(
    wheel_url: str, wheel_data: bytes, spec: str
) -> None:
    resp = http(wheel_url, headers={"Range": spec})
    assert resp.status == 200
    assert resp.body == wheel_data
    assert resp.header("Content-Range") is None


# --- conditional requests ------------------------------------------------------------------


def test_if_none_match(wheel_url: str, wheel_data: bytes) -> None:
    etag = http(wheel_url, method="HEAD").header("ETag")
    assert etag is not None
    hit = http(wheel_url, headers={"If-None-Match": etag})
    assert hit.status == 304
    assert hit.body == b""
    assert hit.header("ETag") == etag
    assert http(wheel_url, headers={"If-None-Match": f'"nope", {etag}'}).status == 304
    assert http(wheel_url, headers={"If-None-Match": "*"}).status == 304
    miss = http(wheel_url, headers={"If-None-Match": '"something-else"'})
    assert miss.status == 200
    assert miss.body == wheel_data


def test_if_none_match_wins_over_if_modified_since(wheel_url: str, wheel_data: bytes) -> None:
    future = formatdate(4102444800, usegmt=True)  # 2100
    resp = http(wheel_url, headers={"If-None-Match": '"other"', "If-Modified-Since": future})
    assert resp.status == 200
    assert resp.body == wheel_data


def test_if_modified_since(wheel_url: str, wheel_data: bytes) -> None:
    last_modified = http(wheel_url, method="HEAD").header("Last-Modified")
    assert last_modified is not None
    for since in (formatdate(4102444800, usegmt=True), last_modified):
        resp = http(wheel_url, headers={"If-Modified-Since": since})
        assert resp.status == 304, since
        assert resp.body == b""
    past = http(wheel_url, headers={"If-Modified-Since": formatdate(946684800, usegmt=True)})
    assert past.status == 200
    assert past.body == wheel_data
    bad = http(wheel_url, headers={"If-Modified-Since": "not a date"})
    assert bad.status == 200
    assert bad.body == wheel_data


def test_if_range(wheel_url: str, wheel_data: bytes) -> None:
    head = http(wheel_url, method="HEAD")
    etag, last_modified = head.header("ETag"), head.header("Last-Modified")
    assert etag is not None
    assert last_modified is not None
    stale = http(wheel_url, headers={"Range": "bytes=0-9", "If-Range": '"stale-etag"'})
    assert stale.status == 200
    assert stale.body == wheel_data
    old_date = formatdate(946684800, usegmt=True)
    stale_date = http(wheel_url, headers={"Range": "bytes=0-9", "If-Range": old_date})
    assert stale_date.status == 200
    assert stale_date.body == wheel_data
    for validator in (etag, last_modified):
        fresh = http(wheel_url, headers={"Range": "bytes=0-9", "If-Range": validator})
        assert fresh.status == 206, validator
        assert fresh.body == wheel_data[:10]


# --- what is never served ------------------------------------------------------------------

NOT_SERVED = [
    "/packages/.demo_pkg-9.0.tar.gz",
    "/packages/.dotdir/demo_pkg-8.0-py3-none-any.whl",
    "/packages/%2Edotdir/demo_pkg-8.0-py3-none-any.whl",
    "/packages/sub/.inner/demo_pkg-7.0.tar.gz",
    "/packages/notes.txt",
    f"/packages/{WHEEL}.asc",
    "/packages/store/blob.bin",
    f"/packages/../root1/{WHEEL}",
    f"/packages/%2e%2e/root1/{WHEEL}",
    f"/packages/%2E%2E/%2E%2E/files0/root1/{WHEEL}",
    f"/packages/sub/../{WHEEL}",
    f"/packages/sub/%2e%2e/{WHEEL}",
    "/packages/..",
    "/packages/%2e%2e/",
    "/packages/../../../../etc/passwd",
    "/packages/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/packages/outside_link-1.0.tar.gz",
    "/packages/linkdir_out/viadir-1.0.tar.gz",
    "/packages/linkdir_out/outside_link-1.0.tar.gz",
    "/packages/linkdir_in/demo_pkg-1.1.tar.gz",
    f"/packages/{WHEEL}%ff",
    f"/packages/%ff{WHEEL}",
    "/packages/SUB/demo_pkg-1.1.tar.gz",
    f"/packages/{WHEEL.upper()}",
]


@pytest.mark.parametrize("path", NOT_SERVED)
def test_not_served(server: Server, path: str) -> None:
    # A path that is not UTF-8 once decoded is a malformed request (400), not a miss.
    expected = 400 if "%ff" in path else 404
    assert raw_status(server.url, path) == expected


@pytest.mark.parametrize("which", ["root1", "root2"])
def test_absolute_paths_are_not_served(server: Server, tree: Tree, which: str) -> None:
    absolute = getattr(tree, which) / WHEEL
    assert absolute.is_absolute()
    for path in (
        "/packages/" + quote(str(absolute)),
        "/packages/" + quote(str(absolute), safe=""),
        "/packages/" + quote(str(absolute))[1:],
    ):
        assert raw_status(server.url, path) == 404, path


def test_hidden_and_outside_files_are_not_listed(server: Server, tree: Tree) -> None:
    listing = http(server.url + "packages/").text
    for word in ("demo_pkg-9.0", "demo_pkg-8.0", "demo_pkg-7.0", "notes", ".asc", "blob"):
        assert word not in listing
    for word in ("outside_link", "viadir", "linkdir"):
        assert word not in listing
    projects = [text for _, text in links(http(server.url + "simple/").text)]
    assert projects == ["demo-pkg", "linked", "only2", "shared"]
    page = http(server.url + "simple/demo-pkg/").text
    assert [text for _, text in links(page)] == [WHEEL, "demo_pkg-1.1.tar.gz"]
    assert http(server.url + "simple/outside-link/").status == 303
    assert http(server.url + "simple/viadir/").status == 303


def test_symlink_to_a_file_inside_the_root_is_served(server: Server, tree: Tree) -> None:
    assert os.path.islink(tree.root1 / "linked-2.0.tar.gz")
    resp = http(server.url + "packages/linked-2.0.tar.gz")
    assert resp.status == 200
    assert resp.body == tree.served["linked-2.0.tar.gz"]
    page_url = server.url + "simple/linked/"
    [(href, text)] = links(http(page_url).text)
    assert text == "linked-2.0.tar.gz"
    assert href.endswith("#sha256=" + hashlib.sha256(resp.body).hexdigest())


# --- several roots -------------------------------------------------------------------------


@pytest.mark.parametrize("relpath", ["shared-1.0.tar.gz", "sub/demo_pkg-1.1.tar.gz"])
def test_first_root_wins_for_a_relpath_in_both(server: Server, tree: Tree, relpath: str) -> None:
    first = (tree.root1 / relpath).read_bytes()
    assert first != (tree.root2 / relpath).read_bytes()
    resp = http(server.url + "packages/" + relpath)
    assert resp.status == 200
    assert resp.body == first
    listing = [text for _, text in links(http(server.url + "packages/").text)]
    assert listing.count(relpath) == 1
    project = "shared" if relpath.startswith("shared") else "demo-pkg"
    page_url = f"{server.url}simple/{project}/"
    matching = [
        href
        for href, _ in links(http(page_url).text)
        if unquote(urlsplit(urljoin(page_url, href)).path) == "/packages/" + relpath
    ]
    assert matching == [f"../../packages/{relpath}#sha256={hashlib.sha256(first).hexdigest()}"]


def test_files_only_in_the_second_root_are_listed_and_served(server: Server, tree: Tree) -> None:
    relpath = "only2-1.0-py3-none-any.whl"
    page_url = server.url + "simple/only2/"
    [(href, text)] = links(http(page_url).text)
    assert text == relpath
    data = (tree.root2 / relpath).read_bytes()
    assert href.endswith("#sha256=" + hashlib.sha256(data).hexdigest())
    assert http(urljoin(page_url, href)).body == data

"""HTTP caching of a real packyard server: strong ETags and 304s for the index pages,
their short Cache-Control and Vary, gzip of the index pages (never of distribution
files or .metadata), the Cache-Control of files in every configuration, and the
options that come with them (--index-max-age, --threads, --connection-limit).

Requests are sent with http.client and ``skip_accept_encoding`` so each test says
exactly which Accept-Encoding (if any) goes out; nothing is decompressed for us.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import Server, Site, clean_environ, raw, start_server, wait_for
from helpers.dists import make_sdist, make_wheel, metadata_text, wheel_bytes
from helpers.forms import encode_form, post
from helpers.upload import upload

JSON_V1 = "application/vnd.pypi.simple.v1+json"
YEAR = 31536000
GZIP_MIN = 256
SIMPLE_VARY = "Accept, Accept-Encoding"
OTHER_VARY = "Accept-Encoding"
USER, PASSWORD = "cacher", "cache-pw-1"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()

# --- requests ------------------------------------------------------------------------------


@dataclass
class Got:
    status: int
    pairs: list[tuple[str, str]]  # header lines as received
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        return {k.lower(): v for k, v in self.pairs}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def count(self, name: str) -> int:
        return sum(1 for k, _ in self.pairs if k.lower() == name.lower())

    @property
    def etag(self) -> str:
        value = self.header("ETag")
        assert value is not None, self
        return value


def fetch(url: str, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Got:
    """One request with exactly ``headers`` (no Accept-Encoding unless given)."""
    parts = urlsplit(url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        return Got(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def raw_exchange(url: str, request_head: str) -> tuple[str, bytes]:
    """Send a request head byte for byte and read to the end: (status line and header
    block, everything after the blank line)."""
    head, _, rest = raw.exchange(url, request_head.encode("latin-1"), timeout=60).partition(
        b"\r\n\r\n"
    )
    return head.decode("latin-1"), rest


def without_date(got: Got) -> list[tuple[str, str]]:
    return sorted((k.lower(), v) for k, v in got.pairs if k.lower() != "date")


# --- the shared server -----------------------------------------------------------------------

# id -> (path, request headers, Vary the page must carry)
PAGES: dict[str, tuple[str, dict[str, str], str]] = {
    "simple-html": ("/simple/", {}, SIMPLE_VARY),
    "simple-json": ("/simple/", {"Accept": JSON_V1}, SIMPLE_VARY),
    "project-html": ("/simple/cachey/", {}, SIMPLE_VARY),
    "project-json": ("/simple/cachey/", {"Accept": JSON_V1}, SIMPLE_VARY),
    "project-format": (
        "/simple/cachey/?format=application/vnd.pypi.simple.v1%2Bjson",
        {},
        SIMPLE_VARY,
    ),
    "packages": ("/packages/", {}, OTHER_VARY),
    "pypi-project": ("/pypi/cachey/json", {}, OTHER_VARY),
    "pypi-release": ("/pypi/cachey/1.0/json", {}, OTHER_VARY),
    "legacy-json": ("/cachey/json", {}, OTHER_VARY),
}

CACHEY_WHEEL = "cachey-1.0-py3-none-any.whl"
CACHEY_SDIST = "cachey-1.0.tar.gz"
CACHEY_METADATA = metadata_text("cachey", "1.0").encode()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Open uploads and yanks (-P . -a .), two threads, enough projects that every
    index page is over the gzip threshold."""
    packages = tmp_path_factory.mktemp("caching") / "packages"
    packages.mkdir()
    make_wheel(packages, "cachey", "1.0")
    make_sdist(packages, "cachey", "1.0")
    make_wheel(packages, "yanky", "1.0")
    make_wheel(packages, "yanky", "2.0")
    make_wheel(packages, "grower", "1.0")
    make_wheel(packages, "copied", "1.0")
    make_wheel(packages, "replaced", "1.0")
    make_wheel(packages, "replaced", "2.0")
    make_wheel(packages, "cliyanky", "1.0")
    for i in range(10):
        make_wheel(packages, f"filler-{i}", "1.0")
    server = start_server("-P", ".", "-a", ".", "--disable-fallback", "--threads", "2", packages)
    yield Site(server, packages)
    server.stop()


def page(server: Server, key: str, extra: dict[str, str] | None = None, **kw: str) -> Got:
    path, headers, _ = PAGES[key]
    return fetch(server.url, path, {**headers, **(extra or {})}, **kw)


def yank_action(server: Server, action: str, name: str, version: str, reason: str = "") -> None:
    fields = [(":action", action), ("name", name), ("version", version)]
    if reason:
        fields.append(("reason", reason))
    body, content_type = encode_form(fields, None)
    reply = post(server.url, body, content_type)
    assert reply.status == 200, reply


# === 1. ETag, stability and 304 ===============================================================


@pytest.mark.parametrize("key", PAGES)
def test_index_page_has_strong_stable_etag_and_short_caching(site: Site, key: str) -> None:
    first = page(site.server, key)
    second = page(site.server, key)
    for got in (first, second):
        assert got.status == 200, got
        assert got.header("Content-Encoding") is None
        assert got.header("Cache-Control") == "public, max-age=10"
        assert got.header("Vary") == PAGES[key][2]
        for name in ("ETag", "Cache-Control", "Vary"):
            assert got.count(name) == 1, got.pairs
    assert re.fullmatch(r'"[!#-~]+"', first.etag), first.etag  # strong: no W/
    assert second.etag == first.etag
    assert second.body == first.body


def test_representations_of_one_url_have_their_own_etags(site: Site) -> None:
    """HTML and JSON of /simple/<p>/ differ, so do their tags; each validates only
    itself (the Vary: Accept representations)."""
    html = page(site.server, "project-html")
    json = page(site.server, "project-json")
    assert html.body != json.body
    assert html.etag != json.etag
    crossed = page(site.server, "project-json", {"If-None-Match": html.etag})
    assert crossed.status == 200
    assert crossed.body == json.body
    # ?format= gives the same JSON page, hence the same tag
    assert page(site.server, "project-format").etag == json.etag


def _inm_variants(etag: str) -> dict[str, str]:
    return {
        "exact": etag,
        "list": f'"nope", {etag}, "other"',
        "list-no-spaces": f'"nope",{etag}',
        "weak": "W/" + etag,  # If-None-Match uses the weak comparison
        "star": "*",
    }


@pytest.mark.parametrize("variant", ["exact", "list", "list-no-spaces", "weak", "star"])
@pytest.mark.parametrize("key", PAGES)
def test_if_none_match_gives_304_without_body(site: Site, key: str, variant: str) -> None:
    full = page(site.server, key)
    assert full.status == 200
    got = page(site.server, key, {"If-None-Match": _inm_variants(full.etag)[variant]})
    assert got.status == 304, got
    assert got.body == b""
    assert got.etag == full.etag
    assert got.header("Cache-Control") == "public, max-age=10"
    assert got.header("Vary") == PAGES[key][2]


@pytest.mark.parametrize("key", PAGES)
def test_other_etag_gives_the_full_page(site: Site, key: str) -> None:
    full = page(site.server, key)
    for other in ('"nope"', '"nope", "other"', 'W/"nope"', full.etag[:-2] + '"'):
        got = page(site.server, key, {"If-None-Match": other})
        assert got.status == 200, (other, got)
        assert got.body == full.body
        assert got.etag == full.etag


def test_304_is_sent_without_content_on_the_wire(site: Site) -> None:
    """Nothing follows the header block of a 304, and no Content-Length other than the
    page's own (RFC 9110 8.6) is claimed."""
    full = page(site.server, "simple-html")
    head, rest = raw_exchange(
        site.server.url,
        "GET /simple/ HTTP/1.1\r\nHost: localhost\r\n"
        f"If-None-Match: {full.etag}\r\nConnection: close\r\n\r\n",
    )
    assert head.startswith("HTTP/1.1 304 "), head
    assert rest == b""
    length = re.search(r"(?im)^content-length:\s*(\d+)", head)
    assert length is None or int(length.group(1)) == len(full.body), head


def test_304_then_200_on_one_keep_alive_connection(site: Site) -> None:
    """A 304 leaves the connection in step: the next answer on it is whole."""
    full = page(site.server, "packages")
    parts = urlsplit(site.server.url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        for inm, status, body in ((full.etag, 304, b""), (None, 200, full.body)):
            conn.putrequest("GET", "/packages/", skip_accept_encoding=True)
            if inm is not None:
                conn.putheader("If-None-Match", inm)
            conn.endheaders()
            resp = conn.getresponse()
            assert resp.status == status
            assert resp.read() == body
    finally:
        conn.close()


# === 2. gzip ===================================================================================


@pytest.mark.parametrize("key", PAGES)
def test_gzip_body_is_the_identity_body_compressed(site: Site, key: str) -> None:
    plain = page(site.server, key)
    assert len(plain.body) >= GZIP_MIN, "the fixture must make every page big enough"
    zipped = page(site.server, key, {"Accept-Encoding": "gzip"})
    assert zipped.status == 200
    assert zipped.header("Content-Encoding") == "gzip"
    assert zipped.header("Content-Type") == plain.header("Content-Type")
    assert zipped.header("Content-Length") == str(len(zipped.body))
    assert gzip.decompress(zipped.body) == plain.body
    assert zipped.header("Cache-Control") == "public, max-age=10"
    assert zipped.header("Vary") == PAGES[key][2]
    # its own strong validator, stable like the identity one
    assert zipped.etag != plain.etag
    assert zipped.etag.endswith('-gz"'), zipped.etag
    assert re.fullmatch(r'"[!#-~]+"', zipped.etag), zipped.etag
    again = page(site.server, key, {"Accept-Encoding": "gzip"})
    assert again.etag == zipped.etag
    assert again.body == zipped.body


@pytest.mark.parametrize("key", PAGES)
def test_each_encoding_validates_only_itself(site: Site, key: str) -> None:
    plain = page(site.server, key)
    zipped = page(site.server, key, {"Accept-Encoding": "gzip"})
    gz = {"Accept-Encoding": "gzip"}

    got = page(site.server, key, {**gz, "If-None-Match": zipped.etag})
    assert got.status == 304
    assert got.etag == zipped.etag
    assert got.body == b""
    assert got.header("Vary") == PAGES[key][2]

    got = page(site.server, key, {**gz, "If-None-Match": plain.etag})
    assert got.status == 200
    assert got.header("Content-Encoding") == "gzip"
    assert gzip.decompress(got.body) == plain.body

    got = page(site.server, key, {"If-None-Match": zipped.etag})
    assert got.status == 200
    assert got.header("Content-Encoding") is None
    assert got.body == plain.body

    got = page(site.server, key, {"If-None-Match": plain.etag})
    assert got.status == 304
    assert got.etag == plain.etag

    # a client holding both sends both: it gets a 304 for the one it asked for
    both = f"{plain.etag}, {zipped.etag}"
    assert page(site.server, key, {**gz, "If-None-Match": both}).etag == zipped.etag
    assert page(site.server, key, {**gz, "If-None-Match": both}).status == 304
    assert page(site.server, key, {"If-None-Match": both}).status == 304


# Accept-Encoding -> whether the page comes gzipped
ACCEPT_ENCODINGS = {
    "gzip": True,
    "GZip": True,
    "gzip, deflate, br": True,
    "br;q=1.0, gzip;q=0.8, *;q=0.1": True,
    "gzip;q=0.001": True,
    "*": True,
    "identity, *;q=0.5": True,
    "gzip;q=0": False,
    "gzip; q=0.0": False,
    "gzip;q=0, *": False,
    "*;q=0, gzip": True,
    "*;q=0": False,
    "identity": False,
    "deflate, br": False,
    "": False,
}


@pytest.mark.parametrize("accept_encoding", ACCEPT_ENCODINGS)
def test_accept_encoding_decides_gzip(site: Site, accept_encoding: str) -> None:
    plain = page(site.server, "project-html")
    got = page(site.server, "project-html", {"Accept-Encoding": accept_encoding})
    assert got.status == 200
    if ACCEPT_ENCODINGS[accept_encoding]:
        assert got.header("Content-Encoding") == "gzip"
        assert gzip.decompress(got.body) == plain.body
        assert got.etag != plain.etag
    else:
        assert got.header("Content-Encoding") is None
        assert got.body == plain.body
        assert got.etag == plain.etag


def test_no_accept_encoding_header_is_not_compressed(site: Site) -> None:
    head, rest = raw_exchange(
        site.server.url,
        "GET /simple/cachey/ HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    assert head.startswith("HTTP/1.1 200 "), head
    assert "content-encoding" not in head.lower()
    assert rest == page(site.server, "project-html").body


@pytest.mark.parametrize("gz", [False, True], ids=["identity", "gzip"])
@pytest.mark.parametrize("key", PAGES)
def test_head_has_the_headers_of_get(site: Site, key: str, gz: bool) -> None:
    extra = {"Accept-Encoding": "gzip"} if gz else {}
    got = page(site.server, key, extra)
    head = page(site.server, key, extra, method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert without_date(head) == without_date(got)
    # and a conditional HEAD is a 304 like the GET
    cond = page(site.server, key, {**extra, "If-None-Match": got.etag}, method="HEAD")
    assert cond.status == 304
    assert cond.etag == got.etag


def test_small_pages_are_not_compressed(tmp_path: Path, serve: Callable[..., Server]) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = serve("--disable-fallback", packages)
    for path, headers in (("/simple/", {}), ("/simple/", {"Accept": JSON_V1}), ("/packages/", {})):
        plain = fetch(server.url, path, headers)
        assert plain.status == 200
        assert len(plain.body) < GZIP_MIN, (path, len(plain.body))
        got = fetch(server.url, path, {**headers, "Accept-Encoding": "gzip"})
        assert got.status == 200
        assert got.header("Content-Encoding") is None
        assert got.body == plain.body
        assert got.etag == plain.etag
        # still validated and cacheable
        assert got.header("Cache-Control") == "public, max-age=10"
        inm = fetch(
            server.url, path, {**headers, "Accept-Encoding": "gzip", "If-None-Match": got.etag}
        )
        assert inm.status == 304


# === 3. changes give new ETags ================================================================


def _snapshot(server: Server, keys: list[str]) -> dict[str, tuple[Got, Got]]:
    return {k: (page(server, k), page(server, k, {"Accept-Encoding": "gzip"})) for k in keys}


def _assert_changed(server: Server, before: dict[str, tuple[Got, Got]], marker: str) -> None:
    """An old If-None-Match (either encoding) now gets the new page with a new tag."""
    for key, (plain, zipped) in before.items():
        got = page(server, key, {"If-None-Match": plain.etag})
        assert got.status == 200, key
        assert got.etag != plain.etag, key
        assert marker in got.body.decode(), key
        got_gz = page(server, key, {"Accept-Encoding": "gzip", "If-None-Match": zipped.etag})
        assert got_gz.status == 200, key
        assert got_gz.etag != zipped.etag, key
        assert gzip.decompress(got_gz.body) == got.body, key
        # and the new tag validates at once
        assert page(server, key, {"If-None-Match": got.etag}).status == 304, key


def test_upload_of_a_new_version_changes_project_pages(site: Site) -> None:
    server = site.server
    keys = ["project-html", "project-json", "packages", "pypi-project", "legacy-json"]
    paths = {k: PAGES[k][0].replace("cachey", "grower") for k in keys}
    before = {
        k: (
            fetch(server.url, paths[k], PAGES[k][1]),
            fetch(server.url, paths[k], {**PAGES[k][1], "Accept-Encoding": "gzip"}),
        )
        for k in keys
    }
    assert all(p.status == 200 for p, _ in before.values())
    simple_before = page(server, "simple-html")

    filename, data = wheel_bytes("grower", "2.0")
    upload(server.url, filename, data, "grower", "2.0", expect=200)

    for key, (plain, zipped) in before.items():
        got = fetch(server.url, paths[key], {**PAGES[key][1], "If-None-Match": plain.etag})
        assert got.status == 200, key
        assert got.etag != plain.etag, key
        assert filename in got.body.decode(), key
        got_gz = fetch(
            server.url,
            paths[key],
            {**PAGES[key][1], "Accept-Encoding": "gzip", "If-None-Match": zipped.etag},
        )
        assert got_gz.status == 200, key
        assert got_gz.etag != zipped.etag, key
        assert gzip.decompress(got_gz.body) == got.body, key
    # /simple/ lists the same projects: same bytes, same tag
    after = page(server, "simple-html", {"If-None-Match": simple_before.etag})
    assert after.status == 304


def test_upload_of_a_new_project_changes_the_root_pages(site: Site) -> None:
    before = _snapshot(site.server, ["simple-html", "simple-json", "packages"])
    filename, data = wheel_bytes("fresh-upload", "1.0")
    upload(site.server.url, filename, data, "fresh-upload", "1.0", expect=200)
    _assert_changed(site.server, {k: before[k] for k in ("simple-html", "simple-json")}, "fresh")
    _assert_changed(site.server, {"packages": before["packages"]}, filename)


def test_file_copied_in_changes_the_etags(site: Site) -> None:
    server = site.server
    project_path = "/simple/copied/"
    old_project = fetch(server.url, project_path)
    old_json = fetch(server.url, "/pypi/copied/json")
    old_packages = page(server, "packages")
    old_simple = page(server, "simple-html")

    filename, data = wheel_bytes("copied", "1.1")
    staging = site.packages.parent / filename  # same filesystem, outside the root
    staging.write_bytes(data)
    os.replace(staging, site.packages / filename)

    assert wait_for(
        lambda: fetch(server.url, project_path, {"If-None-Match": old_project.etag}).status == 200,
        timeout=30,
    ), "the project page never changed after a file was copied in"
    got = fetch(server.url, project_path, {"If-None-Match": old_project.etag})
    assert got.etag != old_project.etag
    assert filename in got.body.decode()
    got = fetch(server.url, "/pypi/copied/json", {"If-None-Match": old_json.etag})
    assert got.status == 200
    assert filename in got.body.decode()
    got = page(server, "packages", {"If-None-Match": old_packages.etag})
    assert got.status == 200
    assert filename in got.body.decode()
    # no new project: the root page is unchanged
    assert page(server, "simple-html", {"If-None-Match": old_simple.etag}).status == 304


def test_yank_changes_the_project_etags(site: Site) -> None:
    server = site.server
    paths = {
        "html": ("/simple/yanky/", {}),
        "json": ("/simple/yanky/", {"Accept": JSON_V1}),
        "pypi": ("/pypi/yanky/json", {}),
        "pypi-release": ("/pypi/yanky/1.0/json", {}),
    }
    before = {k: fetch(server.url, p, h) for k, (p, h) in paths.items()}
    before_gz = {
        k: fetch(server.url, p, {**h, "Accept-Encoding": "gzip"}) for k, (p, h) in paths.items()
    }
    simple_before = page(server, "simple-html")

    yank_action(server, "yank", "yanky", "1.0", "broken build")

    for key, (path, headers) in paths.items():
        got = fetch(server.url, path, {**headers, "If-None-Match": before[key].etag})
        assert got.status == 200, key
        assert got.etag != before[key].etag, key
        assert "broken build" in got.body.decode(), key
        got_gz = fetch(
            server.url,
            path,
            {**headers, "Accept-Encoding": "gzip", "If-None-Match": before_gz[key].etag},
        )
        assert got_gz.status == 200, key
        assert gzip.decompress(got_gz.body) == got.body, key
        assert fetch(server.url, path, {**headers, "If-None-Match": got.etag}).status == 304
    assert page(server, "simple-html", {"If-None-Match": simple_before.etag}).status == 304

    # un-yanking gives back the same bytes, hence the same tag as before the yank
    yank_action(server, "unyank", "yanky", "1.0")
    for key, (path, headers) in paths.items():
        got = fetch(server.url, path, headers)
        assert "broken build" not in got.body.decode(), key
        if got.body == before[key].body:
            assert got.etag == before[key].etag, key
        else:
            assert got.etag != before[key].etag, key


def test_yank_command_of_another_process_changes_the_etag(site: Site) -> None:
    server = site.server
    old = fetch(server.url, "/simple/cliyanky/")
    old_json = fetch(server.url, "/pypi/cliyanky/json")
    done = run_cli("yank", "--reason", "cli reason", site.packages, "cliyanky", "1.0")
    assert done.returncode == 0, done
    got = fetch(server.url, "/simple/cliyanky/", {"If-None-Match": old.etag})
    assert got.status == 200
    assert got.etag != old.etag
    assert "cli reason" in got.body.decode()
    got = fetch(server.url, "/pypi/cliyanky/json", {"If-None-Match": old_json.etag})
    assert got.status == 200
    assert "cli reason" in got.body.decode()


def _sha256_in(body: bytes, data: bytes) -> bool:
    return hashlib.sha256(data).hexdigest() in body.decode()


def test_file_replaced_or_removed_by_hand_changes_the_etag(site: Site) -> None:
    server = site.server
    path = "/simple/replaced/"
    old = fetch(server.url, path)
    old_pypi = fetch(server.url, "/pypi/replaced/json")
    filename, data = wheel_bytes("replaced", "1.0", module_body="CHANGED = True\n")
    assert not _sha256_in(old.body, data)
    staging = site.packages.parent / filename
    staging.write_bytes(data)
    os.replace(staging, site.packages / filename)  # same name, other bytes
    assert wait_for(lambda: _sha256_in(fetch(server.url, path).body, data), timeout=30), (
        "the project page never showed the replaced file's digest"
    )
    got = fetch(server.url, path, {"If-None-Match": old.etag})
    assert got.status == 200
    assert got.etag != old.etag
    got = fetch(server.url, "/pypi/replaced/json", {"If-None-Match": old_pypi.etag})
    assert got.status == 200
    assert _sha256_in(got.body, data)

    middle = fetch(server.url, path)
    middle_packages = page(server, "packages")
    gone = "replaced-2.0-py3-none-any.whl"
    (site.packages / gone).unlink()
    assert wait_for(lambda: gone not in fetch(server.url, path).body.decode(), timeout=30), (
        "the project page still lists a removed file"
    )
    got = fetch(server.url, path, {"If-None-Match": middle.etag})
    assert got.status == 200
    assert got.etag != middle.etag
    got = page(server, "packages", {"If-None-Match": middle_packages.etag})
    assert got.status == 200
    assert gone not in got.body.decode()


def test_overwriting_upload_changes_page_and_file_etags(
    tmp_path: Path, serve: Callable[..., Server]
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = serve("-P", ".", "-a", ".", "-o", "--disable-fallback", packages)
    filename, data = wheel_bytes("overwritten", "1.0")
    upload(server.url, filename, data, "overwritten", "1.0", expect=200)
    old_page = fetch(server.url, "/simple/overwritten/")
    old_file = fetch(server.url, "/packages/" + filename)
    assert old_file.body == data
    assert old_file.header("Cache-Control") is None

    _, new_data = wheel_bytes("overwritten", "1.0", module_body="SECOND = True\n")
    upload(server.url, filename, new_data, "overwritten", "1.0", expect=200)
    got = fetch(server.url, "/simple/overwritten/", {"If-None-Match": old_page.etag})
    assert got.status == 200
    assert got.etag != old_page.etag
    assert _sha256_in(got.body, new_data)
    got = fetch(server.url, "/packages/" + filename, {"If-None-Match": old_file.etag})
    assert got.status == 200
    assert got.body == new_data
    assert got.header("Content-Encoding") is None


def test_concurrent_requests_get_consistent_pages(site: Site) -> None:
    """Many clients at once (two threads serve them) all get the same bytes and tags,
    the gzip form made once and shared."""
    plain = page(site.server, "pypi-project")
    results: list[Got] = []
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            extra = {"Accept-Encoding": "gzip"} if i % 2 else {}
            results.append(page(site.server, "pypi-project", extra))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    assert len(results) == 24
    zipped = {r.etag for r in results if r.header("Content-Encoding") == "gzip"}
    assert len(zipped) == 1
    for got in results:
        assert got.status == 200
        body = gzip.decompress(got.body) if got.header("Content-Encoding") else got.body
        assert body == plain.body
        if not got.header("Content-Encoding"):
            assert got.etag == plain.etag


# === 4. files and .metadata ===================================================================

FILE_PATHS = {
    "wheel": "/packages/" + CACHEY_WHEEL,
    "sdist": "/packages/" + CACHEY_SDIST,
    "metadata": "/packages/" + CACHEY_WHEEL + ".metadata",
}


def _file_bytes(site: Site, kind: str) -> bytes:
    if kind == "metadata":
        return CACHEY_METADATA
    return (site.packages / FILE_PATHS[kind].rpartition("/")[2]).read_bytes()


@pytest.mark.parametrize("accept_encoding", ["gzip", "gzip, deflate, br", "*", "x-gzip, gzip"])
@pytest.mark.parametrize("kind", FILE_PATHS)
def test_files_are_never_gzipped(site: Site, kind: str, accept_encoding: str) -> None:
    expected = _file_bytes(site, kind)
    for method in ("GET", "HEAD"):
        got = fetch(site.server.url, FILE_PATHS[kind], {"Accept-Encoding": accept_encoding}, method)
        assert got.status == 200, got
        assert got.header("Content-Encoding") is None
        assert got.header("Cache-Control") == f"public, max-age={YEAR}, immutable"
        if method == "GET":
            assert got.body == expected
            assert got.header("Content-Length") in (None, str(len(expected)))


def test_file_range_is_never_gzipped(site: Site) -> None:
    data = _file_bytes(site, "wheel")
    got = fetch(
        site.server.url, FILE_PATHS["wheel"], {"Accept-Encoding": "gzip", "Range": "bytes=0-99"}
    )
    assert got.status == 206
    assert got.header("Content-Encoding") is None
    assert got.body == data[:100]
    assert got.header("Cache-Control") == f"public, max-age={YEAR}, immutable"


@pytest.mark.parametrize("kind", FILE_PATHS)
def test_file_304_keeps_cache_control(site: Site, kind: str) -> None:
    full = fetch(site.server.url, FILE_PATHS[kind], {"Accept-Encoding": "gzip"})
    got = fetch(
        site.server.url, FILE_PATHS[kind], {"Accept-Encoding": "gzip", "If-None-Match": full.etag}
    )
    assert got.status == 304
    assert got.body == b""
    assert got.etag == full.etag
    assert got.header("Cache-Control") == f"public, max-age={YEAR}, immutable"


# === 5. Cache-Control in every configuration ==================================================


@dataclass(frozen=True)
class Setup:
    args: tuple[str, ...]
    file_cache: str | None  # None: no Cache-Control header at all
    index_cache: str
    auth: bool = False  # send Basic credentials
    # PyPI JSON documents carry core metadata: private when download is protected too.
    json_cache: str | None = None  # None: as index_cache


SETUPS = {
    "default": Setup((), f"public, max-age={YEAR}, immutable", "public, max-age=10"),
    "overwrite": Setup(("-o", "--connection-limit", "5"), None, "public, max-age=10"),
    "index-max-age-0": Setup(
        ("--index-max-age", "0"), f"public, max-age={YEAR}, immutable", "public, max-age=0"
    ),
    "cache-control": Setup(
        ("--cache-control", "60", "--index-max-age", "300"),
        "public, max-age=60, immutable",
        "public, max-age=300",
    ),
    "cache-control-overwrite": Setup(
        ("--cache-control", "60", "--overwrite"), "public, max-age=60", "public, max-age=10"
    ),
    "auth-download": Setup(
        ("-a", "download"),
        f"private, max-age={YEAR}, immutable",
        "public, max-age=10",
        True,
        "private, max-age=10",
    ),
    "auth-list": Setup(
        ("-a", "list"), f"public, max-age={YEAR}, immutable", "private, max-age=10", True
    ),
    "auth-all-overwrite": Setup(
        ("-a", "list,download,update", "-o", "--cache-control", "120", "--index-max-age", "0"),
        "private, max-age=120",
        "private, max-age=0",
        True,
    ),
}


@pytest.fixture(scope="module")
def configured(
    tmp_path_factory: pytest.TempPathFactory, htpasswd: Path
) -> Iterator[Callable[[str], Server]]:
    """A server per Setup, started the first time a test asks for it."""
    servers: dict[str, Server] = {}

    def get(name: str) -> Server:
        if name not in servers:
            packages = tmp_path_factory.mktemp(name) / "packages"
            packages.mkdir()
            make_wheel(packages, "cachey", "1.0")
            setup = SETUPS[name]
            auth = ("-P", str(htpasswd)) if setup.auth else ()
            servers[name] = start_server("--disable-fallback", *auth, *setup.args, packages)
        return servers[name]

    yield get
    for server in servers.values():
        server.stop()


def _creds(setup: Setup) -> dict[str, str]:
    return {"Authorization": BASIC} if setup.auth else {}


@pytest.mark.parametrize("name", SETUPS)
def test_file_cache_control(configured: Callable[[str], Server], name: str) -> None:
    setup = SETUPS[name]
    server = configured(name)
    creds = _creds(setup)
    for path in ("/packages/" + CACHEY_WHEEL, "/packages/" + CACHEY_WHEEL + ".metadata"):
        full = fetch(server.url, path, {**creds, "Accept-Encoding": "gzip"})
        head = fetch(server.url, path, {**creds, "Accept-Encoding": "gzip"}, "HEAD")
        cond = fetch(server.url, path, {**creds, "If-None-Match": full.etag})
        assert (full.status, head.status, cond.status) == (200, 200, 304), path
        for got in (full, head, cond):
            assert got.header("Cache-Control") == setup.file_cache, (path, got.pairs)
            assert got.count("Cache-Control") <= 1
            assert got.header("Content-Encoding") is None
    ranged = fetch(server.url, "/packages/" + CACHEY_WHEEL, {**creds, "Range": "bytes=0-9"})
    assert ranged.status == 206
    assert ranged.header("Cache-Control") == setup.file_cache


@pytest.mark.parametrize("name", SETUPS)
def test_index_cache_control(configured: Callable[[str], Server], name: str) -> None:
    setup = SETUPS[name]
    server = configured(name)
    creds = _creds(setup)
    for key in (
        "simple-html",
        "simple-json",
        "project-html",
        "project-json",
        "packages",
        "pypi-project",
        "pypi-release",
        "legacy-json",
    ):
        path, headers, vary = PAGES[key]
        full = fetch(server.url, path, {**creds, **headers})
        zipped = fetch(server.url, path, {**creds, **headers, "Accept-Encoding": "gzip"})
        cond = fetch(server.url, path, {**creds, **headers, "If-None-Match": full.etag})
        assert (full.status, zipped.status, cond.status) == (200, 200, 304), key
        expected = setup.index_cache
        if key in ("pypi-project", "pypi-release", "legacy-json"):
            expected = setup.json_cache or setup.index_cache
        for got in (full, zipped, cond):
            assert got.header("Cache-Control") == expected, (key, got.pairs)
            assert got.header("Vary") == vary, key
            assert got.count("Cache-Control") == 1


def test_protected_listing_needs_the_password(configured: Callable[[str], Server]) -> None:
    """The server whose pages are 'private' really does ask for a password."""
    server = configured("auth-list")
    got = fetch(server.url, "/simple/")
    assert got.status == 401
    assert got.header("Cache-Control") != "public, max-age=10"
    assert fetch(server.url, "/simple/", {"Authorization": BASIC}).status == 200


# === 6. options ================================================================================

_FILE_EVENTS = re.compile(r"\(file events: (native|polling), (\d+) threads\)\s*$", re.M)


def test_banner_names_the_threads(site: Site, configured: Callable[[str], Server]) -> None:
    match = _FILE_EVENTS.search(site.server.log_text())
    assert match is not None, site.server.log_text()
    assert match.group(2) == "2"
    match = _FILE_EVENTS.search(configured("default").log_text())
    assert match is not None, configured("default").log_text()
    assert match.group(2) == "8"


def run_cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "packyard", *map(str, args)],
        env=clean_environ(),
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--threads", "0"),
        ("--threads", "-2"),
        ("--threads", "x"),
        ("--threads", ""),
        ("--connection-limit", "0"),
        ("--connection-limit", "many"),
        ("--index-max-age", "-1"),
        ("--index-max-age", "ten"),
        ("--cache-control", "-1"),
    ],
)
def test_bad_option_value_is_one_line_and_exit_2(tmp_path: Path, option: str, value: str) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    result = run_cli("run", "-p", "0", "-i", "127.0.0.1", option, value, packages)
    report = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, report
    assert "Traceback" not in result.stdout + result.stderr, report
    lines = result.stderr.splitlines()
    assert len(lines) == 1, report
    assert lines[0].startswith("pypi-server: error: "), report
    assert option in lines[0], report


@pytest.mark.parametrize(
    "path", ["/simple/cachey/", "/packages/cachey-1.0-py3-none-any.whl", "/pypi/cachey/json"]
)
def test_a_304_keeps_the_connection_open(site: Site, path: str) -> None:
    # waitress closes every HTTP/1.1 answer without Content-Length, which a 304 must
    # not have; packyard keeps the connection, so a revalidating client (uv) does not
    # reconnect for each page.
    parts = urlsplit(site.server.url)
    conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        conn.request("GET", path)
        first = conn.getresponse()
        first.read()
        etag = first.getheader("ETag")
        assert first.status == 200
        assert etag
        sock = conn.sock
        for _ in range(3):
            conn.request("GET", path, headers={"If-None-Match": etag})
            again = conn.getresponse()
            assert again.read() == b""
            assert again.status == 304
            assert again.getheader("Connection") is None
            assert again.getheader("Content-Length") is None
            assert not again.will_close
        conn.request("GET", path)
        last = conn.getresponse()
        assert last.status == 200
        assert last.read()
        assert conn.sock is sock  # one TCP connection for all five
    finally:
        conn.close()


def test_connection_close_is_still_honoured_on_a_304(site: Site) -> None:
    first = fetch(site.server.url, "/simple/cachey/")
    etag = first.etag
    head, body = raw_exchange(
        site.server.url,
        "GET /simple/cachey/ HTTP/1.1\r\nHost: x\r\n"
        f"If-None-Match: {etag}\r\nConnection: close\r\n\r\n",
    )
    assert head.startswith("HTTP/1.1 304 ")
    assert "Connection: close" in head
    assert body == b""

"""The modern index APIs over HTTP against a real server: PEP 691 content negotiation,
PEP 658 core metadata files, PEP 700 upload times kept in the ledger (across restarts and
a SIGKILL), yanking (PEP 592) by form and by command, PyPI's JSON API and XML-RPC search.

Two servers are shared by most tests: ``index`` (open uploads, many projects, read-mostly;
tests that change it use projects of their own) and ``guarded`` (uploads and yanks need a
password). Restart and crash tests start servers of their own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import xmlrpc.client
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from helpers import (
    Response,
    Server,
    Site,
    clean_environ,
    forms,
    http,
    start_server,
    wait_for,
)
from helpers.dists import make_sdist, make_wheel, sdist_bytes, wheel_bytes
from helpers.forms import Reply, encode_form
from helpers.upload import upload

USER, PASSWORD = "yanker", "yank-pw-1"
JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html; charset=utf-8"
REPOSITORY_META = '<meta name="pypi:repository-version" content="1.1">'
UPLOAD_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

# The Accept headers the clients really send.
PIP_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
UV_ACCEPT = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.2, text/html; q=0.01"
POETRY_ACCEPT = "application/vnd.pypi.simple.v1+json, */*;q=0.1"
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

# The 2.0 wheel of modern-demo carries METADATA written here, with non-ASCII text, so
# "byte for byte" means something.
MODERN_2_METADATA = (
    "Metadata-Version: 2.1\n"
    "Name: modern-demo\n"
    "Version: 2.0\n"
    "Summary: Modern d\u00e9mo \u2013 PEP 658 test\n"
    "Requires-Python: >=3.9,<4\n"
    "Requires-Dist: attrs>=2\n"
    'Requires-Dist: idna; python_version < "3.12"\n'
    "\n"
    "Long description body.\n"
).encode()
SEARCH_SUMMARY = "Found by pip search"


# --- building files ----------------------------------------------------------------------


def wheel_with_metadata(name: str, version: str, metadata: bytes) -> tuple[str, bytes]:
    """(filename, content) of a pure-Python wheel whose METADATA is exactly ``metadata``."""
    return wheel_bytes(name, version, metadata=metadata)


def zip_metadata(path: Path) -> bytes:
    """The .dist-info/METADATA of a wheel on disk, as stored in it."""
    with zipfile.ZipFile(path) as zf:
        (member,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return zf.read(member)


# --- reading pages -----------------------------------------------------------------------


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.anchors: dict[str, dict[str, str | None]] = {}
        self._attrs: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._attrs = dict(attrs)
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._attrs is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._attrs is not None:
            self.anchors["".join(self._text)] = self._attrs
            self._attrs = None


def anchors(html: str) -> dict[str, dict[str, str | None]]:
    """filename (anchor text) -> the attributes of its <a>, values unescaped."""
    parser = _Anchors()
    parser.feed(html)
    parser.close()
    return parser.anchors


def get(
    server: Server, path: str, accept: str | None = None, authorization: str | None = None
) -> Response:
    headers = {}
    if accept is not None:
        headers["Accept"] = accept
    if authorization is not None:
        headers["Authorization"] = authorization
    return http(server.url + path, headers=headers)


def html_page(server: Server, project: str, **kw: str) -> dict[str, dict[str, str | None]]:
    resp = get(server, f"simple/{project}/", accept="text/html", **kw)
    assert resp.status == 200, (resp.status, resp.text)
    assert resp.header("Content-Type") == TEXT_HTML
    return anchors(resp.text)


def json_page(server: Server, project: str, **kw: str) -> dict[str, dict[str, object]]:
    """filename -> its entry in the PEP 691 JSON project page."""
    resp = get(server, f"simple/{project}/", accept=JSON_V1, **kw)
    assert resp.status == 200, (resp.status, resp.text)
    assert resp.header("Content-Type") == JSON_V1
    return {f["filename"]: f for f in json.loads(resp.body)["files"]}


def pypi_json(server: Server, path: str, **kw: str) -> dict[str, object]:
    resp = get(server, path, **kw)
    assert resp.status == 200, (path, resp.status, resp.text)
    assert resp.header("Content-Type") == "application/json"
    return json.loads(resp.body)


def upload_times(server: Server, project: str) -> dict[str, str]:
    return {name: str(f["upload-time"]) for name, f in json_page(server, project).items()}


def parse_time(value: str) -> datetime:
    assert UPLOAD_TIME.match(value), value
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def yanked_html(server: Server, project: str) -> dict[str, str | None]:
    """filename -> data-yanked value (None when the attribute is absent)."""
    return {name: attrs.get("data-yanked") for name, attrs in html_page(server, project).items()}


def yanked_json(server: Server, project: str) -> dict[str, object]:
    return {name: f["yanked"] for name, f in json_page(server, project).items()}


# --- forms -------------------------------------------------------------------------------


def basic(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(server: Server, body: bytes, content_type: str, **kwargs: str | None) -> Reply:
    return forms.post(server.url, body, content_type, **kwargs)  # type: ignore[arg-type]


def post_form(
    server: Server,
    fields: list[tuple[str, str]],
    file: tuple[str, bytes] | None = None,
    authorization: str | None = None,
) -> Reply:
    body, content_type = encode_form(fields, file)
    return post(server, body, content_type, authorization=authorization)


def yank_form(action: str = "yank", **values: str) -> list[tuple[str, str]]:
    return [(":action", action), *values.items()]


# --- servers -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """Open uploads (-P . -a .), several projects, a broken wheel."""
    packages = tmp_path_factory.mktemp("index") / "packages"
    packages.mkdir()
    make_wheel(packages, "modern-demo", "1.0", requires=("attrs>=1",), requires_python=">=3.8")
    make_sdist(packages, "modern-demo", "1.0", requires_python=">=3.8")
    filename, data = wheel_with_metadata("modern-demo", "2.0", MODERN_2_METADATA)
    (packages / filename).write_bytes(data)
    make_sdist(packages, "modern-demo", "2.0", requires_python=">=3.9,<4")
    make_wheel(packages, "modern-demo", "3.0rc1")
    (packages / "broken_demo-1.0-py3-none-any.whl").write_bytes(b"this is not a zip file\n" * 8)
    make_sdist(packages, "sdist-only", "1.0", requires_python=">=3.7")
    for version in ("9.0", "10.0", "11.0.dev1"):
        make_wheel(packages, "numeric", version)
    make_wheel(packages, "yanky", "1.0")
    make_wheel(packages, "yanky", "2.0")
    meta = (
        f"Metadata-Version: 2.1\nName: xmlrpc-target\nVersion: 1.5\nSummary: {SEARCH_SUMMARY}\n\n"
    )
    filename, data = wheel_with_metadata("xmlrpc-target", "1.5", meta.encode())
    (packages / filename).write_bytes(data)
    server = start_server("-v", "-P", ".", "-a", ".", "--disable-fallback", packages)
    yield Site(server, packages)
    server.stop()


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, htpasswd: Path) -> Iterator[Site]:
    """Uploads and yanks need a password (-a update); each test uses its own projects."""
    packages = tmp_path_factory.mktemp("guarded") / "packages"
    packages.mkdir()
    for project in (
        "guard",
        "relyank",
        "noreason",
        "fileyank",
        "conflict",
        "later",
        "cliyank",
        "eqver",
        "escaped",
    ):
        make_wheel(packages, project, "1.0")
        make_sdist(packages, project, "1.0")
        make_wheel(packages, project, "2.0")
    server = start_server("-v", "-P", htpasswd, "-a", "update", "--disable-fallback", packages)
    yield Site(server, packages)
    server.stop()


# === 1. PEP 691 content negotiation ======================================================

# id -> (Accept header or None, ?format= value or None, expected Content-Type or None: 406)
NEGOTIATION = {
    "pip": (PIP_ACCEPT, None, JSON_V1),
    "uv": (UV_ACCEPT, None, JSON_V1),
    "poetry": (POETRY_ACCEPT, None, JSON_V1),
    "browser": (BROWSER_ACCEPT, None, TEXT_HTML),
    "no-accept": (None, None, TEXT_HTML),
    "v1-html-only": (HTML_V1, None, HTML_V1),
    # as PEP 691 writes it: the "+" is literal in the URL (a media type has no spaces)
    "format-overrides-browser": (BROWSER_ACCEPT, JSON_V1, JSON_V1),
    "format-percent-encoded": (BROWSER_ACCEPT, JSON_V1.replace("+", "%2B"), JSON_V1),
    "format-html-over-pip": (PIP_ACCEPT, "text/html", TEXT_HTML),
    "latest-json-accept": ("application/vnd.pypi.simple.latest+json", None, JSON_V1),
    "latest-html-accept": ("application/vnd.pypi.simple.latest+html", None, HTML_V1),
    "format-bogus": (BROWSER_ACCEPT, "bogus", None),
    "format-bogus-json-accept": (JSON_V1, "bogus", None),
    "image-png": ("image/png", None, None),
}


@pytest.mark.parametrize("path", ["simple/", "simple/modern-demo/"])
@pytest.mark.parametrize("case", list(NEGOTIATION), ids=list(NEGOTIATION))
def test_content_negotiation(index: Site, path: str, case: str) -> None:
    accept, fmt, expected = NEGOTIATION[case]
    url = path + (f"?format={fmt}" if fmt is not None else "")
    resp = get(index.server, url, accept=accept)
    vary = [v.strip().lower() for v in (resp.header("Vary") or "").split(",")]
    assert "accept" in vary, resp.headers
    if expected is None:
        assert resp.status == 406, (resp.status, resp.text)
        assert resp.header("Content-Type") == "text/plain; charset=utf-8"
        for offered in (JSON_V1, HTML_V1, "text/html"):
            assert offered in resp.text, resp.text
        return
    assert resp.status == 200, (resp.status, resp.text)
    assert resp.header("Content-Type") == expected
    if expected == JSON_V1:
        assert b"dist-info-metadata" not in resp.body
        doc = json.loads(resp.body)
        assert doc["meta"]["api-version"] == "1.1"
        if path == "simple/":
            assert {"name": "modern-demo"} in doc["projects"]
        else:
            assert doc["name"] == "modern-demo"
            assert doc["versions"] == ["1.0", "2.0", "3.0rc1"]
            assert "modern_demo-2.0-py3-none-any.whl" in {f["filename"] for f in doc["files"]}
    else:
        assert REPOSITORY_META in resp.text
        if path == "simple/":
            assert ">modern-demo</a>" in resp.text
        else:
            assert "modern_demo-2.0-py3-none-any.whl" in anchors(resp.text)


def test_json_project_page_fields(index: Site) -> None:
    """PEP 691/700 file entries: relative URLs that download, sizes, hashes, versions."""
    resp = get(index.server, "simple/modern-demo/", accept=PIP_ACCEPT)
    page_url = index.server.url + "simple/modern-demo/"
    for entry in json.loads(resp.body)["files"]:
        data = (index.packages / entry["filename"]).read_bytes()
        assert entry["size"] == len(data)
        assert entry["hashes"]["sha256"] == hashlib.sha256(data).hexdigest()
        assert entry["yanked"] is False
        download = http(urljoin(page_url, entry["url"]))
        assert download.status == 200
        assert download.body == data


# === 2. PEP 658 core metadata files ======================================================


def test_metadata_file_is_the_wheels_metadata(index: Site) -> None:
    html = html_page(index.server, "modern-demo")
    files = json_page(index.server, "modern-demo")
    wheels = sorted(p for p in index.packages.glob("modern_demo-*.whl"))
    assert len(wheels) == 3
    for wheel in wheels:
        resp = get(index.server, f"packages/{wheel.name}.metadata")
        assert resp.status == 200, (wheel.name, resp.status, resp.text)
        assert resp.body == zip_metadata(wheel)
        digest = hashlib.sha256(resp.body).hexdigest()
        assert html[wheel.name]["data-core-metadata"] == f"sha256={digest}"
        assert html[wheel.name]["data-dist-info-metadata"] == f"sha256={digest}"
        assert files[wheel.name]["core-metadata"] == {"sha256": digest}
    # the hand-written one, byte for byte (non-ASCII text included)
    resp = get(index.server, "packages/modern_demo-2.0-py3-none-any.whl.metadata")
    assert resp.body == MODERN_2_METADATA


def test_metadata_file_head_and_etag(index: Site) -> None:
    path = "packages/modern_demo-2.0-py3-none-any.whl.metadata"
    full = get(index.server, path)
    assert full.status == 200
    etag = full.header("ETag")
    assert etag
    head = http(index.server.url + path, method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.header("ETag") == etag
    again = http(index.server.url + path, headers={"If-None-Match": etag})
    assert again.status == 304
    assert again.body == b""
    other = http(index.server.url + path, headers={"If-None-Match": '"something-else"'})
    assert other.status == 200
    assert other.body == MODERN_2_METADATA


def test_metadata_file_before_any_page_in_a_subdirectory(index: Site) -> None:
    """Facts are computed on demand: the .metadata URL may be the first request."""
    (index.packages / "sub").mkdir()
    wheel = make_wheel(index.packages / "sub", "meta-first", "1.0", requires_python=">=3.6")
    assert wait_for(lambda: get(index.server, "packages/sub/" + wheel.name).status == 200)
    resp = get(index.server, f"packages/sub/{wheel.name}.metadata")
    assert resp.status == 200, (resp.status, resp.text)
    assert resp.body == zip_metadata(wheel)
    digest = hashlib.sha256(resp.body).hexdigest()
    assert html_page(index.server, "meta-first")[wheel.name]["data-core-metadata"] == (
        f"sha256={digest}"
    )
    assert get(index.server, f"packages/{wheel.name}.metadata").status == 404  # not at the top


def test_sdist_has_no_metadata_file(index: Site) -> None:
    name = "modern_demo-2.0.tar.gz"
    assert get(index.server, f"packages/{name}").status == 200
    assert get(index.server, f"packages/{name}.metadata").status == 404
    attrs = html_page(index.server, "modern-demo")[name]
    assert "data-core-metadata" not in attrs
    assert "data-dist-info-metadata" not in attrs
    assert json_page(index.server, "modern-demo")[name]["core-metadata"] is False
    assert json_page(index.server, "sdist-only")["sdist_only-1.0.tar.gz"]["core-metadata"] is False


def test_broken_wheel_is_listed_without_metadata(index: Site) -> None:
    name = "broken_demo-1.0-py3-none-any.whl"
    page = get(index.server, "simple/broken-demo/", accept="text/html")
    assert page.status == 200
    attrs = anchors(page.text)[name]
    assert "data-core-metadata" not in attrs
    assert "data-dist-info-metadata" not in attrs
    entry = json_page(index.server, "broken-demo")[name]
    assert entry["core-metadata"] is False
    assert get(index.server, f"packages/{name}.metadata").status == 404
    assert get(index.server, f"packages/{name}").status == 200  # still served as it is
    assert wait_for(
        lambda: any(
            "WARNING" in line and name in line for line in index.server.log_text().splitlines()
        )
    ), index.server.log_text()


def test_requires_python_in_pages(index: Site) -> None:
    raw = get(index.server, "simple/modern-demo/", accept="text/html").text
    assert 'data-requires-python="&gt;=3.9,&lt;4"' in raw
    assert 'data-requires-python=">=3.9,<4"' not in raw
    html = html_page(index.server, "modern-demo")
    assert html["modern_demo-2.0-py3-none-any.whl"]["data-requires-python"] == ">=3.9,<4"
    assert html["modern_demo-1.0.tar.gz"]["data-requires-python"] == ">=3.8"
    assert "data-requires-python" not in html["modern_demo-3.0rc1-py3-none-any.whl"]
    files = json_page(index.server, "modern-demo")
    assert files["modern_demo-2.0-py3-none-any.whl"]["requires-python"] == ">=3.9,<4"
    assert files["modern_demo-1.0-py3-none-any.whl"]["requires-python"] == ">=3.8"
    assert files["modern_demo-2.0.tar.gz"]["requires-python"] == ">=3.9,<4"  # from PKG-INFO
    assert "requires-python" not in files["modern_demo-3.0rc1-py3-none-any.whl"]
    sdist = json_page(index.server, "sdist-only")["sdist_only-1.0.tar.gz"]
    assert sdist["requires-python"] == ">=3.7"


# === 3. The ledger: hidden, upload times =================================================


def test_ledger_is_never_listed_or_served(index: Site) -> None:
    get(index.server, "simple/modern-demo/")  # facts exist once a page was made
    assert (index.packages / ".packyard" / "ledger.sqlite3").is_file()
    for path in ("packages/", "simple/"):
        page = get(index.server, path)
        assert page.status == 200
        assert ".packyard" not in page.text
        assert "ledger" not in page.text
    projects = json.loads(get(index.server, "simple/", accept=JSON_V1).body)["projects"]
    assert all("packyard" not in p["name"] for p in projects)
    for path in (
        "packages/.packyard/ledger.sqlite3",
        "packages/.packyard/ledger.sqlite3-wal",
        "packages/.packyard/ledger.sqlite3.metadata",
        "packages/.packyard/",
        "packages/.packyard",
        "packages/%2Epackyard/ledger.sqlite3",
    ):
        resp = get(index.server, path)
        assert resp.status == 404, (path, resp.status)
        assert b"SQLite" not in resp.body
    assert get(index.server, "simple/.packyard/").status == 404


def test_every_file_has_an_upload_time(index: Site) -> None:
    projects = json.loads(get(index.server, "simple/", accept=JSON_V1).body)["projects"]
    assert len(projects) >= 5
    for project in projects:
        name = project["name"]
        entries = json_page(index.server, name)
        assert entries
        api = pypi_json(index.server, f"pypi/{name}/json")
        by_file = {f["filename"]: f for files in api["releases"].values() for f in files}
        for filename, entry in entries.items():
            assert UPLOAD_TIME.match(str(entry.get("upload-time"))), (filename, entry)
            assert by_file[filename]["upload_time_iso_8601"] == entry["upload-time"]


def test_file_dropped_in_later_has_a_later_upload_time(index: Site) -> None:
    before = upload_times(index.server, "modern-demo")
    time.sleep(0.05)
    make_wheel(index.packages, "late-drop", "1.0")
    assert wait_for(lambda: get(index.server, "simple/late-drop/").status == 200)
    (late,) = upload_times(index.server, "late-drop").values()
    assert parse_time(late) > max(parse_time(t) for t in before.values())
    assert upload_times(index.server, "modern-demo") == before


def test_reupload_after_remove_gets_a_new_upload_time(index: Site) -> None:
    first = wheel_bytes("reup", "1.0")
    assert upload(index.server.url, *first, "reup", "1.0").status == 200
    (t1,) = upload_times(index.server, "reup").values()
    time.sleep(0.05)
    removed = post_form(
        index.server, [(":action", "remove_pkg"), ("name", "reup"), ("version", "1.0")]
    )
    assert removed.status == 200, removed.text
    assert get(index.server, "simple/reup/").status == 404
    # other bytes under the removed name are refused (its URL was served as
    # immutable); the same bytes may come back, with a new upload time
    second = wheel_bytes("reup", "1.0", module_body="CHANGED = True\n")
    assert second[0] == first[0]
    assert second[1] != first[1]
    assert upload(index.server.url, *second, "reup", "1.0").status == 409
    assert upload(index.server.url, *first, "reup", "1.0").status == 200
    entry = json_page(index.server, "reup")[first[0]]
    assert entry["hashes"]["sha256"] == hashlib.sha256(first[1]).hexdigest()
    assert parse_time(str(entry["upload-time"])) > parse_time(t1)


def test_upload_times_survive_restart_and_touch(tmp_path: Path, serve) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    wheel = make_wheel(packages, "keeper", "1.0")
    sdist = make_sdist(packages, "keeper", "1.0")
    first = serve("-P", ".", "-a", ".", "--disable-fallback", packages)
    times = upload_times(first, "keeper")
    assert set(times) == {wheel.name, sdist.name}
    first.stop()

    second = serve("-P", ".", "-a", ".", "--disable-fallback", packages)
    assert upload_times(second, "keeper") == times
    second.stop()

    # same bytes, new mtime: the same upload; different bytes: a new one
    later = time.time() + 3600
    os.utime(wheel, (later, later))
    _, other = sdist_bytes("keeper", "1.0", requires_python=">=3.10")
    sdist.write_bytes(other)
    third = serve("-P", ".", "-a", ".", "--disable-fallback", packages)
    now = upload_times(third, "keeper")
    assert now[wheel.name] == times[wheel.name]
    assert parse_time(now[sdist.name]) > parse_time(times[sdist.name])
    entry = json_page(third, "keeper")[sdist.name]
    assert entry["hashes"]["sha256"] == hashlib.sha256(other).hexdigest()


def test_ledger_survives_sigkill(tmp_path: Path, serve) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "crashy", "1.0")
    make_sdist(packages, "crashy", "1.0")
    wheel2 = make_wheel(packages, "crashy", "2.0")
    make_wheel(packages, "calm", "1.0")
    first = serve("-P", ".", "-a", ".", "--disable-fallback", packages)
    times = upload_times(first, "crashy")
    calm = upload_times(first, "calm")
    pypi_json(first, "pypi/crashy/json")
    reply = post_form(first, yank_form(name="crashy", version="1.0", reason="bad build"))
    assert reply.status == 200, reply.text
    reply = post_form(first, yank_form(filename=wheel2.name))
    assert reply.status == 200, reply.text
    expected_yanks = {
        "crashy-1.0-py3-none-any.whl": "bad build",
        "crashy-1.0.tar.gz": "bad build",
        wheel2.name: "",
    }
    assert yanked_html(first, "crashy") == expected_yanks

    os.kill(first.process.pid, signal.SIGKILL)
    assert first.process.wait(timeout=10) == -signal.SIGKILL

    second = serve("-v", "-P", ".", "-a", ".", "--disable-fallback", packages)
    assert upload_times(second, "crashy") == times
    assert upload_times(second, "calm") == calm
    assert yanked_html(second, "crashy") == expected_yanks
    assert yanked_json(second, "crashy") == {
        "crashy-1.0-py3-none-any.whl": "bad build",
        "crashy-1.0.tar.gz": "bad build",
        wheel2.name: True,
    }
    # and it still writes: un-yanking works after the crash
    assert post_form(second, yank_form("unyank", name="crashy", version="1.0")).status == 200
    assert yanked_html(second, "crashy")["crashy-1.0.tar.gz"] is None


# === 4. Yanking over HTTP ================================================================


def test_yank_needs_credentials(guarded: Site) -> None:
    fields = yank_form(name="guard", version="1.0", reason="nope")
    anonymous = post_form(guarded.server, fields)
    assert anonymous.status == 401, anonymous.text
    assert anonymous.headers.get("www-authenticate", "").startswith("Basic")
    wrong = post_form(guarded.server, fields, authorization=basic(USER, "wrong"))
    assert wrong.status == 403, wrong.text
    assert set(yanked_html(guarded.server, "guard").values()) == {None}
    right = post_form(guarded.server, fields, authorization=basic())
    assert right.status == 200, right.text
    assert right.text.startswith("OK"), right.text
    assert yanked_html(guarded.server, "guard")["guard-1.0.tar.gz"] == "nope"
    # un-yanking is guarded the same way
    undo = yank_form("unyank", name="guard", version="1.0")
    assert post_form(guarded.server, undo).status == 401
    assert post_form(guarded.server, undo, authorization=basic(USER, "wrong")).status == 403
    assert yanked_html(guarded.server, "guard")["guard-1.0.tar.gz"] == "nope"
    assert post_form(guarded.server, undo, authorization=basic()).status == 200
    assert set(yanked_html(guarded.server, "guard").values()) == {None}


def test_release_yank_marks_all_files_and_unyank_restores(guarded: Site) -> None:
    server = guarded.server
    # pages made (and cached) before the change must not be served after it
    assert set(yanked_html(server, "relyank").values()) == {None}
    assert set(yanked_json(server, "relyank").values()) == {False}
    pypi_json(server, "pypi/relyank/json")

    reply = post_form(
        server,
        yank_form(name="relyank", version="1.0", reason="broken build"),
        authorization=basic(),
    )
    assert reply.status == 200, reply.text
    assert "relyank" in reply.text
    assert yanked_html(server, "relyank") == {
        "relyank-1.0-py3-none-any.whl": "broken build",
        "relyank-1.0.tar.gz": "broken build",
        "relyank-2.0-py3-none-any.whl": None,
    }
    assert yanked_json(server, "relyank") == {
        "relyank-1.0-py3-none-any.whl": "broken build",
        "relyank-1.0.tar.gz": "broken build",
        "relyank-2.0-py3-none-any.whl": False,
    }
    api = pypi_json(server, "pypi/relyank/json")
    for entry in api["releases"]["1.0"]:
        assert entry["yanked"] is True
        assert entry["yanked_reason"] == "broken build"
    assert api["releases"]["2.0"][0]["yanked"] is False
    release = pypi_json(server, "pypi/relyank/1.0/json")
    assert release["info"]["yanked"] is True
    assert release["info"]["yanked_reason"] == "broken build"

    # a yanked file is still downloadable
    for name in ("relyank-1.0-py3-none-any.whl", "relyank-1.0.tar.gz"):
        download = get(server, f"packages/{name}")
        assert download.status == 200
        assert download.body == (guarded.packages / name).read_bytes()

    reply = post_form(
        server, yank_form("unyank", name="relyank", version="1.0"), authorization=basic()
    )
    assert reply.status == 200, reply.text
    assert set(yanked_html(server, "relyank").values()) == {None}
    assert set(yanked_json(server, "relyank").values()) == {False}
    assert pypi_json(server, "pypi/relyank/1.0/json")["info"]["yanked"] is False


def test_yank_without_reason_and_unnormalized_name(guarded: Site) -> None:
    server = guarded.server
    reply = post_form(server, yank_form(name="NoReason", version="1.0"), authorization=basic())
    assert reply.status == 200, reply.text
    assert yanked_html(server, "noreason") == {
        "noreason-1.0-py3-none-any.whl": "",
        "noreason-1.0.tar.gz": "",
        "noreason-2.0-py3-none-any.whl": None,
    }
    assert yanked_json(server, "noreason") == {
        "noreason-1.0-py3-none-any.whl": True,
        "noreason-1.0.tar.gz": True,
        "noreason-2.0-py3-none-any.whl": False,
    }
    api = pypi_json(server, "pypi/noreason/json")
    assert api["releases"]["1.0"][0]["yanked"] is True
    assert api["releases"]["1.0"][0]["yanked_reason"] is None


def test_yank_release_by_equivalent_version(guarded: Site) -> None:
    """PEP 440: 2.0.0 is release 2.0 (the ledger's version_key says "1.0 == 1.0.0")."""
    server = guarded.server
    reply = post_form(
        server, yank_form(name="eqver", version="2.0.0", reason="eq"), authorization=basic()
    )
    assert reply.status == 200, reply.text
    assert yanked_html(server, "eqver")["eqver-2.0-py3-none-any.whl"] == "eq"


def test_pypi_json_release_by_equivalent_version(index: Site) -> None:
    doc = pypi_json(index.server, "pypi/modern-demo/1.0.0/json")
    assert doc["info"]["version"] == "1.0"


def test_file_yank_marks_one_file(guarded: Site) -> None:
    server = guarded.server
    name = "fileyank-1.0-py3-none-any.whl"
    reply = post_form(server, yank_form(filename=name, reason="wheel only"), authorization=basic())
    assert reply.status == 200, reply.text
    assert yanked_html(server, "fileyank") == {
        name: "wheel only",
        "fileyank-1.0.tar.gz": None,
        "fileyank-2.0-py3-none-any.whl": None,
    }
    reply = post_form(server, yank_form("unyank", filename=name), authorization=basic())
    assert reply.status == 200, reply.text
    assert set(yanked_html(server, "fileyank").values()) == {None}


def test_yank_reason_is_escaped(guarded: Site) -> None:
    server = guarded.server
    reason = "CVE <1> & \"quoted\" 'x' \u00fcml\u00e4ut"
    fields = yank_form(filename="escaped-2.0-py3-none-any.whl", reason=reason)
    assert post_form(server, fields, authorization=basic()).status == 200
    raw = get(server, "simple/escaped/", accept="text/html").text
    assert "<1>" not in raw
    assert '"quoted"' not in raw
    assert yanked_html(server, "escaped")["escaped-2.0-py3-none-any.whl"] == reason
    assert yanked_json(server, "escaped")["escaped-2.0-py3-none-any.whl"] == reason
    api = pypi_json(server, "pypi/escaped/2.0/json")
    assert api["urls"][0]["yanked_reason"] == reason


def test_unyank_one_file_of_a_yanked_release_is_a_conflict(guarded: Site) -> None:
    server = guarded.server
    yank = yank_form(name="conflict", version="1.0", reason="whole")
    assert post_form(server, yank, authorization=basic()).status == 200
    reply = post_form(
        server, yank_form("unyank", filename="conflict-1.0.tar.gz"), authorization=basic()
    )
    assert reply.status == 409, reply.text
    assert "release" in reply.text
    assert yanked_html(server, "conflict")["conflict-1.0.tar.gz"] == "whole"


def test_release_yank_covers_files_added_later(guarded: Site) -> None:
    server = guarded.server
    assert (
        post_form(
            server, yank_form(name="later", version="2.0", reason="r2"), authorization=basic()
        ).status
        == 200
    )
    added = make_sdist(guarded.packages, "later", "2.0")
    assert wait_for(lambda: added.name in yanked_html(server, "later"))
    assert yanked_html(server, "later")[added.name] == "r2"


YANK_ERRORS = {
    "unknown-release": (yank_form(name="guard", version="9.9"), 404, "guard 9.9"),
    "unknown-project": (yank_form(name="no-such-project", version="1.0"), 404, "Not Found"),
    "unknown-file": (yank_form(filename="guard-9.9.tar.gz"), 404, "guard-9.9.tar.gz"),
    "unknown-unyank": (yank_form("unyank", name="guard", version="9.9"), 404, "Not Found"),
    "name-only": (yank_form(name="guard"), 400, "Name a release"),
    "version-only": (yank_form(version="1.0"), 400, "Name a release"),
    "nothing": (yank_form(), 400, "Name a release"),
    "newline-reason": (
        yank_form(name="guard", version="1.0", reason="line one\nline two"),
        400,
        "one line",
    ),
    "cr-reason": (yank_form(name="guard", version="1.0", reason="a\rb"), 400, "one line"),
    "path-filename": (yank_form(filename="../guard-1.0.tar.gz"), 400, "filename"),
}


@pytest.mark.parametrize("case", list(YANK_ERRORS), ids=list(YANK_ERRORS))
def test_yank_errors(guarded: Site, case: str) -> None:
    fields, status, message = YANK_ERRORS[case]
    before = yanked_html(guarded.server, "guard")
    reply = post_form(guarded.server, fields, authorization=basic())
    assert reply.status == status, (reply.status, reply.text)
    assert message in reply.text, reply.text
    assert yanked_html(guarded.server, "guard") == before


# === 5. The yank command ================================================================


def packyard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "packyard", *[str(a) for a in args]],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environ(),
    )


def test_yank_command_while_serving(guarded: Site) -> None:
    server = guarded.server
    assert set(yanked_html(server, "cliyank").values()) == {None}  # cached before the change

    done = packyard("yank", "--reason", "r", guarded.packages, "cliyank", "1.0")
    assert done.returncode == 0, done
    assert done.stdout.startswith("OK"), done.stdout
    assert len(done.stdout.splitlines()) == 1, done.stdout
    assert "Traceback" not in done.stderr
    assert yanked_html(server, "cliyank") == {
        "cliyank-1.0-py3-none-any.whl": "r",
        "cliyank-1.0.tar.gz": "r",
        "cliyank-2.0-py3-none-any.whl": None,
    }
    assert yanked_json(server, "cliyank")["cliyank-1.0.tar.gz"] == "r"

    done = packyard("unyank", guarded.packages, "cliyank", "1.0")
    assert done.returncode == 0, done
    assert done.stdout.startswith("OK"), done.stdout
    assert set(yanked_html(server, "cliyank").values()) == {None}

    done = packyard("yank", guarded.packages, "cliyank-2.0-py3-none-any.whl")
    assert done.returncode == 0, done
    assert yanked_html(server, "cliyank")["cliyank-2.0-py3-none-any.whl"] == ""
    done = packyard("unyank", guarded.packages, "cliyank-2.0-py3-none-any.whl")
    assert done.returncode == 0, done
    assert set(yanked_html(server, "cliyank").values()) == {None}


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pypi-server: error: "), lines
    return lines[0]


def test_yank_command_errors(guarded: Site, tmp_path: Path) -> None:
    unknown = packyard("yank", guarded.packages, "cliyank", "9.9")
    assert unknown.returncode == 1, unknown
    assert "cliyank" in _one_error_line(unknown)
    assert unknown.stdout == ""

    unknown_file = packyard("unyank", guarded.packages, "cliyank-9.9.tar.gz")
    assert unknown_file.returncode == 1, unknown_file
    _one_error_line(unknown_file)

    missing = packyard("yank", tmp_path / "no-such-dir", "cliyank", "1.0")
    assert missing.returncode == 2, missing
    assert "no-such-dir" in _one_error_line(missing)

    too_many = packyard("yank", guarded.packages, "cliyank", "1.0", "extra")
    assert too_many.returncode == 2, too_many
    _one_error_line(too_many)

    newline = packyard("yank", "--reason", "two\nlines", guarded.packages, "cliyank", "1.0")
    assert newline.returncode == 2, newline
    _one_error_line(newline)

    assert set(yanked_html(guarded.server, "cliyank").values()) == {None}

    for command in ("yank", "unyank"):
        helped = packyard(command, "--help")
        assert helped.returncode == 0, helped
        assert f"pypi-server {command}" in helped.stdout
        assert "PACKAGES_DIR" in helped.stdout


# === 6. PyPI's JSON API ==================================================================


def test_pypi_json_project(index: Site) -> None:
    server = index.server
    doc = pypi_json(server, "pypi/modern-demo/json")
    info = doc["info"]
    assert info["name"] == "modern-demo"
    assert info["version"] == "2.0"  # the latest final release, not 3.0rc1
    assert info["summary"] == "Modern d\u00e9mo \u2013 PEP 658 test"
    assert info["requires_dist"] == ["attrs>=2", 'idna; python_version < "3.12"']
    assert info["requires_python"] == ">=3.9,<4"
    assert "Long description body." in (info["description"] or "")
    assert info["yanked"] is False
    assert set(doc["releases"]) == {"1.0", "2.0", "3.0rc1"}
    seen = set()
    for version, files in doc["releases"].items():
        for entry in files:
            data = (index.packages / entry["filename"]).read_bytes()
            seen.add(entry["filename"])
            assert entry["digests"] == {
                "md5": hashlib.md5(data).hexdigest(),
                "sha256": hashlib.sha256(data).hexdigest(),
                "blake2b_256": hashlib.blake2b(data, digest_size=32).hexdigest(),
            }
            assert entry["md5_digest"] == hashlib.md5(data).hexdigest()
            assert entry["size"] == len(data)
            wheel = entry["filename"].endswith(".whl")
            assert entry["packagetype"] == ("bdist_wheel" if wheel else "sdist")
            assert entry["python_version"] == ("py3" if wheel else "source")
            assert UPLOAD_TIME.match(entry["upload_time_iso_8601"])
            assert entry["upload_time"] == entry["upload_time_iso_8601"].split(".")[0]
            assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$", entry["upload_time"])
            assert entry["yanked"] is False
            assert entry["yanked_reason"] is None
            assert entry["url"].startswith(server.url)
            download = http(entry["url"])
            assert download.status == 200
            assert download.body == data
            assert version in entry["filename"]
    assert seen == {p.name for p in index.packages.glob("modern_demo-*")}
    assert doc["urls"] == doc["releases"]["2.0"]
    assert {u["filename"] for u in doc["urls"]} == {
        "modern_demo-2.0-py3-none-any.whl",
        "modern_demo-2.0.tar.gz",
    }


def test_pypi_json_release(index: Site) -> None:
    doc = pypi_json(index.server, "pypi/modern-demo/1.0/json")
    assert "releases" not in doc
    assert doc["info"]["version"] == "1.0"
    assert doc["info"]["requires_dist"] == ["attrs>=1"]
    assert doc["info"]["requires_python"] == ">=3.8"
    assert doc["info"]["summary"] == "A test distribution"
    assert {u["filename"] for u in doc["urls"]} == {
        "modern_demo-1.0-py3-none-any.whl",
        "modern_demo-1.0.tar.gz",
    }
    pre = pypi_json(index.server, "pypi/modern-demo/3.0rc1/json")
    assert pre["info"]["version"] == "3.0rc1"
    # an sdist-only project: info from PKG-INFO
    sdist = pypi_json(index.server, "pypi/sdist-only/json")
    assert sdist["info"]["version"] == "1.0"
    assert sdist["info"]["requires_python"] == ">=3.7"
    assert sdist["urls"][0]["requires_python"] == ">=3.7"


def test_pypi_json_versions_are_pep440_ordered(index: Site) -> None:
    doc = pypi_json(index.server, "pypi/numeric/json")
    assert doc["info"]["version"] == "10.0"  # not 9.0 (text order), not 11.0.dev1
    assert [u["filename"] for u in doc["urls"]] == ["numeric-10.0-py3-none-any.whl"]
    page = json.loads(get(index.server, "simple/numeric/", accept=JSON_V1).body)
    assert page["versions"] == ["9.0", "10.0", "11.0.dev1"]


def test_pypi_json_info_skips_yanked_release(index: Site) -> None:
    assert pypi_json(index.server, "pypi/yanky/json")["info"]["version"] == "2.0"
    reply = post_form(index.server, yank_form(name="yanky", version="2.0", reason="oops"))
    assert reply.status == 200, reply.text
    doc = pypi_json(index.server, "pypi/yanky/json")
    assert doc["info"]["version"] == "1.0"
    assert doc["info"]["yanked"] is False
    assert doc["releases"]["2.0"][0]["yanked"] is True
    assert doc["releases"]["2.0"][0]["yanked_reason"] == "oops"
    release = pypi_json(index.server, "pypi/yanky/2.0/json")
    assert release["info"]["yanked"] is True
    assert release["info"]["yanked_reason"] == "oops"


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("pypi/Modern_Demo/json", "/pypi/modern-demo/json"),
        ("pypi/Modern.Demo/1.0/json", "/pypi/modern-demo/1.0/json"),
        ("Modern_Demo/json", "/modern-demo/json"),
    ],
)
def test_pypi_json_redirects_to_normalized_name(index: Site, path: str, target: str) -> None:
    resp = get(index.server, path)
    assert resp.status == 301, (resp.status, resp.text)
    location = resp.header("Location")
    assert location is not None
    assert not location.startswith("http"), location  # relative
    resolved = urljoin(index.server.url + path, location)
    assert urlsplit(resolved).path == target
    assert http(resolved).status == 200


def test_pypiserver_json_route_is_the_same_document(index: Site) -> None:
    assert pypi_json(index.server, "modern-demo/json") == pypi_json(
        index.server, "pypi/modern-demo/json"
    )


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("pypi/no-such-project/json", "no-such-project"),
        ("no-such-project/json", "no-such-project"),
        ("pypi/modern-demo/9.9/json", "9.9"),
    ],
)
def test_pypi_json_not_found(index: Site, path: str, needle: str) -> None:
    resp = get(index.server, path)
    assert resp.status == 404, (resp.status, resp.text)
    assert resp.header("Content-Type") == "application/json"
    message = json.loads(resp.body)["message"]
    assert needle in message


def test_pypi_json_and_rpc_need_list_permission(tmp_path: Path, serve, htpasswd: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "secret", "1.0")
    server = serve("-P", htpasswd, "-a", "list", "--disable-fallback", packages)
    for path in ("pypi/secret/json", "secret/json", "pypi/secret/1.0/json", "pypi/nope/json"):
        resp = get(server, path)
        assert resp.status == 401, (path, resp.status)
        assert resp.header("WWW-Authenticate")
        assert "secret" not in resp.text or "Unauthorized" in resp.text
        assert get(server, path, authorization=basic(USER, "wrong")).status == 403
    assert pypi_json(server, "pypi/secret/json", authorization=basic())["info"]["name"] == "secret"
    call = xmlrpc.client.dumps(({"name": ["secret"]}, "or"), methodname="search").encode()
    assert post(server, call, "text/xml", path="/RPC2").status == 401
    assert post(server, call, "text/xml", path="/RPC2", authorization=basic()).status == 200


# === 7. XML-RPC ==========================================================================


def pip_search(index_url: str, term: str, home: Path) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    env = clean_environ(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_NO_CACHE_DIR": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
        }
    )
    return subprocess.run(
        [sys.executable, "-m", "pip", "search", "--index", index_url, term],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=home,
    )


@pytest.mark.parametrize(("slash", "route"), [(False, "POST /RPC2 "), (True, "POST / ")])
def test_pip_search(index: Site, tmp_path: Path, slash: bool, route: str) -> None:
    url = index.server.url if slash else index.server.url.rstrip("/")
    start = len(index.server.output)
    done = pip_search(url, "xmlrpc-tar", tmp_path / "home")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert re.search(rf"^xmlrpc-target \(1\.5\)\s+- {SEARCH_SUMMARY}$", done.stdout, re.M), (
        done.stdout
    )
    assert "modern-demo" not in done.stdout

    def posted() -> list[str]:
        return [line for line in index.server.output[start:] if "|packyard.access|" in line]

    # the access log line is written after the answer: wait for it
    assert wait_for(lambda: any(route + "200 " in line for line in posted())), posted()
    assert all(route in line for line in posted()), posted()


def test_xmlrpc_listing_methods(index: Site) -> None:
    proxy = xmlrpc.client.ServerProxy(index.server.url.rstrip("/"))
    assert "modern-demo" in proxy.list_packages()
    assert proxy.package_releases("modern-demo") == ["3.0rc1", "2.0", "1.0"]
    assert proxy.package_releases("Modern_Demo") == ["3.0rc1", "2.0", "1.0"]
    assert proxy.package_releases("no-such-project") == []
    hits = proxy.search({"name": "modern"})
    assert [h["name"] for h in hits] == ["modern-demo"]


def _billion_laughs() -> bytes:
    entities = ['<!ENTITY lol0 "lol">']
    for i in range(1, 10):
        entities.append(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">')
    return (
        '<?xml version="1.0"?>\n<!DOCTYPE methodCall [\n'
        + "\n".join(entities)
        + "\n]>\n<methodCall><methodName>search</methodName><params><param><value>"
        "<string>&lol9;</string></value></param></params></methodCall>\n"
    ).encode()


BAD_XML = {
    "billion-laughs": (_billion_laughs(), "DTD"),
    "external-entity": (
        b'<?xml version="1.0"?>\n<!DOCTYPE m [<!ENTITY e SYSTEM "file:///etc/passwd">]>\n'
        b"<methodCall><methodName>&e;</methodName></methodCall>",
        "DTD",
    ),
    "malformed": (b"<methodCall><methodName>search</methodName>", "not well-formed"),
    "not-xml": (b"hello world", "Invalid"),
    "no-method-name": (b"<methodCall><params/></methodCall>", "Invalid XML-RPC"),
}


@pytest.mark.parametrize("path", ["/RPC2", "/"])
@pytest.mark.parametrize("case", list(BAD_XML), ids=list(BAD_XML))
def test_bad_xmlrpc_is_400(index: Site, case: str, path: str) -> None:
    body, message = BAD_XML[case]
    reply = post(index.server, body, "text/xml", path=path)
    assert reply.status == 400, (reply.status, reply.text)
    assert message in reply.text, reply.text
    assert "lollol" not in reply.text
    assert "root:" not in reply.text
    assert get(index.server, "health").status == 200
    proxy = xmlrpc.client.ServerProxy(index.server.url + "RPC2")
    assert "modern-demo" in proxy.list_packages()


def test_unknown_xmlrpc_method_is_a_fault(index: Site) -> None:
    call = xmlrpc.client.dumps((), methodname="frobnicate").encode()
    reply = post(index.server, call, "text/xml", path="/RPC2")
    assert reply.status == 200, reply.text
    with pytest.raises(xmlrpc.client.Fault) as fault:
        xmlrpc.client.loads(reply.body)
    assert "frobnicate" in fault.value.faultString

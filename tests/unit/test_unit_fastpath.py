"""The fast path answers exactly what the routes answer.

Two apps over the same packages directory, one with the fast path and one without
(``app.fast = None``: every request goes through bottle's routes); each request of the
table goes through the whole WSGI app of both, and status, headers and body must be
identical. A second table checks that the fast path does take the requests it is for
(so the comparison is not between two route answers).
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from helpers.dists import make_sdist, make_wheel

from packyard.app import Services, create_app
from packyard.config import Config
from packyard.storage.cache import IndexCache
from packyard.storage.directory import Root

WHEEL = "/packages/Foo_Bar-1.0-py3-none-any.whl"
BIG = "/packages/big-2.0-py3-none-any.whl"


def environ_for(method: str, path: str, query: str = "", **headers: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "index.example",
        "SERVER_PORT": "80",
        "HTTP_HOST": "index.example",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **{"HTTP_" + k.upper(): v for k, v in headers.items()},
    }


def call(app: Any, environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, headers

    chunks = app(environ, start_response)
    try:
        body = b"".join(chunks)
    finally:
        if hasattr(chunks, "close"):
            chunks.close()
    # Header names compare without case (bottle writes "Etag", the fast path "ETag").
    return seen["status"], sorted((k.lower(), v) for k, v in seen["headers"]), body


def build(packages: Path, fast: bool, cache: IndexCache | None = None, **options: Any) -> Any:
    """An app over ``packages``; two apps compared share one ``cache`` (its ledger holds
    the upload times the pages show)."""
    if cache is None:
        cache = IndexCache([Root.of(str(packages))])
        cache.rescan()
    app = create_app(Config(roots=(packages,), **options), Services(cache=cache))
    if not fast:
        del app.fast  # back to the class default, None: routes only
    return app


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("packages")
    make_wheel(directory, "Foo.Bar", "1.0", requires=("attrs",))
    make_wheel(directory, "Foo.Bar", "2.0rc1")
    make_sdist(directory, "Foo.Bar", "0.9")
    # Larger than the small-file cache holds: streamed.
    make_wheel(directory, "big", "2.0", module_body=f"X = {os.urandom(200_000).hex()!r}\n")
    return directory


REQUESTS: list[tuple[str, str, str, dict[str, str]]] = [
    ("GET", "/simple/", "", {}),
    ("HEAD", "/simple/", "", {}),
    ("GET", "/simple/", "", {"Accept": "application/vnd.pypi.simple.v1+json"}),
    ("GET", "/simple/", "", {"Accept": "application/vnd.pypi.simple.v1+html"}),
    ("GET", "/simple/", "", {"Accept": "image/png"}),
    ("GET", "/simple/", "", {"Accept-Encoding": "gzip"}),
    ("GET", "/simple/", "", {"Accept": "text/html;q=0.5, application/vnd.pypi.simple.v1+json"}),
    ("GET", "/simple/foo-bar/", "", {}),
    ("HEAD", "/simple/foo-bar/", "", {}),
    ("GET", "/simple/foo-bar/", "", {"Accept": "application/vnd.pypi.simple.v1+json"}),
    ("GET", "/simple/foo-bar/", "", {"Accept-Encoding": "gzip, br"}),
    ("GET", "/simple/foo-bar/", "format=json", {}),
    ("GET", "/simple/Foo.Bar/", "", {}),
    ("GET", "/simple/foo-bar", "", {}),
    ("GET", "/simple/nothing/", "", {}),
    ("GET", "/simple/big/", "", {"Accept": "*/*"}),
    ("GET", WHEEL, "", {}),
    ("HEAD", WHEEL, "", {}),
    ("GET", WHEEL, "", {"Range": "bytes=0-9"}),
    ("GET", WHEEL + ".metadata", "", {}),
    ("HEAD", WHEEL + ".metadata", "", {}),
    ("GET", "/packages/foo_bar-0.9.tar.gz", "", {}),
    ("GET", "/packages/foo_bar-0.9.tar.gz.metadata", "", {}),
    ("GET", "/packages/missing-1.0.tar.gz", "", {}),
    ("GET", "/packages/missing-1.0-py3-none-any.whl.metadata", "", {}),
    ("GET", BIG, "", {}),
    ("HEAD", BIG, "", {}),
    ("GET", "/packages/", "", {}),
    ("GET", "/pypi/foo-bar/json", "", {}),
    ("HEAD", "/pypi/foo-bar/json", "", {}),
    ("GET", "/pypi/foo-bar/json", "", {"Accept-Encoding": "gzip"}),
    ("GET", "/pypi/foo-bar/json", "", {"X-Forwarded-Host": "elsewhere.example"}),
    ("GET", "/pypi/foo-bar/1.0/json", "", {}),
    ("GET", "/pypi/foo-bar/9.9/json", "", {}),
    ("GET", "/pypi/Foo.Bar/json", "", {}),
    ("GET", "/pypi/nothing/json", "", {}),
    ("GET", "/pypi/foo-bar/1.0/extra/json", "", {}),
    ("POST", "/simple/", "", {}),
    ("GET", "/health", "", {}),
    ("GET", "/", "", {}),
]

SETTINGS: dict[str, dict[str, Any]] = {
    "default": {},
    "list protected": {"authenticate": frozenset({"list", "update"})},
    "download protected": {"authenticate": frozenset({"download", "update"})},
    "no hashes, overwrite": {"hash_algo": None, "overwrite": True},
    "cache-control": {"cache_control": 60},
}


def label(request: tuple[str, str, str, dict[str, str]]) -> str:
    method, path, query, headers = request
    return f"{method} {path}{'?' + query if query else ''} {headers or ''}".strip()


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_the_fast_path_answers_what_the_routes_answer(packages: Path, setting: str) -> None:
    cache = IndexCache([Root.of(str(packages))])
    cache.rescan()
    fast = build(packages, True, cache, **SETTINGS[setting])
    slow = build(packages, False, cache, **SETTINGS[setting])
    for request in REQUESTS:
        method, path, query, headers = request
        # Twice: the first answer fills the caches, the second comes from them.
        for _ in range(2):
            expected = call(slow, environ_for(method, path, query, **headers))
            got = call(fast, environ_for(method, path, query, **headers))
            assert got == expected, label(request)


@pytest.mark.parametrize("setting", list(SETTINGS))
def test_conditional_requests_agree(packages: Path, setting: str) -> None:
    cache = IndexCache([Root.of(str(packages))])
    cache.rescan()
    fast = build(packages, True, cache, **SETTINGS[setting])
    slow = build(packages, False, cache, **SETTINGS[setting])
    for path in ("/simple/", "/simple/foo-bar/", "/pypi/foo-bar/json", WHEEL):
        _, headers, _ = call(slow, environ_for("GET", path))
        etag = dict(headers).get("etag")
        if etag is None:
            continue
        for extra in ({"If-None-Match": etag}, {"If-None-Match": '"other"'}):
            expected = call(slow, environ_for("GET", path, **extra))
            assert call(fast, environ_for("GET", path, **extra)) == expected, (path, extra)


TAKEN = [
    "/simple/",
    "/simple/foo-bar/",
    WHEEL,
    WHEEL + ".metadata",
    BIG,
    "/pypi/foo-bar/json",
    "/pypi/foo-bar/1.0/json",
]


@pytest.mark.parametrize("path", TAKEN)
def test_the_fast_path_takes_the_common_requests(packages: Path, path: str) -> None:
    app = build(packages, fast=True)
    assert app.fast(environ_for("GET", path)) is not None


@pytest.mark.parametrize(
    ("path", "query", "headers"),
    [
        ("/simple/", "x=1", {}),
        ("/simple/nothing/", "", {}),
        ("/simple/", "", {"Accept": "image/png"}),
        (WHEEL, "", {"Range": "bytes=0-1"}),
        ("/pypi/nothing/json", "", {}),
        ("/health", "", {}),
    ],
)
def test_the_fast_path_leaves_the_rest_to_the_routes(
    packages: Path, path: str, query: str, headers: dict[str, str]
) -> None:
    app = build(packages, fast=True)
    assert app.fast(environ_for("GET", path, query, **headers)) is None


def test_protected_reads_are_left_to_the_routes(packages: Path) -> None:
    app = build(packages, fast=True, authenticate=frozenset({"list", "download", "update"}))
    for path in TAKEN:
        assert app.fast(environ_for("GET", path)) is None, path

"""The index pages, redirects, fallback, welcome page and health, in-process (three apps
with different options share one tree of files). Raw targets, HEAD, a prefix behind a real
proxy and the access log: tests/integration/test_http_index.py."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from helpers.app import App, app_from_args
from helpers.index_tree import (
    FOO_BAR_ORDER,
    PROJECTS,
    WELCOME,
    Tree,
    links,
    make_tree,
    target_of,
)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    return make_tree(tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="module")
def server(tree: Tree) -> Iterator[App]:
    """Defaults (sha256, fallback to PyPI), -v."""
    app = app_from_args("-v", tree.root1, tree.root2)
    yield app
    app.close()


@pytest.fixture(scope="module")
def alt_server(tree: Tree, tmp_path_factory: pytest.TempPathFactory) -> Iterator[App]:
    """md5 fragments, another fallback URL, /ping, a welcome file."""
    welcome = tmp_path_factory.mktemp("welcome") / "welcome.html"
    welcome.write_text(WELCOME, encoding="utf-8")
    app = app_from_args(
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
    yield app
    app.close()


@pytest.fixture(scope="module")
def off_server(tree: Tree) -> Iterator[App]:
    """No hash fragment, no fallback."""
    app = app_from_args("--hash-algo", "off", "--disable-fallback", tree.root1, tree.root2)
    yield app
    app.close()


# --- /simple/ ------------------------------------------------------------------------------


def test_project_list_is_sorted_normalized_and_relative(server: App) -> None:
    resp = server.http(server.url + "simple/")
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/html")
    found = links(resp.text)
    assert [text for _, text in found] == PROJECTS
    assert [href for href, _ in found] == [p + "/" for p in PROJECTS]
    for href, name in found:
        assert urlsplit(urljoin(server.url + "simple/", href)).path == f"/simple/{name}/"
        assert server.http(urljoin(server.url + "simple/", href)).status == 200


def test_project_page_orders_by_pep440_over_roots_and_subdirectories(
    server: App, tree: Tree
) -> None:
    page_url = server.url + "simple/foo-bar/"
    resp = server.http(page_url)
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
        got = server.http(urljoin(page_url, href).partition("#")[0])
        assert got.status == 200
        assert got.body == dist.data


def test_every_project_page_lists_all_its_files(server: App, tree: Tree) -> None:
    seen: list[str] = []
    for project in PROJECTS:
        page_url = f"{server.url}simple/{project}/"
        for href, _ in links(server.http(page_url).text):
            seen.append(unquote(urlsplit(urljoin(page_url, href)).path).removeprefix("/packages/"))
    assert sorted(seen) == sorted(tree.dists)


def test_hash_algo_md5_fragment(alt_server: App, tree: Tree) -> None:
    page_url = alt_server.url + "simple/foo-bar/"
    found = links(alt_server.http(page_url).text)
    assert len(found) == len(FOO_BAR_ORDER)
    for (href, _), dist in zip(found, tree.of_project_in_order(), strict=True):
        assert href.endswith("#md5=" + hashlib.md5(dist.data).hexdigest())


def test_hash_algo_off_has_no_fragment(off_server: App, tree: Tree) -> None:
    page_url = off_server.url + "simple/foo-bar/"
    found = links(off_server.http(page_url).text)
    assert [text for _, text in found] == [d.filename for d in tree.of_project_in_order()]
    for href, _ in found:
        assert "#" not in href
        assert off_server.http(urljoin(page_url, href)).status == 200


def test_packages_listing_has_every_file_by_relpath(server: App, tree: Tree) -> None:
    page_url = server.url + "packages/"
    resp = server.http(page_url)
    assert resp.status == 200
    found = links(resp.text)
    assert sorted(text for _, text in found) == sorted(tree.dists)
    assert "sub/deeper/foo_bar-10.0-py3-none-any.whl" in [t for _, t in found]
    for href, text in found:
        assert not urlsplit(href).scheme
        assert not href.startswith("/")
        target = urljoin(page_url, href)
        assert unquote(urlsplit(target).path) == "/packages/" + text
        assert server.http(target).body == tree.dists[text].data
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
    server: App, path: str, status: int, target: str, query: str
) -> None:
    url = server.url.rstrip("/") + path + (f"?{query}" if query else "")
    resp = server.http(url)
    assert resp.status == status
    location = resp.header("Location")
    assert location is not None
    assert not urlsplit(location).scheme
    assert not urlsplit(location).netloc
    assert not location.startswith("/")
    assert target_of(url, location) == (target, query)


def test_redirect_locations_exactly(server: App) -> None:
    base = server.url.rstrip("/")
    assert server.http(base + "/simple/Foo_Bar/").header("Location") == "../foo-bar/"
    assert server.http(base + "/simple/foo-bar").header("Location") == "foo-bar/"
    assert server.http(base + "/simple/Foo_Bar/?x=1").header("Location") == "../foo-bar/?x=1"


def test_followed_redirects_end_on_the_project_page(server: App) -> None:
    url = server.url + "Foo_Bar"
    for _ in range(3):
        resp = server.http(url)
        if resp.status not in (301, 303):
            break
        url = urljoin(url, resp.header("Location"))
    assert resp.status == 200
    assert urlsplit(url).path == "/simple/foo-bar/"
    assert "Links for foo-bar" in resp.text


def test_unknown_project_falls_back_to_pypi(server: App) -> None:
    resp = server.http(server.url + "simple/not-here-at-all/")
    assert resp.status == 303
    assert resp.header("Location") == "https://pypi.org/simple/not-here-at-all/"
    # the non-normalized spelling is normalized first, then falls back
    first = server.http(server.url + "simple/Not_Here.At-all/")
    assert first.status == 301
    second_url = urljoin(server.url + "simple/Not_Here.At-all/", first.header("Location"))
    assert server.http(second_url).header("Location") == "https://pypi.org/simple/not-here-at-all/"


def test_fallback_url_option(alt_server: App) -> None:
    resp = alt_server.http(alt_server.url + "simple/not-here-at-all/")
    assert resp.status == 303
    assert resp.header("Location") == "https://example.invalid/simple/not-here-at-all/"
    # local projects never fall back
    assert alt_server.http(alt_server.url + "simple/foo-bar/").status == 200


def test_disable_fallback_gives_a_short_404(off_server: App) -> None:
    resp = off_server.http(off_server.url + "simple/not-here-at-all/")
    assert resp.status == 404
    assert resp.header("Location") is None
    assert resp.header("Content-Type").startswith("text/plain")
    assert "not-here-at-all" in resp.text
    assert len(resp.body) < 200
    assert "<" not in resp.text
    assert off_server.http(off_server.url + "simple/foo-bar/").status == 200


def test_default_welcome_page(server: App, tree: Tree) -> None:
    resp = server.http(server.url)
    assert resp.status == 200
    assert resp.header("Content-Type").startswith("text/html")
    assert f"{len(tree.dists)} files" in resp.text
    assert f"pip install --index-url {server.url}simple/" in resp.text
    targets = {urlsplit(urljoin(server.url, href)).path for href, _ in links(resp.text)}
    assert {"/simple/", "/packages/"} <= targets


def test_welcome_file_is_substituted_not_executed(alt_server: App, tree: Tree) -> None:
    resp = alt_server.http(alt_server.url)
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


def test_health(server: App) -> None:
    resp = server.http(server.url + "health")
    assert resp.status == 200
    assert resp.text.strip() == "ok"


def test_health_endpoint_option(alt_server: App) -> None:
    resp = alt_server.http(alt_server.url + "ping")
    assert resp.status == 200
    assert resp.text.strip() == "ok"

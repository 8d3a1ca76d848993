"""The WSGI app in-process: mounting under a prefix, and the watcher's polling mode."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urljoin

import pytest
from helpers import wait_for
from helpers.dists import make_wheel
from helpers.wsgi import call

from packyard.app import Services, create_app
from packyard.config import Config
from packyard.storage.cache import IndexCache
from packyard.storage.directory import Root
from packyard.storage.watcher import Watcher


@pytest.fixture
def app(tmp_path: Path):
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "Foo.Bar", "1.0")
    cache = IndexCache([Root.of(str(packages))])
    cache.rescan()
    return create_app(Config(roots=(packages,)), Services(cache=cache))


@pytest.mark.parametrize("prefix", ["", "/pypi", "/deep/er/prefix"])
def test_every_redirect_and_link_stays_under_the_prefix(app, prefix: str) -> None:
    base = f"https://proxy.example{prefix}"
    for path, expected in [
        ("/simple", "/simple/"),
        ("/simple/Foo_Bar/", "/simple/foo-bar/"),
        ("/simple/foo.bar", "/simple/foo-bar/"),
        ("/packages", "/packages/"),
        ("/Foo.Bar", "/simple/foo-bar/"),
        ("/foo-bar/", "/simple/foo-bar/"),
    ]:
        status, headers, _ = call(app, path, prefix)
        assert status.split()[0] in ("301", "303"), path
        assert urljoin(base + path, headers["location"]) == base + expected, path

    _, _, page = call(app, "/simple/foo-bar/", prefix)
    href = page.decode().split('href="', 1)[1].split('"', 1)[0]
    resolved = urljoin(base + "/simple/foo-bar/", href).split("#", 1)[0]
    assert resolved == base + "/packages/Foo_Bar-1.0-py3-none-any.whl"
    status, _, body = call(app, "/packages/Foo_Bar-1.0-py3-none-any.whl", prefix)
    assert status.startswith("200")
    assert body.startswith(b"PK")

    _, _, welcome = call(app, "/", prefix)
    assert f"pip install --index-url {base}/simple/".encode() in welcome


def test_query_string_is_kept_on_normalizing_redirects(app) -> None:
    _, headers, _ = call(app, "/simple/Foo_Bar/", "/pypi", query="a=1&b=%20")
    assert headers["location"] == "../foo-bar/?a=1&b=%20"


def test_polling_watcher_sees_added_and_removed_files(tmp_path: Path) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    cache = IndexCache([Root.of(str(packages))])
    cache.rescan()
    watcher = Watcher(cache, force_polling=True)
    watcher.start()
    try:
        assert watcher.mode == "polling"
        wheel = make_wheel(packages, "polled", "1.0")
        assert wait_for(lambda: "polled" in cache.snapshot.projects, timeout=5)
        wheel.unlink()
        assert wait_for(lambda: "polled" not in cache.snapshot.projects, timeout=5)
    finally:
        watcher.stop()


@pytest.mark.parametrize(
    ("header", "first", "end"),
    [
        (None, 0, None),
        ("bytes=0-", 0, None),
        ("bytes=70000-70099", 70000, 70100),
        ("bytes=-123", -123, None),
    ],
)
@pytest.mark.parametrize("route", [True, False])
def test_without_a_file_wrapper_files_and_ranges_are_exact(
    tmp_path: Path, header: str | None, first: int, end: int | None, route: bool
) -> None:
    """A WSGI server without wsgi.file_wrapper gets a generator that stops after the
    bytes announced (issue 12, item 1): never the rest of the file after a range."""
    packages = tmp_path / "packages"
    packages.mkdir()
    data = bytes(range(256)) * 1200  # larger than the small-file cache takes
    (packages / "big-1.0.tar.gz").write_bytes(data)
    cache = IndexCache([Root.of(str(packages))])
    cache.rescan()
    app = create_app(Config(roots=(packages,)), Services(cache=cache))
    headers = {"range": header} if header else {}
    status, got, body = call(
        app, "/packages/big-1.0.tar.gz", query="via=route" if route else "", **headers
    )
    assert status.startswith("206" if header else "200")
    assert body == data[first:end]
    assert got["content-length"] == str(len(body))

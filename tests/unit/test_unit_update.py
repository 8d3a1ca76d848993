"""The pure parts of ``pypi-server update``: page parsing, release choice, file selection."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from packyard.storage.directory import Root, scan
from packyard.update import (
    Candidate,
    Index,
    RemoteFile,
    UpdateError,
    latest_local,
    parse_html_page,
    parse_json_page,
    platform_family,
    read_ignore_list,
    releases_of,
    select_files,
)

PAGE = "https://example.org/simple/foo/"


# --- HTML (PEP 503) -----------------------------------------------------------------------


def test_html_page_files() -> None:
    html = """<!DOCTYPE html><html><body>
    <a href="../../packages/foo-1.0.tar.gz#sha256=ABCDEF">foo-1.0.tar.gz</a><br>
    <a href="https://files.example/x/foo-2.0-py3-none-any.whl#md5=00ff"
       data-requires-python="&gt;=3.8" data-yanked="">foo-2.0-py3-none-any.whl</a>
    <a href="foo%2B-3.0.zip" data-yanked="broken &amp; bad">foo+-3.0.zip</a>
    <a name="no-href">ignored</a>
    </body></html>"""
    files = parse_html_page(html, PAGE)
    assert files == [
        RemoteFile(
            "foo-1.0.tar.gz",
            "https://example.org/packages/foo-1.0.tar.gz",
            (("sha256", "abcdef"),),
        ),
        RemoteFile(
            "foo-2.0-py3-none-any.whl",
            "https://files.example/x/foo-2.0-py3-none-any.whl",
            (("md5", "00ff"),),
            yanked=True,
            requires_python=">=3.8",
        ),
        RemoteFile("foo+-3.0.zip", "https://example.org/simple/foo/foo%2B-3.0.zip", yanked=True),
    ]


def test_html_base_href() -> None:
    html = '<base href="https://mirror.example/files/"><a href="foo-1.0.tar.gz">x</a>'
    [file] = parse_html_page(html, PAGE)
    assert file.url == "https://mirror.example/files/foo-1.0.tar.gz"


# --- JSON (PEP 691) -----------------------------------------------------------------------


def test_json_page_files() -> None:
    data = b"""{"meta": {"api-version": "1.1"}, "name": "foo", "versions": ["1.0", "2.0"],
      "files": [
        {"filename": "foo-1.0.tar.gz", "url": "../../packages/foo-1.0.tar.gz",
         "hashes": {"sha256": "AA", "blake2b": "bb"}, "yanked": false, "size": 12,
         "requires-python": ">=3.8"},
        {"filename": "foo-2.0.tar.gz", "url": "https://f.example/foo-2.0.tar.gz#sha256=cc",
         "hashes": {}, "yanked": "bad release"},
        {"filename": "foo-2.1.tar.gz", "url": "/p/foo-2.1.tar.gz", "hashes": {},
         "yanked": true, "size": true}
      ]}"""
    one, two, three = parse_json_page(data, PAGE)
    assert one == RemoteFile(
        "foo-1.0.tar.gz",
        "https://example.org/packages/foo-1.0.tar.gz",
        (("sha256", "aa"), ("blake2b", "bb")),
        size=12,
        requires_python=">=3.8",
    )
    assert one.digest() == ("sha256", "aa")
    assert (two.url, two.hashes, two.yanked) == (
        "https://f.example/foo-2.0.tar.gz",
        (("sha256", "cc"),),
        True,
    )
    assert three.yanked
    assert three.size is None


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html>", "not valid JSON"),
        (b"[]", "not a JSON object"),
        (b"{}", "no 'files' list"),
        (b'{"files": [1]}', "not an object"),
        (b'{"files": [{"filename": "a-1.tar.gz"}]}', "without 'filename' or 'url'"),
        (b'{"files": [{"filename": "a", "url": "u", "hashes": []}]}', "'hashes'"),
        (b'{"files": [{"filename": "a", "url": "u", "yanked": 1}]}', "'yanked'"),
        (b'{"meta": {"api-version": "2.0"}, "files": []}', "unsupported API version"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_json_page_garbled(body: bytes, fragment: str) -> None:
    with pytest.raises(UpdateError, match=fragment.replace("(", r"\(")):
        parse_json_page(body, PAGE)


# --- the newest release -------------------------------------------------------------------


def _files(*names: str, yanked: tuple[str, ...] = ()) -> list[RemoteFile]:
    return [RemoteFile(n, f"https://x/{n}", yanked=n in yanked) for n in names]


def test_releases_skip_yanked_unstable_and_foreign_files() -> None:
    files = _files(
        "foo-1.0.tar.gz",
        "foo-1.0.post1-py3-none-any.whl",
        "foo-2.0.tar.gz",
        "foo-3.0rc1.tar.gz",
        "foo-3.1.dev0.tar.gz",
        "foobar-9.0.tar.gz",
        "foo-1.0.tar.gz.asc",
        "..foo-9.0.tar.gz",
        "foo-9.0 .tar.gz",
        yanked=("foo-2.0.tar.gz",),
    )
    stable = releases_of("foo", files, allow_unstable=False)
    assert sorted(stable) == [Version("1.0"), Version("1.0.post1")]
    unstable = releases_of("foo", files, allow_unstable=True)
    assert max(unstable) == Version("3.1.dev0")
    assert Version("2.0") not in unstable


# --- which files of the new release -------------------------------------------------------


def _candidates(*names: str) -> list[Candidate]:
    return releases_of("foo", _files(*names), allow_unstable=True)[Version("2.0")]


NEW = (
    "foo-2.0.tar.gz",
    "foo-2.0-py3-none-any.whl",
    "foo-2.0-cp311-cp311-manylinux_2_28_x86_64.whl",
    "foo-2.0-cp311-cp311-macosx_11_0_arm64.whl",
    "foo-2.0-cp312-cp312-manylinux_2_28_x86_64.whl",
)


@pytest.mark.parametrize(
    ("local", "new", "expected"),
    [
        # an sdist takes the sdist
        (["foo-1.0.tar.gz"], NEW, ["foo-2.0.tar.gz"]),
        # a wheel takes the wheels sharing a python/abi/platform family
        (
            ["foo-1.0-cp311-cp311-manylinux2014_x86_64.whl", "foo-1.0.tar.gz"],
            NEW,
            ["foo-2.0-cp311-cp311-manylinux_2_28_x86_64.whl", "foo-2.0.tar.gz"],
        ),
        (["foo-1.0-py3-none-any.whl"], NEW, ["foo-2.0-py3-none-any.whl"]),
        # no wheel matches: every wheel
        (
            ["foo-1.0-cp38-abi3-win_amd64.whl"],
            NEW,
            sorted(n for n in NEW if n.endswith(".whl")),
        ),
        # no file of a local kind at all: everything
        (["foo-1.0.tar.gz"], ("foo-2.0-py3-none-any.whl",), ["foo-2.0-py3-none-any.whl"]),
        (["foo-1.0-py2.py3-none-any.whl"], ("foo-2.0-py3-none-any.whl",), NEW[1:2]),
    ],
)
def test_select_files(local: list[str], new: tuple[str, ...], expected: list[str]) -> None:
    chosen = select_files(local, _candidates(*new))
    assert [c.file.filename for c in chosen] == sorted(expected)


@pytest.mark.parametrize(
    ("tag", "family"),
    [
        ("manylinux1_x86_64", "manylinux_x86_64"),
        ("manylinux2014_aarch64", "manylinux_aarch64"),
        ("manylinux_2_17_x86_64", "manylinux_x86_64"),
        ("musllinux_1_2_x86_64", "musllinux_x86_64"),
        ("macosx_10_9_universal2", "macosx_universal2"),
        ("win_amd64", "win_amd64"),
        ("any", "any"),
    ],
)
def test_platform_family(tag: str, family: str) -> None:
    assert platform_family(tag) == family


# --- local side, settings -----------------------------------------------------------------


def test_ignore_list() -> None:
    text = "# comment\n\n  Foo_Bar  \nbaz.qux\n   # indented comment\n"
    assert read_ignore_list(text) == {"foo-bar", "baz-qux"}


def test_latest_local(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in (
        "foo-1.0.tar.gz",
        "sub/foo-1.10-py3-none-any.whl",
        "sub/foo-1.10.tar.gz",
        "foo-1.9.tar.gz",
        "Bar_Baz-0.1.tar.gz",
        "skip-1.0.tar.gz",
    ):
        (tmp_path / name).write_bytes(b"x")
    releases = latest_local(scan(Root.of(str(tmp_path))), frozenset({"skip"}))
    assert [(r.project, str(r.version)) for r in releases] == [("bar-baz", "0.1"), ("foo", "1.10")]
    foo = releases[1]
    assert sorted(d.filename for d in foo.files) == ["foo-1.10-py3-none-any.whl", "foo-1.10.tar.gz"]
    assert foo.directory == str(tmp_path / "sub")


def test_index_url_credentials_are_kept_out_of_the_url() -> None:
    index = Index.from_url("https://us%40er:p%3Ass@host.example:8443/simple")
    assert index.url == "https://host.example:8443/simple/"
    assert (index.user, index.password) == ("us@er", "p:ss")
    assert "p:ss" not in repr(index)
    assert index.page_url("foo-bar") == "https://host.example:8443/simple/foo-bar/"

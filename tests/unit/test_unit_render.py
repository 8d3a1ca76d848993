"""The pure HTML renderers."""

from __future__ import annotations

import os
from html.parser import HTMLParser

import pytest

from packyard.index.filenames import Kind
from packyard.index.model import Distribution
from packyard.index.render import (
    REPOSITORY_VERSION,
    WELCOME_PLACEHOLDERS,
    packages_html,
    project_html,
    project_list_html,
    unknown_placeholders,
    url_path,
    welcome_html,
)

ROOT = os.path.abspath(os.sep + "srv")


class Page(HTMLParser):
    """Collects the links (href, text), the meta tags and the title of a page."""

    def __init__(self, data: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.meta: dict[str, str] = {}
        self.title = ""
        self._href: str | None = None
        self._text: list[str] = []
        self._in_title = False
        self.feed(data.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "a":
            self._href = a.get("href") or ""
            self._text = []
        elif tag == "meta" and "name" in a:
            self.meta[a["name"] or ""] = a.get("content") or ""
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None
        elif tag == "title":
            self._in_title = False

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)
        if self._in_title:
            self.title += data


def make_dist(relpath: str, project: str = "foo", version: str = "1.0") -> Distribution:
    return Distribution(
        root=ROOT,
        relpath=relpath,
        project=project,
        version=version,
        kind=Kind.SDIST,
        sort_key=(1, version, relpath),
        size=1,
        mtime_ns=1,
        inode=1,
    )


def digest_of(mapping: dict[str, str | None]):  # type: ignore[no-untyped-def]
    return lambda d: mapping.get(d.relpath)


# --- url_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("foo-1.0.tar.gz", "foo-1.0.tar.gz"),
        ("sub/dir/foo-1.0.tar.gz", "sub/dir/foo-1.0.tar.gz"),
        ("my dir/foo 1.0.tar.gz", "my%20dir/foo%201.0.tar.gz"),
        ("föo-1.0.tar.gz", "f%C3%B6o-1.0.tar.gz"),
        ("a#b?c%d.zip", "a%23b%3Fc%25d.zip"),
        ("foo-1.0+local.tar.gz", "foo-1.0%2Blocal.tar.gz"),
        ("foo-1!2.0.tar.gz", "foo-1%212.0.tar.gz"),
    ],
)
def test_url_path(text: str, expected: str) -> None:
    assert url_path(text) == expected


# --- project_list_html


def test_project_list_links_are_relative_and_in_input_order() -> None:
    names = ["aaa", "bar", "foo-bar", "zzz"]
    page = Page(project_list_html(names))
    assert page.links == [(f"{n}/", n) for n in names]


def test_project_list_keeps_given_order() -> None:
    page = Page(project_list_html(["zzz", "aaa"]))
    assert [text for _, text in page.links] == ["zzz", "aaa"]


def test_project_list_empty() -> None:
    page = Page(project_list_html([]))
    assert page.links == []
    assert page.meta["pypi:repository-version"] == REPOSITORY_VERSION


def test_project_list_meta_and_encoding() -> None:
    html = project_list_html(["foo"])
    assert isinstance(html, bytes)
    page = Page(html)
    assert page.meta["pypi:repository-version"] == "1.0"
    assert html.startswith(b"<!DOCTYPE html>")
    assert b'<meta charset="utf-8">' in html


# --- project_html


def test_project_page_href_hash_and_text() -> None:
    files = [make_dist("foo-1.0.tar.gz"), make_dist("sub/foo-2.0-py3-none-any.whl")]
    page = Page(
        project_html(
            "foo",
            files,
            digest_of({"foo-1.0.tar.gz": "ab" * 32, "sub/foo-2.0-py3-none-any.whl": "cd" * 32}),
            "sha256",
        )
    )
    assert page.links == [
        ("../../packages/foo-1.0.tar.gz#sha256=" + "ab" * 32, "foo-1.0.tar.gz"),
        (
            "../../packages/sub/foo-2.0-py3-none-any.whl#sha256=" + "cd" * 32,
            "foo-2.0-py3-none-any.whl",
        ),
    ]
    assert page.meta["pypi:repository-version"] == REPOSITORY_VERSION
    assert "foo" in page.title


def test_project_page_other_algorithm() -> None:
    page = Page(project_html("foo", [make_dist("foo-1.0.zip")], lambda d: "0123", "md5"))
    assert page.links == [("../../packages/foo-1.0.zip#md5=0123", "foo-1.0.zip")]


def test_project_page_without_hash_algo_never_asks_for_digests() -> None:
    def digest(d: Distribution) -> str:
        raise AssertionError("digest must not be computed when hashing is off")

    page = Page(project_html("foo", [make_dist("foo-1.0.tar.gz")], digest, None))
    assert page.links == [("../../packages/foo-1.0.tar.gz", "foo-1.0.tar.gz")]


def test_project_page_missing_digest_omits_fragment_for_that_file_only() -> None:
    files = [make_dist("foo-1.0.tar.gz"), make_dist("foo-2.0.tar.gz")]
    page = Page(project_html("foo", files, digest_of({"foo-2.0.tar.gz": "ff"}), "sha256"))
    assert [href for href, _ in page.links] == [
        "../../packages/foo-1.0.tar.gz",
        "../../packages/foo-2.0.tar.gz#sha256=ff",
    ]
    assert b"#" not in project_html("foo", files[:1], digest_of({}), "sha256").split(b"<body>")[1]


def test_project_page_escapes_hostile_filename() -> None:
    name = "<script>alert(1)<\\script>&amp;\"'-1.0.tar.gz"  # a filename has no "/"
    relpath = "x/" + name
    html = project_html("foo", [make_dist(relpath)], lambda d: None, None)
    assert b"<script>" not in html
    assert b"&amp;amp;" in html  # a literal "&amp;" in the name is escaped again
    page = Page(html)
    assert len(page.links) == 1
    href, text = page.links[0]
    assert text == name
    assert href == "../../packages/x/" + url_path(name)
    for ch in "<>\"'& ":
        assert ch not in href


def test_project_page_escapes_project_in_title() -> None:
    html = project_html("<b>foo</b>", [], lambda d: None, None)
    assert b"<b>" not in html
    assert "<b>foo</b>" in Page(html).title


@pytest.mark.parametrize(
    ("relpath", "href"),
    [
        ("my dir/foo-1.0.tar.gz", "../../packages/my%20dir/foo-1.0.tar.gz"),
        ("föo/foo-1.0.tar.gz", "../../packages/f%C3%B6o/foo-1.0.tar.gz"),
        ("sub/foo-1.0+local.tar.gz", "../../packages/sub/foo-1.0%2Blocal.tar.gz"),
        ("a#b/foo-1.0.tar.gz", "../../packages/a%23b/foo-1.0.tar.gz"),
        ("q?x/foo-1.0.tar.gz", "../../packages/q%3Fx/foo-1.0.tar.gz"),
        ("50%/foo-1.0.tar.gz", "../../packages/50%25/foo-1.0.tar.gz"),
        ("a&b/foo-1.0.tar.gz", "../../packages/a%26b/foo-1.0.tar.gz"),
    ],
)
def test_project_page_percent_encodes_hrefs(relpath: str, href: str) -> None:
    page = Page(project_html("foo", [make_dist(relpath)], lambda d: None, "sha256"))
    assert page.links == [(href, relpath.rpartition("/")[2])]


def test_project_page_keeps_file_order() -> None:
    files = [make_dist(f"foo-{v}.tar.gz") for v in ("3.0", "1.0", "2.0")]
    page = Page(project_html("foo", files, lambda d: None, None))
    assert [t for _, t in page.links] == ["foo-3.0.tar.gz", "foo-1.0.tar.gz", "foo-2.0.tar.gz"]


# --- packages_html


def test_packages_page_links_relpaths_relatively() -> None:
    files = [
        make_dist("foo-1.0.tar.gz"),
        make_dist("sub dir/bar-1.0.zip", project="bar"),
        make_dist("<i>/baz-1.0.zip", project="baz"),
    ]
    html = packages_html(files)
    assert b"<i>" not in html
    page = Page(html)
    assert page.links == [
        ("foo-1.0.tar.gz", "foo-1.0.tar.gz"),
        ("sub%20dir/bar-1.0.zip", "sub dir/bar-1.0.zip"),
        ("%3Ci%3E/baz-1.0.zip", "<i>/baz-1.0.zip"),
    ]
    assert page.meta["pypi:repository-version"] == REPOSITORY_VERSION


def test_packages_page_empty() -> None:
    assert Page(packages_html([])).links == []


# --- welcome_html


VALUES = {
    "URL": "http://h/pre/",
    "SIMPLE": "http://h/pre/simple/",
    "PACKAGES": "http://h/pre/packages/",
    "NUMPKGS": "12",
    "NUMPROJECTS": "3",
    "VERSION": "9.9",
}


@pytest.mark.parametrize(
    ("template", "values", "expected"),
    [
        ("{{URL}}", VALUES, "http://h/pre/"),
        ("{{ NUMPKGS }}", VALUES, "12"),
        ("{{NUMPKGS }} files", VALUES, "12 files"),
        ("{{!URL}}", VALUES, "http://h/pre/"),
        ("{{ ! URL }}", VALUES, "http://h/pre/"),
        ("a {{URL}} b {{URL}} c", VALUES, "a http://h/pre/ b http://h/pre/ c"),
        ("{{URL}}", {"URL": "http://h/<script>&\"'"}, "http://h/&lt;script&gt;&amp;&quot;&#x27;"),
        ("{{!URL}}", {"URL": "<b>"}, "&lt;b&gt;"),
        ("{{FOO}}", VALUES, "{{FOO}}"),
        ("{{ FOO }} {{URL}}", VALUES, "{{ FOO }} http://h/pre/"),
        ("{{url}}", VALUES, "{{url}}"),  # names are case-sensitive
        ("{{URL}}", {}, "{{URL}}"),
        ("{{ expr() }}", VALUES, "{{ expr() }}"),
        ("{{ __import__('os').getcwd() }}", VALUES, "{{ __import__('os').getcwd() }}"),
        ("{{1+1}}", VALUES, "{{1+1}}"),
        ("no placeholders", VALUES, "no placeholders"),
        ("é {{VERSION}}", VALUES, "é 9.9"),
    ],
)
def test_welcome_substitution(template: str, values: dict[str, str], expected: str) -> None:
    assert welcome_html(template, values) == expected.encode("utf-8")


def test_welcome_bottle_code_lines_are_not_executed() -> None:
    template = "% for x in range(3):\n<p>{{x}}</p>\n% end\n<%\nimport os\n%>\n{{NUMPKGS}}\n"
    out = welcome_html(template, VALUES).decode("utf-8")
    assert out == template.replace("{{NUMPKGS}}", "12")
    assert "<p>0</p>" not in out


def test_welcome_default_template_fills_every_placeholder() -> None:
    out = welcome_html(None, VALUES).decode("utf-8")
    assert "{{" not in out
    assert "}}" not in out
    assert "http://h/pre/simple/" in out
    assert "12" in out
    assert "9.9" in out


def test_welcome_default_template_escapes_values() -> None:
    out = welcome_html(None, {**VALUES, "URL": "http://x/<script>/"})
    assert b"<script>" not in out
    assert b"http://x/&lt;script&gt;/" in out


def test_welcome_empty_template_is_the_default() -> None:
    assert welcome_html("", VALUES) == welcome_html(None, VALUES)


@pytest.mark.parametrize(
    ("template", "unknown"),
    [
        ("", []),
        ("plain", []),
        ("{{URL}} {{NUMPKGS}} {{!SIMPLE}}", []),
        ("".join("{{" + p + "}}" for p in WELCOME_PLACEHOLDERS), []),
        ("{{FOO}}", ["FOO"]),
        ("{{FOO}} {{ BAR }} {{!BAZ}} {{FOO}} {{URL}}", ["BAR", "BAZ", "FOO"]),
        ("{{url}}", ["url"]),
        ("{{ expr() }} {{1+1}}", []),  # not placeholders at all
    ],
)
def test_unknown_placeholders(template: str, unknown: list[str]) -> None:
    assert unknown_placeholders(template) == unknown

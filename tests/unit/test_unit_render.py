"""The pure HTML renderers."""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser

import pytest

from packyard.index.filenames import Kind
from packyard.index.model import Distribution
from packyard.index.render import (
    REPOSITORY_VERSION,
    WELCOME_PLACEHOLDERS,
    FileEntry,
    file_href,
    packages_html,
    project_html,
    project_json,
    project_list_html,
    project_list_json,
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
        self.anchors: list[dict[str, str | None]] = []  # every <a>'s attributes
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
            self.anchors.append(a)
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


def entry(relpath: str, sha256: str | None = None, **kwargs: object) -> FileEntry:
    """A FileEntry for ``relpath``; ``sha256`` fills hashes (none when None)."""
    hashes = {"sha256": sha256} if sha256 is not None else {}
    return FileEntry(dist=make_dist(relpath), hashes=hashes, **kwargs)  # type: ignore[arg-type]


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
    assert page.meta["pypi:repository-version"] == "1.1"
    assert html.startswith(b"<!DOCTYPE html>")
    assert b'<meta charset="utf-8">' in html


# --- project_html


def test_repository_version_is_1_1() -> None:
    # PEP 700 fields (versions, size, upload-time) are served: 1.1, on both formats.
    assert REPOSITORY_VERSION == "1.1"
    assert Page(project_html("foo", [], None)).meta["pypi:repository-version"] == "1.1"
    assert json.loads(project_list_json([]))["meta"]["api-version"] == "1.1"
    assert json.loads(project_json("foo", []))["meta"]["api-version"] == "1.1"


def test_project_page_href_hash_and_text() -> None:
    entries = [
        entry("foo-1.0.tar.gz", "ab" * 32),
        entry("sub/foo-2.0-py3-none-any.whl", "cd" * 32),
    ]
    page = Page(project_html("foo", entries, "sha256"))
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
    item = FileEntry(make_dist("foo-1.0.zip"), hashes={"sha256": "ff", "md5": "0123"})
    page = Page(project_html("foo", [item], "md5"))
    assert page.links == [("../../packages/foo-1.0.zip#md5=0123", "foo-1.0.zip")]


def test_project_page_algorithm_not_among_the_hashes_gives_no_fragment() -> None:
    page = Page(project_html("foo", [entry("foo-1.0.zip", "ff")], "md5"))
    assert page.links == [("../../packages/foo-1.0.zip", "foo-1.0.zip")]


def test_project_page_without_hash_algo_has_no_fragment_even_with_hashes() -> None:
    page = Page(project_html("foo", [entry("foo-1.0.tar.gz", "ab" * 32)], None))
    assert page.links == [("../../packages/foo-1.0.tar.gz", "foo-1.0.tar.gz")]


def test_project_page_missing_digest_omits_fragment_for_that_file_only() -> None:
    entries = [entry("foo-1.0.tar.gz"), entry("foo-2.0.tar.gz", "ff")]
    page = Page(project_html("foo", entries, "sha256"))
    assert [href for href, _ in page.links] == [
        "../../packages/foo-1.0.tar.gz",
        "../../packages/foo-2.0.tar.gz#sha256=ff",
    ]
    assert b"#" not in project_html("foo", entries[:1], "sha256").split(b"<body>")[1]


def test_project_page_escapes_hostile_filename() -> None:
    name = "<script>alert(1)<\\script>&amp;\"'-1.0.tar.gz"  # a filename has no "/"
    relpath = "x/" + name
    html = project_html("foo", [entry(relpath)], None)
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
    html = project_html("<b>foo</b>", [], None)
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
    page = Page(project_html("foo", [entry(relpath)], "sha256"))
    assert page.links == [(href, relpath.rpartition("/")[2])]
    assert file_href(make_dist(relpath)) == href


def test_project_page_keeps_file_order() -> None:
    entries = [entry(f"foo-{v}.tar.gz") for v in ("3.0", "1.0", "2.0")]
    page = Page(project_html("foo", entries, None))
    assert [t for _, t in page.links] == ["foo-3.0.tar.gz", "foo-1.0.tar.gz", "foo-2.0.tar.gz"]


def test_project_page_plain_entry_has_only_href() -> None:
    page = Page(project_html("foo", [entry("foo-1.0.tar.gz", "ab")], "sha256"))
    assert page.anchors == [{"href": "../../packages/foo-1.0.tar.gz#sha256=ab"}]


@pytest.mark.parametrize(
    "spec",
    ["<4", ">=3.8,<4,!=3.9.*", "&&", '>=3"onload="x', "<script>", "~=3.10 & 'x'"],
)
def test_project_page_requires_python_is_escaped(spec: str) -> None:
    html = project_html("foo", [entry("foo-1.0.tar.gz", requires_python=spec)], None)
    page = Page(html)
    assert page.anchors == [{"href": "../../packages/foo-1.0.tar.gz", "data-requires-python": spec}]
    body = html.split(b"<body>")[1]
    assert f'data-requires-python="{spec}"'.encode() not in body  # never written raw
    assert b"<script>" not in body


def test_project_page_requires_python_exact_escaping() -> None:
    html = project_html("foo", [entry("foo-1.0.tar.gz", requires_python='<4,>=3 "&')], None)
    assert b'data-requires-python="&lt;4,&gt;=3 &quot;&amp;"' in html


def test_project_page_requires_python_absent_when_unknown() -> None:
    html = project_html("foo", [entry("foo-1.0.tar.gz", requires_python=None)], None)
    assert b"data-requires-python" not in html
    assert "data-requires-python" not in Page(html).anchors[0]


def test_project_page_core_metadata_both_names_same_value() -> None:
    digest = "0f" * 32
    html = project_html("foo", [entry("foo-1.0-py3-none-any.whl", core_metadata=digest)], None)
    attrs = Page(html).anchors[0]
    assert attrs["data-core-metadata"] == f"sha256={digest}"
    assert attrs["data-dist-info-metadata"] == f"sha256={digest}"


def test_project_page_core_metadata_absent_when_none() -> None:
    entries = [entry("foo-1.0.tar.gz"), entry("foo-1.0-py3-none-any.whl", core_metadata="aa")]
    page = Page(project_html("foo", entries, None))
    assert "data-core-metadata" not in page.anchors[0]
    assert "data-dist-info-metadata" not in page.anchors[0]
    assert page.anchors[1]["data-core-metadata"] == "sha256=aa"
    html = project_html("foo", entries[:1], None)
    assert b"metadata" not in html


@pytest.mark.parametrize(
    ("reason", "expected_raw"),
    [
        ("", b'data-yanked=""'),
        ("broken", b'data-yanked="broken"'),
        ('use "2.0" <now> & later', b'data-yanked="use &quot;2.0&quot; &lt;now&gt; &amp; later"'),
        ("é ünïcode", 'data-yanked="é ünïcode"'.encode()),
    ],
)
def test_project_page_yanked(reason: str, expected_raw: bytes) -> None:
    html = project_html("foo", [entry("foo-1.0.tar.gz", yanked=reason)], None)
    assert expected_raw in html
    assert Page(html).anchors[0]["data-yanked"] == reason


def test_project_page_not_yanked_has_no_attribute() -> None:
    entries = [entry("foo-1.0.tar.gz"), entry("foo-2.0.tar.gz", yanked="")]
    page = Page(project_html("foo", entries, None))
    assert "data-yanked" not in page.anchors[0]
    assert page.anchors[1]["data-yanked"] == ""
    assert b"data-yanked" not in project_html("foo", entries[:1], None)


def test_project_page_all_attributes_together() -> None:
    item = entry(
        "foo-1.0-py3-none-any.whl",
        "ab",
        requires_python=">=3.8",
        core_metadata="cd",
        yanked="bad",
        upload_time="2024-01-02T03:04:05.000006Z",
    )
    page = Page(project_html("foo", [item], "sha256"))
    assert page.anchors == [
        {
            "href": "../../packages/foo-1.0-py3-none-any.whl#sha256=ab",
            "data-requires-python": ">=3.8",
            "data-core-metadata": "sha256=cd",
            "data-dist-info-metadata": "sha256=cd",
            "data-yanked": "bad",
        }
    ]
    assert page.links == [
        ("../../packages/foo-1.0-py3-none-any.whl#sha256=ab", "foo-1.0-py3-none-any.whl")
    ]


# --- project_list_json / project_json (PEP 691, PEP 700)


def test_project_list_json_shape() -> None:
    raw = project_list_json(["aaa", "foo-bar", "zzz"])
    assert isinstance(raw, bytes)
    assert json.loads(raw) == {
        "meta": {"api-version": REPOSITORY_VERSION},
        "projects": [{"name": "aaa"}, {"name": "foo-bar"}, {"name": "zzz"}],
    }


def test_project_list_json_empty_and_unicode() -> None:
    assert json.loads(project_list_json([]))["projects"] == []
    raw = project_list_json(["föö", '"<x>'])
    assert [p["name"] for p in json.loads(raw.decode("utf-8"))["projects"]] == ["föö", '"<x>']


def versioned(relpath: str, version: str, **kwargs: object) -> FileEntry:
    return FileEntry(dist=make_dist(relpath, version=version), **kwargs)  # type: ignore[arg-type]


def test_project_json_shape() -> None:
    entries = [
        versioned(
            "foo-1.0.tar.gz",
            "1.0",
            hashes={"sha256": "ab" * 32},
            requires_python=">=3.8",
            upload_time="2024-01-02T03:04:05.123456Z",
        ),
        versioned(
            "sub/foo-1.0-py3-none-any.whl",
            "1.0",
            hashes={"sha256": "cd" * 32, "md5": "ef" * 16},
            core_metadata="12" * 32,
            yanked="",
        ),
        versioned("foo-2.0.zip", "2.0", yanked='security <issue> & "quotes"'),
    ]
    doc = json.loads(project_json("foo", entries))
    assert doc["meta"] == {"api-version": REPOSITORY_VERSION}
    assert doc["name"] == "foo"
    assert set(doc["versions"]) == {"1.0", "2.0"}
    assert len(doc["versions"]) == 2  # each version once
    assert doc["files"] == [
        {
            "filename": "foo-1.0.tar.gz",
            "url": "../../packages/foo-1.0.tar.gz",
            "hashes": {"sha256": "ab" * 32},
            "requires-python": ">=3.8",
            "core-metadata": False,
            "yanked": False,
            "size": 1,
            "upload-time": "2024-01-02T03:04:05.123456Z",
        },
        {
            "filename": "foo-1.0-py3-none-any.whl",
            "url": "../../packages/sub/foo-1.0-py3-none-any.whl",
            "hashes": {"sha256": "cd" * 32, "md5": "ef" * 16},
            "core-metadata": {"sha256": "12" * 32},
            "yanked": True,
            "size": 1,
        },
        {
            "filename": "foo-2.0.zip",
            "url": "../../packages/foo-2.0.zip",
            "hashes": {},
            "core-metadata": False,
            "yanked": 'security <issue> & "quotes"',
            "size": 1,
        },
    ]


def test_project_json_versions_cover_every_file() -> None:
    entries = [
        versioned("foo-3.0.tar.gz", "3.0"),
        versioned("foo-1.0.tar.gz", "1.0"),
        versioned("foo-1.0.zip", "1.0"),
        versioned("foo-2.0b1.tar.gz", "2.0b1", yanked="x"),
    ]
    doc = json.loads(project_json("foo", entries))
    assert sorted(doc["versions"]) == ["1.0", "2.0b1", "3.0"]
    assert {f["filename"] for f in doc["files"]} == {e.dist.filename for e in entries}
    assert {e.dist.version for e in entries} <= set(doc["versions"])


def test_project_json_empty_project() -> None:
    doc = json.loads(project_json("foo", []))
    assert doc == {
        "meta": {"api-version": REPOSITORY_VERSION},
        "name": "foo",
        "versions": [],
        "files": [],
    }


def test_project_json_size_is_the_files_size() -> None:
    dist = Distribution(
        root=ROOT,
        relpath="foo-1.0.tar.gz",
        project="foo",
        version="1.0",
        kind=Kind.SDIST,
        sort_key=(),
        size=123456,
        mtime_ns=1,
        inode=1,
    )
    doc = json.loads(project_json("foo", [FileEntry(dist)]))
    assert doc["files"][0]["size"] == 123456
    assert isinstance(doc["files"][0]["size"], int)


def test_project_json_optional_keys_only_when_known() -> None:
    doc = json.loads(project_json("foo", [versioned("foo-1.0.tar.gz", "1.0")]))
    (item,) = doc["files"]
    assert "requires-python" not in item
    assert "upload-time" not in item
    assert item["hashes"] == {}  # always present, even when empty (PEP 691)
    assert item["core-metadata"] is False
    assert item["yanked"] is False


def test_project_json_is_compact_utf8_bytes_ending_in_newline() -> None:
    raw = project_json("foo", [versioned("föo-1.0.tar.gz", "1.0", yanked="ünï")])
    assert isinstance(raw, bytes)
    assert raw.endswith(b"\n")
    assert "ünï".encode() in raw  # not \u-escaped
    assert json.loads(raw)["files"][0]["yanked"] == "ünï"


@pytest.mark.parametrize("core_metadata", [None, "ab" * 32])
@pytest.mark.parametrize("yanked", [None, "", "why"])
def test_json_never_contains_dist_info_metadata(
    core_metadata: str | None, yanked: str | None
) -> None:
    entries = [
        versioned(
            "foo-1.0-py3-none-any.whl",
            "1.0",
            hashes={"sha256": "ab"},
            requires_python=">=3",
            core_metadata=core_metadata,
            yanked=yanked,
            upload_time="2024-01-02T03:04:05.000000Z",
        )
    ]
    raw = project_json("foo", entries)
    assert b"dist-info-metadata" not in raw
    assert b"dist_info_metadata" not in raw

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    assert "dist-info-metadata" not in keys(json.loads(raw))
    assert b"dist-info-metadata" not in project_list_json(["foo"])


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

"""The tree of distributions the index-page tests serve (two roots, subdirectories, names
to normalise and to escape), and a parser for the links of a page."""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from helpers.dists import sdist_bytes, wheel_bytes


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""
            self._text = []

    def handle_data(self, data: str) -> None:
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._href is not None:
            self.links.append((self._href, "".join(self._text)))
            self._href = None


def links(html: str) -> list[tuple[str, str]]:
    """(href, anchor text) of every <a> in the page, in order."""
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.links


@dataclass(frozen=True)
class Dist:
    relpath: str
    data: bytes

    @property
    def filename(self) -> str:
        return self.relpath.rpartition("/")[2]


@dataclass
class Tree:
    root1: Path
    root2: Path
    dists: dict[str, Dist]  # relpath -> file, as served

    def of_project_in_order(self) -> list[Dist]:
        return [self.dists[r] for r in FOO_BAR_ORDER]


# foo-bar in the order PEP 440 sorts it, spread over both roots and subdirectories.
FOO_BAR_ORDER = [
    "Foo_Bar-1.0-py3-none-any.whl",  # root1
    "foo_bar-1.0.post1.tar.gz",  # root2
    "sub/foo_bar-1.1rc1.tar.gz",  # root1/sub
    "foo_bar-1.1-py3-none-any.whl",  # root2
    "sub/deeper/foo_bar-10.0-py3-none-any.whl",  # root1/sub/deeper
]
PROJECTS = ["aaa", "alpha-beta", "foo-bar", "mixed-case", "weird-x"]


def _write(root: Path, relpath: str, data: bytes) -> Dist:
    path = root / relpath
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return Dist(relpath, data)


def make_tree(base: Path) -> Tree:
    """Write the tree under ``base`` (root1 and root2)."""
    root1, root2 = base / "root1", base / "root2"
    root1.mkdir()
    root2.mkdir()
    dists = [
        # written out of order on purpose
        _write(
            root1, "sub/deeper/foo_bar-10.0-py3-none-any.whl", wheel_bytes("foo_bar", "10.0")[1]
        ),
        _write(root2, "foo_bar-1.1-py3-none-any.whl", wheel_bytes("foo_bar", "1.1")[1]),
        _write(root1, "sub/foo_bar-1.1rc1.tar.gz", sdist_bytes("foo_bar", "1.1rc1")[1]),
        _write(root2, "foo_bar-1.0.post1.tar.gz", sdist_bytes("foo_bar", "1.0.post1")[1]),
        _write(root1, "Foo_Bar-1.0-py3-none-any.whl", wheel_bytes("Foo_Bar", "1.0")[1]),
        _write(root1, "Alpha_Beta-2.0-py3-none-any.whl", wheel_bytes("Alpha.Beta", "2.0")[1]),
        _write(root1, "Mixed.Case-3.0.tar.gz", sdist_bytes("Mixed.Case", "3.0")[1]),
        _write(root2, "sub/AAA-0.1.zip", b"PK\x05\x06" + b"\0" * 18),
        # a directory name that needs percent-encoding and HTML escaping
        _write(root1, "odd dir #%+&'\"<é>/Weird_X-1.0.tar.gz", sdist_bytes("Weird_X", "1.0")[1]),
    ]
    (root1 / "notes.txt").write_text("not a distribution\n")
    return Tree(root1, root2, {d.relpath: d for d in dists})


WELCOME = """<html><body>
<p>url={{URL}} n={{NUMPKGS}} raw={{!NUMPKGS}}</p>
<p>code: {{ __import__('os').getcwd() }}</p>
% import os
<p>{{os.getcwd()}}</p>
<a href="{{SIMPLE}}">simple</a> <a href="{{PACKAGES}}">packages</a>
</body></html>
"""


def target_of(request_url: str, location: str) -> tuple[str, str]:
    """(path, query) where a Location sent for ``request_url`` leads."""
    resolved = urlsplit(urljoin(request_url, location))
    return resolved.path, resolved.query

"""Pure renderers for the HTML pages. Every value that reaches HTML is escaped.

Links are relative, so the pages stay right under any path prefix (a reverse proxy
serving the index at /pypi/ needs no configuration for the pages themselves).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote

from packyard.index.model import Distribution

# 1.1: PEP 700 (versions, size, upload-time) on top of 1.0 (PEP 503, 592, 629, 658,
# 691, 714). Later versions add parts we do not implement (PEP 740 provenance, PEP 792
# project status), so 1.1 is the highest we can declare honestly. The HTML pages carry
# the same number: serializations of one major version are kept in sync.
REPOSITORY_VERSION = "1.1"


def _page(title: str, body_lines: Iterable[str]) -> bytes:
    head = (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n'
        "<head>\n"
        '<meta charset="utf-8">\n'
        f'<meta name="pypi:repository-version" content="{REPOSITORY_VERSION}">\n'
        f"<title>{escape(title)}</title>\n"
        "</head>\n"
        "<body>\n"
        f"<h1>{escape(title)}</h1>\n"
    )
    return (head + "".join(body_lines) + "</body>\n</html>\n").encode("utf-8")


def url_path(text: str) -> str:
    """Percent-encode a relpath or project name for use in a URL path."""
    return quote(text, safe="/")


def project_list_html(names: Iterable[str]) -> bytes:
    """PEP 503 root page: one relative link per normalized project name."""
    return _page(
        "Simple index",
        (f'<a href="{escape(url_path(n))}/">{escape(n)}</a><br>\n' for n in names),
    )


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One file of a project page, with what the index knows about it."""

    dist: Distribution
    hashes: Mapping[str, str] = field(default_factory=dict)  # algorithm -> hex
    requires_python: str | None = None
    core_metadata: str | None = None  # sha256 of <file>.metadata when one is served
    yanked: str | None = None  # None: not yanked; else the reason ('' when none)
    upload_time: str | None = None  # yyyy-mm-ddThh:mm:ss.ffffffZ


def file_href(dist: Distribution) -> str:
    """The link from /simple/<project>/ to the file, relative."""
    return "../../packages/" + url_path(dist.relpath)


def project_html(project: str, entries: Iterable[FileEntry], hash_algo: str | None) -> bytes:
    """PEP 503 project page, as served at /simple/<project>/.

    Each href leads from /simple/<project>/ to /packages/<relpath>, with the
    ``#<algo>=<hex>`` fragment when hashing is on; the anchor text is the filename.
    PEP 592, 658/714 and 503's Requires-Python become data- attributes.
    """
    lines = []
    for entry in entries:
        href = file_href(entry.dist)
        if hash_algo is not None and hash_algo in entry.hashes:
            href += f"#{hash_algo}={entry.hashes[hash_algo]}"
        attributes = [f'href="{escape(href)}"']
        if entry.requires_python is not None:
            attributes.append(f'data-requires-python="{escape(entry.requires_python)}"')
        if entry.core_metadata is not None:
            value = f"sha256={entry.core_metadata}"
            # PEP 714: the new name, and the old one with the same value for old pips.
            attributes.append(f'data-core-metadata="{value}"')
            attributes.append(f'data-dist-info-metadata="{value}"')
        if entry.yanked is not None:
            attributes.append(f'data-yanked="{escape(entry.yanked)}"')
        lines.append(f"<a {' '.join(attributes)}>{escape(entry.dist.filename)}</a><br>\n")
    return _page(f"Links for {project}", lines)


def _json(document: object) -> bytes:
    return (json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def project_list_json(names: Iterable[str]) -> bytes:
    """PEP 691 project list."""
    return _json(
        {"meta": {"api-version": REPOSITORY_VERSION}, "projects": [{"name": n} for n in names]}
    )


def project_json(project: str, entries: Sequence[FileEntry]) -> bytes:
    """PEP 691 project detail with the PEP 700 fields.

    URLs are relative to the page, like the HTML links. The deprecated key
    "dist-info-metadata" is never written: some pip versions crash on it (PEP 714).
    """
    versions: list[str] = []
    for entry in entries:
        if entry.dist.version not in versions:
            versions.append(entry.dist.version)
    files = []
    for entry in entries:
        item: dict[str, object] = {
            "filename": entry.dist.filename,
            "url": file_href(entry.dist),
            "hashes": dict(entry.hashes),
        }
        if entry.requires_python is not None:
            item["requires-python"] = entry.requires_python
        item["core-metadata"] = (
            {"sha256": entry.core_metadata} if entry.core_metadata is not None else False
        )
        item["yanked"] = (entry.yanked or True) if entry.yanked is not None else False
        item["size"] = entry.dist.size
        if entry.upload_time is not None:
            item["upload-time"] = entry.upload_time
        files.append(item)
    return _json(
        {
            "meta": {"api-version": REPOSITORY_VERSION},
            "name": project,
            "versions": versions,
            "files": files,
        }
    )


def packages_html(files: Iterable[Distribution]) -> bytes:
    """The /packages/ listing: every served file by relpath, linked relatively."""
    return _page(
        "Index of packages",
        (f'<a href="{escape(url_path(d.relpath))}">{escape(d.relpath)}</a><br>\n' for d in files),
    )


_DEFAULT_WELCOME = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Welcome to packyard</title>
</head>
<body>
<h1>Welcome to packyard</h1>
<p>This is a Python package index serving {{NUMPKGS}} files of {{NUMPROJECTS}} projects.</p>
<p>To install from it:</p>
<pre><code>pip install --index-url {{URL}}simple/ PACKAGE [PACKAGE2 ...]</code></pre>
<p>Projects this index does not have are looked up on its fallback index, if it has
one. (Avoid <code>--extra-index-url</code> for a private index: pip then takes the
highest version from either index, PyPI included.)</p>
<p>To upload (if you may):</p>
<pre><code>twine upload --repository-url {{URL}} dist/*</code></pre>
<p>Every file is listed <a href="{{PACKAGES}}">here</a>, and by project in the
<a href="{{SIMPLE}}">simple index</a>.</p>
<p>packyard {{VERSION}}</p>
</body>
</html>
"""

_PLACEHOLDER = re.compile(r"\{\{\s*(!?)\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
WELCOME_PLACEHOLDERS = ("URL", "SIMPLE", "PACKAGES", "NUMPKGS", "NUMPROJECTS", "VERSION")


def unknown_placeholders(template: str) -> list[str]:
    """Placeholder names in a welcome template that will not be replaced."""
    return sorted({m.group(2) for m in _PLACEHOLDER.finditer(template)} - set(WELCOME_PLACEHOLDERS))


def welcome_html(template: str | None, values: Mapping[str, str]) -> bytes:
    """Fill the welcome template by plain substitution (never evaluated as code).

    ``{{NAME}}`` is replaced HTML-escaped; ``{{!NAME}}`` (bottle's raw form, accepted so
    pypiserver welcome files keep working) is replaced as well, also escaped, since the
    values come partly from the request. Unknown placeholders are left as they are.
    """

    def substitute(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in values:
            return match.group(0)
        return escape(values[name])

    return _PLACEHOLDER.sub(substitute, template or _DEFAULT_WELCOME).encode("utf-8")

"""Pure renderers for the HTML pages. Every value that reaches HTML is escaped.

Links are relative, so the pages stay right under any path prefix (a reverse proxy
serving the index at /pypi/ needs no configuration for the pages themselves).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from html import escape
from urllib.parse import quote

from packyard.index.model import Distribution

REPOSITORY_VERSION = "1.0"


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


def project_html(
    project: str,
    files: Iterable[Distribution],
    digest: Callable[[Distribution], str | None],
    hash_algo: str | None,
) -> bytes:
    """PEP 503 project page, as served at /simple/<project>/.

    Each href leads from /simple/<project>/ to /packages/<relpath>, with the
    ``#<algo>=<hex>`` fragment when hashing is on; the anchor text is the filename.
    """
    lines = []
    for dist in files:
        href = "../../packages/" + url_path(dist.relpath)
        if hash_algo is not None:
            hexdigest = digest(dist)
            if hexdigest is not None:
                href += f"#{hash_algo}={hexdigest}"
        lines.append(f'<a href="{escape(href)}">{escape(dist.filename)}</a><br>\n')
    return _page(f"Links for {project}", lines)


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
<p>or, to look here first and then on the fallback index:</p>
<pre><code>pip install --extra-index-url {{URL}}simple/ PACKAGE</code></pre>
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

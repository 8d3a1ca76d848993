"""Pure HTTP helpers: relative redirects, ranges, validators and dates."""

from __future__ import annotations

import functools
import math
import posixpath
import re
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from urllib.parse import quote


def relative_location(request_path: str, target_path: str, query: str = "") -> str:
    """A Location that leads from ``request_path`` to ``target_path``, relatively.

    Both are paths as the application sees them (below any prefix a proxy or
    SCRIPT_NAME adds), so the result is right however the server is mounted.
    ``target_path`` must already be percent-encoded; a trailing slash is kept.
    """
    base_dir = request_path.rsplit("/", 1)[0] or "/"
    rel = posixpath.relpath(target_path, base_dir)
    if target_path.endswith("/") and not rel.endswith("/"):
        rel = "./" if rel == "." else rel + "/"
    if ":" in rel.split("/", 1)[0]:
        rel = "./" + rel  # never let a first segment read as a URL scheme
    location = quote(rel, safe="/%:@!$&'()*+,;=-._~")
    if query:
        location += "?" + quote(query, safe="/%:@!$&'()*+,;=-._~?")
    return location


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def parse_http_date(text: str) -> float | None:
    try:
        return parsedate_to_datetime(text).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def etag_matches(header: str, etag: str) -> bool:
    """If-None-Match semantics: weak comparison against a list of tags, or ``*``."""
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == wanted for candidate in header.split(","))


UNSATISFIABLE = (-1, -1)
# Set in the WSGI environ by packyard's waitress transport when it did not read a
# request's body because the application said, from the head alone, it would refuse it.
BODY_NOT_READ = "packyard.body_not_read"
# In an environ made of a request's head only: a list the application appends its
# answer to "may this body be read?" to, instead of answering the request.
BODY_PROBE = "packyard.body_probe"


_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes '²'
_HUGE = 1 << 62  # beyond any file: more digits than this mean "past the end"


def _byte_number(digits: str) -> int:
    """A byte position; ones too long to matter (or for int()) are just huge."""
    digits = digits.lstrip("0") or "0"
    return int(digits) if len(digits) <= 18 else _HUGE


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """The one byte range ``header`` asks for, as (first, last) inclusive.

    None means "serve the whole file": the header is malformed, not in bytes, or asks
    for several ranges (answering those with the whole file is allowed, RFC 9110
    14.2). UNSATISFIABLE means no asked byte exists (416).
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first_text, dash, last_text = spec.strip().partition("-")
    if not dash:
        return None
    first_text, last_text = first_text.strip(), last_text.strip()
    if not (_DIGITS.fullmatch(first_text) or first_text == "") or not (
        _DIGITS.fullmatch(last_text) or last_text == ""
    ):
        return None
    if first_text == "":
        if last_text == "":
            return None
        length = _byte_number(last_text)
        if length == 0 or size == 0:
            return UNSATISFIABLE
        return (max(0, size - length), size - 1)
    first = _byte_number(first_text)
    if last_text:
        last = _byte_number(last_text)
        if last < first:
            return None
    else:
        last = size - 1
    if first >= size:
        return UNSATISFIABLE
    return (first, min(last, size - 1))


def if_range_allows(header: str | None, etag: str, mtime: float) -> bool:
    """True when a Range may be honoured given an If-Range header (RFC 9110 13.1.5)."""
    if header is None:
        return True
    header = header.strip()
    if header.startswith(('"', "W/")):
        return not header.startswith("W/") and header == etag
    when = parse_http_date(header)
    return when is not None and int(mtime) <= when


def base_url(environ: Mapping[str, object]) -> str:
    """scheme://host/prefix/ of this application as the client addressed it."""
    scheme = str(environ.get("wsgi.url_scheme", "http"))
    host = str(environ.get("HTTP_HOST") or "")
    if not host:
        host = str(environ.get("SERVER_NAME", "localhost"))
        port = str(environ.get("SERVER_PORT", ""))
        if port and port != {"http": "80", "https": "443"}.get(scheme):
            host += ":" + port
    return f"{scheme}://{host}{encoded_path(str(environ.get('SCRIPT_NAME', '')).rstrip('/'))}/"


def encoded_path(wsgi_path: str) -> str:
    """A WSGI path (decoded, one latin-1 character per byte) percent-encoded once, the
    characters a path segment may hold as they are (``/my index`` -> ``/my%20index``)."""
    try:
        raw = wsgi_path.encode("latin-1")
    except UnicodeEncodeError:  # not from a WSGI server; take it as text
        raw = wsgi_path.encode("utf-8")
    return quote(raw, safe="/!$&'()*+,;=:@~")


def _weighted(header: str) -> list[tuple[str, float]]:
    """The items of an Accept-style header, lower-cased, each with its q-value
    (1 when absent; 0 when malformed or not a finite number; clamped to 0..1)."""
    items = []
    for item in header.split(","):
        token, *params = (p.strip() for p in item.split(";"))
        if not token:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                q = min(max(q, 0.0), 1.0) if math.isfinite(q) else 0.0
        items.append((token.lower(), q))
    return items


def _accept_q(accept: str, wanted: str) -> float:
    best = 0.0
    for kind, q in _weighted(accept):
        if kind == wanted or kind == wanted.split("/")[0] + "/*" or kind == "*/*":
            # An exact type beats a wildcard of the same weight; q=0 means "not this".
            bump = 0.0001 if kind == wanted and q > 0 else 0.0
            best = max(best, q + bump)
    return best


def prefers_json(accept: str | None) -> bool:
    """True when the client ranks application/json above text (uv does; twine's
    ``*/*`` does not)."""
    if not accept:
        return False
    json_q = _accept_q(accept, "application/json")
    text_q = max(_accept_q(accept, "text/plain"), _accept_q(accept, "text/html"))
    return json_q > 0 and json_q > text_q


def reason_phrase(message: str) -> str:
    """A message made safe for an HTTP status line (latin-1, no control characters)."""
    cleaned = "".join(c if 32 <= ord(c) < 127 or 160 <= ord(c) < 256 else "?" for c in message)
    return cleaned[:300]


# --- PEP 691 content negotiation ---------------------------------------------------

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
TEXT_HTML = "text/html"
SIMPLE_TYPES = (JSON_V1, HTML_V1, TEXT_HTML)
_ALIASES = {
    "application/vnd.pypi.simple.latest+json": JSON_V1,
    "application/vnd.pypi.simple.latest+html": HTML_V1,
}
# Ties between exact matches go to the most expressive format (PEP 691's advice);
# ties between wildcard matches go to plain HTML, so "*/*" (and no Accept at all) gets
# what every client has always understood.
_EXACT_PREFERENCE = {JSON_V1: 3, HTML_V1: 2, TEXT_HTML: 1}
_WILDCARD_PREFERENCE = {TEXT_HTML: 3, HTML_V1: 2, JSON_V1: 1}


_SPECIFICITY = {(True, False, False): 2, (False, True, False): 1, (False, False, True): 0}


def _media_ranges(accept: str) -> list[tuple[str, float]]:
    return [(_ALIASES.get(kind, kind), q) for kind, q in _weighted(accept)]


# Clients send a handful of distinct Accept and Accept-Encoding headers, so their
# answers are remembered; but only for values up to MEMO_MAX characters, so that the
# memory a client can fill with header values it makes up stays small (512 entries of
# at most 256 characters per function), whatever --max-header-size allows.
MEMO_MAX = 256


def negotiate(accept: str | None, format_param: str | None = None) -> str | None:
    """The simple-API content type to answer with, or None for 406 Not Acceptable
    (see ``_negotiate``); remembered for short headers."""
    if len(accept or "") + len(format_param or "") <= MEMO_MAX:
        return _negotiate_memo(accept, format_param)
    return _negotiate(accept, format_param)


def _negotiate(accept: str | None, format_param: str | None = None) -> str | None:
    """The simple-API content type to answer with, or None for 406 Not Acceptable.

    ``?format=`` (one exact content type) takes precedence over Accept. A missing or
    empty Accept counts as ``*/*``. Each offered type gets the q-value of the most
    specific range that matches it (RFC 9110 12.5.1); q=0 excludes it.
    """
    if format_param is not None:
        # A "+" left unencoded in the query string arrives as a space; media types
        # never contain spaces, so "v1+json" written as-is in a URL still works.
        text = format_param.strip().replace(" ", "+").lower()
        wanted = _ALIASES.get(text, text)
        return wanted if wanted in SIMPLE_TYPES else None
    ranges = _media_ranges(accept) if accept and accept.strip() else [("*/*", 1.0)]
    best: tuple[float, int, int] | None = None
    chosen: str | None = None
    for offered in SIMPLE_TYPES:
        major = offered.split("/")[0] + "/*"
        match: tuple[int, float] | None = None  # (specificity, q)
        for kind, q in ranges:
            specificity = _SPECIFICITY.get((kind == offered, kind == major, kind == "*/*"), -1)
            if specificity >= 0 and (match is None or specificity > match[0]):
                match = (specificity, q)
        if match is None or match[1] <= 0:
            continue
        specificity, q = match
        preference = (_EXACT_PREFERENCE if specificity == 2 else _WILDCARD_PREFERENCE)[offered]
        score = (q, specificity, preference)
        if best is None or score > best:
            best, chosen = score, offered
    return chosen


_negotiate_memo = functools.lru_cache(maxsize=512)(_negotiate)


def accepts_encoding(header: str | None, coding: str) -> bool:
    """True when Accept-Encoding allows ``coding`` (named or by ``*``, with q > 0);
    remembered for short headers."""
    if header is None or len(header) <= MEMO_MAX:
        return _accepts_memo(header, coding)
    return _accepts_encoding(header, coding)


def _accepts_encoding(header: str | None, coding: str) -> bool:
    if not header:
        return False
    named: float | None = None
    star: float | None = None
    for name, q in _weighted(header):
        if name == coding:
            named = q
        elif name == "*":
            star = q
    if named is not None:
        return named > 0
    return star is not None and star > 0


_accepts_memo = functools.lru_cache(maxsize=512)(_accepts_encoding)

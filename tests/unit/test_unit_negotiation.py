"""PEP 691 content negotiation: httputil.negotiate(accept, format_param)."""

from __future__ import annotations

import pytest

from packyard.httputil import HTML_V1, JSON_V1, SIMPLE_TYPES, TEXT_HTML, negotiate

PIP = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, "
    "text/html; q=0.01"
)
UV = (
    "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html;q=0.2, "
    "text/html;q=0.01"
)
POETRY = "application/vnd.pypi.simple.v1+json, */*;q=0.1"
BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


def test_constants() -> None:
    assert JSON_V1 == "application/vnd.pypi.simple.v1+json"
    assert HTML_V1 == "application/vnd.pypi.simple.v1+html"
    assert TEXT_HTML == "text/html"
    assert set(SIMPLE_TYPES) == {JSON_V1, HTML_V1, TEXT_HTML}


ACCEPT_CASES = [
    # real clients
    pytest.param(PIP, JSON_V1, id="pip"),
    pytest.param(UV, JSON_V1, id="uv"),
    pytest.param(POETRY, JSON_V1, id="poetry"),
    pytest.param(BROWSER, TEXT_HTML, id="browser"),
    pytest.param("text/html", TEXT_HTML, id="old-pip-text-html"),
    # nothing said: plain HTML, what every client understands
    pytest.param(None, TEXT_HTML, id="none"),
    pytest.param("", TEXT_HTML, id="empty"),
    pytest.param("   ", TEXT_HTML, id="blank"),
    pytest.param("*/*", TEXT_HTML, id="star-star"),
    pytest.param("*/*;q=0.5", TEXT_HTML, id="star-star-q"),
    # exact types
    pytest.param(JSON_V1, JSON_V1, id="json-v1"),
    pytest.param(HTML_V1, HTML_V1, id="html-v1"),
    pytest.param(f"{HTML_V1}, {JSON_V1}", JSON_V1, id="exact-tie-goes-to-json"),
    pytest.param(f"{TEXT_HTML}, {HTML_V1}", HTML_V1, id="exact-tie-html-v1-over-text"),
    pytest.param(f"{JSON_V1};q=0.5, {HTML_V1}", HTML_V1, id="higher-q-wins"),
    pytest.param(f"{JSON_V1};q=0.5, text/html;q=0.6", TEXT_HTML, id="higher-q-text"),
    pytest.param(f"text/html;q=0.9, {JSON_V1};q=0.8", TEXT_HTML, id="text-preferred-by-q"),
    # latest aliases
    pytest.param("application/vnd.pypi.simple.latest+json", JSON_V1, id="latest-json"),
    pytest.param("application/vnd.pypi.simple.latest+html", HTML_V1, id="latest-html"),
    pytest.param(
        "application/vnd.pypi.simple.latest+json;q=0.2, text/html;q=0.1",
        JSON_V1,
        id="latest-json-with-q",
    ),
    # q=0 excludes
    pytest.param(f"{JSON_V1};q=0, text/html", TEXT_HTML, id="json-q0"),
    pytest.param("text/html;q=0", None, id="only-text-q0"),
    pytest.param(f"{JSON_V1};q=0", None, id="only-json-q0"),
    pytest.param("*/*;q=0", None, id="star-q0"),
    pytest.param(f"{JSON_V1};q=0.0, */*", TEXT_HTML, id="json-q0-then-star"),
    pytest.param("text/html;q=0, */*", HTML_V1, id="text-q0-then-star"),
    pytest.param(f"text/html;q=0, {HTML_V1};q=0, */*", JSON_V1, id="only-json-left"),
    pytest.param(f"{JSON_V1};q=0.000, {HTML_V1};q=0.001", HTML_V1, id="tiny-q-still-counts"),
    # unknown types only
    pytest.param("image/png", None, id="image-png"),
    pytest.param("application/json", None, id="plain-json-is-not-pep691"),
    pytest.param("application/vnd.pypi.simple.v2+json", None, id="unknown-major-version"),
    pytest.param("text/plain", None, id="text-plain"),
    pytest.param("image/png, text/html;q=0.1", TEXT_HTML, id="unknown-then-known"),
    # case-insensitivity
    pytest.param("Application/VND.PyPI.Simple.V1+JSON", JSON_V1, id="case-json"),
    pytest.param("TEXT/HTML", TEXT_HTML, id="case-text"),
    pytest.param("Application/Vnd.Pypi.Simple.Latest+Json", JSON_V1, id="case-latest"),
    pytest.param(f"{JSON_V1};Q=0, text/html", TEXT_HTML, id="case-q-param"),
    # q syntax: spaces, other parameters, clamping, malformed
    pytest.param(f"{JSON_V1} ; q = 0 , text/html", TEXT_HTML, id="spaces-around-q"),
    pytest.param(f"{JSON_V1};charset=utf-8;q=0.5, text/html;q=0.4", JSON_V1, id="other-params"),
    pytest.param(f"{JSON_V1};q=abc, text/html;q=0.5", TEXT_HTML, id="malformed-q-is-zero"),
    pytest.param(f"{JSON_V1};q=, text/html;q=0.5", TEXT_HTML, id="empty-q-is-zero"),
    pytest.param(f"{JSON_V1};q=abc", None, id="only-malformed-q"),
    pytest.param(f"{JSON_V1};q=-1, text/html;q=0.1", TEXT_HTML, id="negative-q-is-zero"),
    # q above 1 counts as 1: the exact-match tie then goes to JSON
    pytest.param(f"text/html;q=5, {JSON_V1}", JSON_V1, id="q-clamped-to-1"),
    # a q that parses as a float but is not a number is malformed too
    pytest.param(f"{JSON_V1};q=nan, text/html", TEXT_HTML, id="nan-q-is-malformed"),
    pytest.param(f"text/html;q=0.5, {JSON_V1};q=NaN", TEXT_HTML, id="nan-q-second"),
    # empty list members are ignored
    pytest.param(f", ,{JSON_V1},", JSON_V1, id="empty-members"),
    # application/*: both PEP 691 types match equally; ties between wildcard matches
    # go to HTML, and text/html is not an application type at all
    pytest.param("application/*", HTML_V1, id="application-star"),
    pytest.param("application/*;q=0.5, text/html;q=0.4", HTML_V1, id="application-star-q"),
    pytest.param("application/*;q=0.4, text/html;q=0.5", TEXT_HTML, id="text-over-app-star"),
    pytest.param(f"application/*, {HTML_V1};q=0", JSON_V1, id="application-star-minus-html"),
    pytest.param(f"application/*;q=0, {JSON_V1}", JSON_V1, id="exact-beats-wildcard-q0"),
    pytest.param(f"application/*;q=0, {HTML_V1};q=0.1, text/html", TEXT_HTML, id="q-wins"),
    pytest.param("text/*", TEXT_HTML, id="text-star"),
    pytest.param("text/*;q=0, */*", HTML_V1, id="text-star-q0"),
    # the most specific range decides a type's q, wherever it stands in the list
    pytest.param(f"*/*;q=0.9, {JSON_V1};q=0.1", TEXT_HTML, id="specific-lower-than-star"),
    pytest.param(f"{JSON_V1};q=0.1, */*;q=0.9", TEXT_HTML, id="same-reversed"),
    pytest.param(f"{JSON_V1}, */*;q=0", JSON_V1, id="star-q0-keeps-exact"),
    pytest.param(f"{JSON_V1};q=0.5, application/*;q=1", HTML_V1, id="app-star-over-exact"),
]


@pytest.mark.parametrize(("accept", "expected"), ACCEPT_CASES)
def test_negotiate_accept(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected
    assert negotiate(accept, None) == expected


@pytest.mark.parametrize(("accept", "expected"), ACCEPT_CASES)
def test_negotiate_answers_an_offered_type_or_none(
    accept: str | None, expected: str | None
) -> None:
    result = negotiate(accept)
    assert result is None or result in SIMPLE_TYPES


@pytest.mark.parametrize(
    ("format_param", "expected"),
    [
        (JSON_V1, JSON_V1),
        (HTML_V1, HTML_V1),
        (TEXT_HTML, TEXT_HTML),
        ("application/vnd.pypi.simple.latest+json", JSON_V1),
        ("application/vnd.pypi.simple.latest+html", HTML_V1),
        ("Application/Vnd.Pypi.Simple.V1+Json", JSON_V1),
        ("TEXT/HTML", TEXT_HTML),
        (f"  {JSON_V1} ", JSON_V1),
        ("*/*", None),
        ("application/*", None),
        ("text/*", None),
        ("json", None),
        ("html", None),
        ("application/json", None),
        ("image/png", None),
        ("application/vnd.pypi.simple.v2+json", None),
        (f"{JSON_V1};q=1", None),  # one exact content type, no parameters
        (f"{JSON_V1}, {HTML_V1}", None),  # not a list either
    ],
)
def test_negotiate_format_param(format_param: str, expected: str | None) -> None:
    assert negotiate(None, format_param) == expected


@pytest.mark.parametrize("accept", [None, "", "*/*", PIP, BROWSER, "image/png", f"{JSON_V1};q=0"])
@pytest.mark.parametrize("format_param", [JSON_V1, HTML_V1, TEXT_HTML])
def test_format_param_overrides_accept(accept: str | None, format_param: str) -> None:
    assert negotiate(accept, format_param) == format_param


@pytest.mark.parametrize("accept", [None, "*/*", PIP, BROWSER])
@pytest.mark.parametrize("format_param", ["*/*", "json", "image/png"])
def test_bad_format_param_is_not_rescued_by_accept(accept: str | None, format_param: str) -> None:
    assert negotiate(accept, format_param) is None

"""Pure HTTP helpers: relative redirects, ranges, validators, dates, base URL."""

from __future__ import annotations

from urllib.parse import urljoin

import pytest

from packyard.httputil import (
    UNSATISFIABLE,
    base_url,
    etag_matches,
    http_date,
    if_range_allows,
    parse_http_date,
    parse_range,
    relative_location,
)

# request path, target path, query, expected Location
REDIRECTS = [
    ("/simple/Foo/", "/simple/foo/", "", "../foo/"),
    ("/simple/Foo_Bar/", "/simple/foo-bar/", "", "../foo-bar/"),
    ("/simple/foo", "/simple/foo/", "", "foo/"),
    ("/simple/Foo", "/simple/foo/", "", "foo/"),
    ("/simple", "/simple/", "", "simple/"),
    ("/packages", "/packages/", "", "packages/"),
    ("/foo", "/simple/foo/", "", "simple/foo/"),
    ("/foo/", "/simple/foo/", "", "../simple/foo/"),
    ("/", "/simple/", "", "simple/"),
    ("/simple/foo", "/simple/foo/", "a=1&b=2", "foo/?a=1&b=2"),
    ("/simple/Foo/", "/simple/foo/", "x=%2F", "../foo/?x=%2F"),
    ("/simple/foo/", "/simple/foo/", "", "./"),
    ("/x/y/z", "/x/", "", "../"),
    ("/simple/a:b", "/simple/a:b/", "", "./a:b/"),  # never read as a scheme
    ("/packages/sub/Foo-1.0.tar.gz", "/packages/sub/foo-1.0.tar.gz", "", "foo-1.0.tar.gz"),
    ("/simple/f%C3%B6o", "/simple/f%C3%B6o/", "", "f%C3%B6o/"),
]


@pytest.mark.parametrize(("request_path", "target", "query", "expected"), REDIRECTS)
def test_relative_location(request_path: str, target: str, query: str, expected: str) -> None:
    assert relative_location(request_path, target, query) == expected


@pytest.mark.parametrize("prefix", ["", "/prefix", "/a/b", "/pypi"])
@pytest.mark.parametrize(("request_path", "target", "query", "expected"), REDIRECTS)
def test_relative_location_resolves_under_any_prefix(
    prefix: str, request_path: str, target: str, query: str, expected: str
) -> None:
    location = relative_location(request_path, target, query)
    resolved = urljoin("http://h" + prefix + request_path, location)
    assert resolved == "http://h" + prefix + target + (f"?{query}" if query else "")


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-9", 100, (0, 9)),
        ("bytes=0-0", 100, (0, 0)),
        ("bytes=5-", 10, (5, 9)),
        ("bytes=9-", 10, (9, 9)),
        ("bytes=0-", 10, (0, 9)),
        ("bytes=-3", 10, (7, 9)),
        ("bytes=-10", 10, (0, 9)),
        ("bytes=-20", 10, (0, 9)),  # suffix longer than the file: the whole file
        ("bytes=5-100", 10, (5, 9)),  # last beyond size: clipped
        ("bytes=0-9", 10, (0, 9)),
        ("bytes=0-10", 10, (0, 9)),
        (" bytes = 2-4 ", 10, (2, 4)),
        ("Bytes=2-4", 10, (2, 4)),
        ("bytes=-0", 10, UNSATISFIABLE),
        ("bytes=10-", 10, UNSATISFIABLE),  # first byte past the end
        ("bytes=10-20", 10, UNSATISFIABLE),
        ("bytes=100-", 10, UNSATISFIABLE),
        ("bytes=100-200", 10, UNSATISFIABLE),
        ("bytes=0-0", 0, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),
        ("bytes=-1", 0, UNSATISFIABLE),
        ("bytes=0-1,3-4", 10, None),  # several ranges: whole file
        ("bytes=0-1, 3-4", 10, None),
        ("garbage", 10, None),
        ("", 10, None),
        ("bytes", 10, None),
        ("bytes=", 10, None),
        ("bytes=-", 10, None),
        ("bytes=5", 10, None),
        ("bytes=a-b", 10, None),
        ("bytes=1-b", 10, None),
        ("bytes=+1-2", 10, None),
        ("bytes=1.5-2", 10, None),
        ("bytes=--1", 10, None),
        ("items=0-1", 10, None),
        ("bits=0-1", 10, None),
        ("bytes=5-2", 10, None),  # reversed: invalid, ignored
    ],
)
def test_parse_range(header: str, size: int, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    ("header", "etag", "expected"),
    [
        ('"abc"', '"abc"', True),
        ('"abc"', '"abd"', False),
        ('"x", "abc"', '"abc"', True),
        ('"x","abc"', '"abc"', True),
        ('"x" , "y"', '"abc"', False),
        ('W/"abc"', '"abc"', True),  # weak comparison
        ('"abc"', 'W/"abc"', True),
        ('W/"abc"', 'W/"abc"', True),
        ('"x", W/"abc"', '"abc"', True),
        ("*", '"abc"', True),
        (" * ", '"abc"', True),
        ("", '"abc"', False),
        ("abc", '"abc"', False),  # the quotes are part of the tag
    ],
)
def test_etag_matches(header: str, etag: str, expected: bool) -> None:
    assert etag_matches(header, etag) is expected


MTIME = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT


@pytest.mark.parametrize(
    ("header", "etag", "mtime", "expected"),
    [
        (None, '"a"', MTIME, True),
        ('"a"', '"a"', MTIME, True),
        (' "a" ', '"a"', MTIME, True),
        ('"b"', '"a"', MTIME, False),
        ('W/"a"', '"a"', MTIME, False),  # a weak tag never allows a range
        ('W/"a"', 'W/"a"', MTIME, False),
        ("Sun, 06 Nov 1994 08:49:37 GMT", '"a"', MTIME, True),
        ("Sun, 06 Nov 1994 08:49:37 GMT", '"a"', MTIME + 0.5, True),  # 1 s resolution
        ("Sun, 06 Nov 1994 08:49:38 GMT", '"a"', MTIME, True),
        ("Sun, 06 Nov 1994 08:49:36 GMT", '"a"', MTIME, False),  # changed since
        ("garbage", '"a"', MTIME, False),
        ("", '"a"', MTIME, False),
    ],
)
def test_if_range_allows(header: str | None, etag: str, mtime: float, expected: bool) -> None:
    assert if_range_allows(header, etag, mtime) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sun, 06 Nov 1994 08:49:37 GMT", MTIME),
        ("Sunday, 06-Nov-94 08:49:37 GMT", MTIME),
        ("Sun Nov  6 08:49:37 1994", MTIME),
        ("garbage", None),
        ("", None),
        ("Sun, 99 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 25:61:99 GMT", None),
        ("12345", None),
    ],
)
def test_parse_http_date(text: str, expected: float | None) -> None:
    assert parse_http_date(text) == expected


@pytest.mark.parametrize("timestamp", [0.0, MTIME, 1_700_000_000.0])
def test_http_date_round_trip(timestamp: float) -> None:
    text = http_date(timestamp)
    assert text.endswith(" GMT")
    assert parse_http_date(text) == timestamp


def test_http_date_format() -> None:
    assert http_date(MTIME) == "Sun, 06 Nov 1994 08:49:37 GMT"


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"HTTP_HOST": "example.com"}, "http://example.com/"),
        ({"HTTP_HOST": "example.com:8080"}, "http://example.com:8080/"),
        (
            {"HTTP_HOST": "example.com", "wsgi.url_scheme": "https"},
            "https://example.com/",
        ),
        (
            {"HTTP_HOST": "example.com", "SERVER_NAME": "other", "SERVER_PORT": "81"},
            "http://example.com/",
        ),
        ({"HTTP_HOST": "[::1]:8080"}, "http://[::1]:8080/"),
        ({"SERVER_NAME": "srv", "SERVER_PORT": "8080"}, "http://srv:8080/"),
        ({"SERVER_NAME": "srv", "SERVER_PORT": "80"}, "http://srv/"),
        (
            {"SERVER_NAME": "srv", "SERVER_PORT": "443", "wsgi.url_scheme": "https"},
            "https://srv/",
        ),
        (
            {"SERVER_NAME": "srv", "SERVER_PORT": "80", "wsgi.url_scheme": "https"},
            "https://srv:80/",
        ),
        (
            {"SERVER_NAME": "srv", "SERVER_PORT": "443", "wsgi.url_scheme": "http"},
            "http://srv:443/",
        ),
        ({"HTTP_HOST": "", "SERVER_NAME": "srv", "SERVER_PORT": "80"}, "http://srv/"),
        ({}, "http://localhost/"),
        ({"HTTP_HOST": "h", "SCRIPT_NAME": "/pypi"}, "http://h/pypi/"),
        ({"HTTP_HOST": "h", "SCRIPT_NAME": "/pypi/"}, "http://h/pypi/"),
        ({"HTTP_HOST": "h", "SCRIPT_NAME": "/a/b"}, "http://h/a/b/"),
        ({"HTTP_HOST": "h", "SCRIPT_NAME": "/my dir"}, "http://h/my%20dir/"),
        ({"HTTP_HOST": "h", "SCRIPT_NAME": ""}, "http://h/"),
        (
            {"SERVER_NAME": "srv", "SERVER_PORT": "8080", "SCRIPT_NAME": "/pypi"},
            "http://srv:8080/pypi/",
        ),
    ],
)
def test_base_url(environ: dict[str, str], expected: str) -> None:
    assert base_url(environ) == expected

"""packyard.proxy: the option parsers and the environ rewriting, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from packyard.httputil import base_url
from packyard.proxy import Forwarded, parse_base_path, parse_trusted_proxies, wrap


def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [])
    return [b"app"]


def call(middleware: Forwarded, **environ: str) -> tuple[str, dict[str, Any], bytes]:
    env: dict[str, Any] = {
        "REMOTE_ADDR": "127.0.0.1",
        "PATH_INFO": "/simple/",
        "SCRIPT_NAME": "",
        "HTTP_HOST": "backend:8080",
        "wsgi.url_scheme": "http",
        **environ,
    }
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen["status"] = status
        seen["headers"] = dict(headers)

    body = b"".join(middleware(env, start_response))
    return seen["status"], env, body


def test_parse_trusted_proxies() -> None:
    assert parse_trusted_proxies("127.0.0.1, 10.0.0.0/8") == ("127.0.0.1/32", "10.0.0.0/8")
    assert parse_trusted_proxies("10.1.2.3/8") == ("10.0.0.0/8",)
    assert parse_trusted_proxies("::1") == ("::1/128",)
    assert parse_trusted_proxies("*") == ("*",)
    for bad in ("", "nope", "*,1.2.3.4", "300.1.1.1"):
        with pytest.raises(ValueError, match=r"list|alone|address"):
            parse_trusted_proxies(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("/", ""), ("/pypi", "/pypi"), ("/pypi/", "/pypi"), ("/a/b-c_d.e/", "/a/b-c_d.e")],
)
def test_parse_base_path(text: str, expected: str) -> None:
    assert parse_base_path(text) == expected


@pytest.mark.parametrize("text", ["pypi", "//x", "/a//b", "/a/../b", "/a b", "http://h/p", "/<x>"])
def test_parse_base_path_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"path|URL|start"):
        parse_base_path(text)


def test_nothing_configured_is_the_app_itself() -> None:
    assert wrap(app, (), "") is app


def test_client_is_the_last_untrusted_address() -> None:
    mw = Forwarded(app, ("127.0.0.1/32", "10.0.0.0/8"))
    _, env, _ = call(mw, HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9, 10.0.0.5")
    assert env["REMOTE_ADDR"] == "203.0.113.9"
    # all trusted: the first one
    _, env, _ = call(mw, HTTP_X_FORWARDED_FOR="10.0.0.7, 10.0.0.5")
    assert env["REMOTE_ADDR"] == "10.0.0.7"
    # garbage stops the walk: what was read so far counts
    _, env, _ = call(mw, HTTP_X_FORWARDED_FOR="garbage, 10.0.0.5")
    assert env["REMOTE_ADDR"] == "10.0.0.5"


def test_untrusted_peer_changes_nothing() -> None:
    mw = Forwarded(app, ("10.0.0.0/8",))
    status, env, _ = call(
        mw,
        HTTP_X_FORWARDED_FOR="203.0.113.9",
        HTTP_X_FORWARDED_HOST="evil.example",
        HTTP_X_FORWARDED_PROTO="gopher",
    )
    assert status == "200 OK"
    assert (env["REMOTE_ADDR"], env["HTTP_HOST"], env["wsgi.url_scheme"]) == (
        "127.0.0.1",
        "backend:8080",
        "http",
    )


def test_host_port_proto_and_prefix() -> None:
    mw = Forwarded(app, ("*",))
    _, env, _ = call(
        mw,
        HTTP_X_FORWARDED_HOST="a.example, proxy.example",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_PORT="8443",
        HTTP_X_FORWARDED_PREFIX="/pypi/",
    )
    assert env["HTTP_HOST"] == "proxy.example:8443"
    assert env["SERVER_NAME"] == "proxy.example"
    assert env["wsgi.url_scheme"] == "https"
    assert env["SCRIPT_NAME"] == "/pypi"
    # the default port of the scheme is left out; a port in the host wins
    _, env, _ = call(mw, HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_PORT="443")
    assert env["HTTP_HOST"] == "backend"
    _, env, _ = call(mw, HTTP_X_FORWARDED_HOST="h.example:9000", HTTP_X_FORWARDED_PORT="443")
    assert env["HTTP_HOST"] == "h.example:9000"
    _, env, _ = call(mw, HTTP_X_FORWARDED_HOST="[2001:db8::1]", HTTP_X_FORWARDED_PORT="8080")
    assert env["HTTP_HOST"] == "[2001:db8::1]:8080"


def test_base_path() -> None:
    mw = Forwarded(app, (), "/base")
    status, env, body = call(mw, PATH_INFO="/base/simple/")
    assert (status, env["SCRIPT_NAME"], env["PATH_INFO"], body) == (
        "200 OK",
        "/base",
        "/simple/",
        b"app",
    )
    status, _, body = call(mw, PATH_INFO="/simple/")
    assert status == "404 Not Found"
    assert b"served under /base/" in body
    status, _, _ = call(mw, PATH_INFO="/basement/")
    assert status == "404 Not Found"
    status, _, _ = call(mw, PATH_INFO="/base", QUERY_STRING="x=1")
    assert status == "301 Moved Permanently"


@pytest.mark.parametrize("port", ["\u00b2", "99999", "0", "1" * 5000, "-1", "8080a"])
def test_a_bad_port_from_a_trusted_proxy_is_400(port: str) -> None:
    status, _, body = call(Forwarded(app, ("*",)), HTTP_X_FORWARDED_PORT=port)
    assert status == "400 Bad Request"
    assert b"X-Forwarded-Port is not a port number" in body


# --- percent-encoded prefixes: matched decoded, rendered once encoded --------------------


def test_an_encoded_base_path_matches_the_decoded_path() -> None:
    mw = Forwarded(app, (), parse_base_path("/my%20index/"))
    # WSGI gives PATH_INFO decoded: the request was GET /my%20index/simple/
    status, env, body = call(mw, PATH_INFO="/my index/simple/")
    assert (status, env["SCRIPT_NAME"], env["PATH_INFO"], body) == (
        "200 OK",
        "/my index",
        "/simple/",
        b"app",
    )
    assert base_url(env) == "http://backend:8080/my%20index/"
    # GET /my%2520index/simple/ decodes to /my%20index/simple/: another path.
    status, _, body = call(mw, PATH_INFO="/my%20index/simple/")
    assert status == "404 Not Found"
    assert b"served under /my%20index/" in body


def test_an_encoded_base_path_without_its_slash_redirects_once_encoded() -> None:
    mw = Forwarded(app, (), parse_base_path("/a/my%20index"))
    env: dict[str, Any] = {"PATH_INFO": "/a/my index", "SCRIPT_NAME": "", "REMOTE_ADDR": "::1"}
    seen: dict[str, Any] = {}
    mw(env, lambda status, headers: seen.update(status=status, headers=dict(headers)))
    assert seen["status"] == "301 Moved Permanently"
    assert seen["headers"]["Location"] == "my%20index/"


def test_non_ascii_base_path_is_matched_as_wsgi_bytes() -> None:
    # /caf%C3%A9 arrives in PATH_INFO as the two UTF-8 bytes, one latin-1 char each.
    mw = Forwarded(app, (), parse_base_path("/caf%C3%A9"))
    wsgi = "/caf\u00c3\u00a9/simple/"
    status, env, _ = call(mw, PATH_INFO=wsgi)
    assert status == "200 OK"
    assert base_url(env) == "http://backend:8080/caf%C3%A9/"


def test_an_encoded_forwarded_prefix_is_rendered_once_encoded() -> None:
    mw = Forwarded(app, ("*",))
    _, env, _ = call(mw, HTTP_X_FORWARDED_PREFIX="/my%20index", HTTP_X_FORWARDED_HOST="p.example")
    assert env["SCRIPT_NAME"] == "/my index"
    assert base_url(env) == "http://p.example/my%20index/"
    _, env, _ = call(mw, HTTP_X_FORWARDED_HOST="p.example/a%2Bb")  # pypiserver's recipe
    assert base_url(env) == "http://p.example/a+b/"


@pytest.mark.parametrize("text", ["/a%2Fb", "/a%2fb", "/%2E%2E/x", "/a/%2e"])
def test_encoded_slashes_and_dots_are_refused_in_a_prefix(text: str) -> None:
    with pytest.raises(ValueError, match=r"path prefix"):
        parse_base_path(text)

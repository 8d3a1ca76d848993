"""Any bytes in an Authorization header, on every route family, through the whole WSGI
stack in-process (the same stack ``server.build`` gives waitress): a 401/403 where
credentials are needed, the page where they are not, never a 5xx."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
from helpers import add_user, wsgi
from helpers.app import build_app
from helpers.dists import make_wheel
from helpers.forms import encode_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WHEEL = "foo_bar-1.0-py3-none-any.whl"
RPC_BODY = (
    b"<?xml version='1.0'?><methodCall><methodName>list_packages</methodName>"
    b"<params></params></methodCall>"
)
FORM_BODY, FORM_TYPE = encode_form(
    [(":action", "file_upload"), ("name", "foo-bar"), ("version", "2.0")],
    ("foo_bar-2.0.tar.gz", b"not really a tarball"),
)

# (method, path, content type, body, the answers allowed)
PROTECTED = {401, 403}
ROUTES: dict[str, tuple[str, str, str, bytes, set[int]]] = {
    "welcome": ("GET", "/", "", b"", {200}),
    "health": ("GET", "/health", "", b"", {200}),
    "simple-index": ("GET", "/simple/", "", b"", PROTECTED),
    "project-page": ("GET", "/simple/foo-bar/", "", b"", PROTECTED),
    "unknown-project": ("GET", "/simple/nothing-here/", "", b"", PROTECTED),
    "packages-list": ("GET", "/packages/", "", b"", PROTECTED),
    "file": ("GET", "/packages/" + WHEEL, "", b"", PROTECTED),
    "metadata": ("GET", "/packages/" + WHEEL + ".metadata", "", b"", PROTECTED),
    "pypi-json": ("GET", "/pypi/foo-bar/json", "", b"", PROTECTED),
    "pypi-version-json": ("GET", "/pypi/foo-bar/1.0/json", "", b"", PROTECTED),
    "xmlrpc": ("POST", "/RPC2", "text/xml", RPC_BODY, PROTECTED),
    "upload": ("POST", "/", FORM_TYPE, FORM_BODY, PROTECTED),
    "legacy-upload": ("POST", "/legacy/", FORM_TYPE, FORM_BODY, PROTECTED),
}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("authorization")
    packages = root / "packages"
    packages.mkdir()
    make_wheel(packages, "foo-bar", "1.0")
    htpasswd = root / "htpasswd"
    # SHA1 entries: the property runs hundreds of verifications.
    add_user(htpasswd, "alice", "alice-pw", "-s")
    built = build_app(
        packages,
        password_file=htpasswd,
        authenticate=frozenset({"list", "download", "update"}),
        verbose=1,  # the access log middleware too
    )
    yield built.wsgi
    built.close()


def call(app: Any, route: str, authorization: str) -> tuple[int, dict[str, str], bytes]:
    method, path, content_type, body, _ = ROUTES[route]
    status, headers, payload = wsgi.call(
        app,
        path,
        method=method,
        body=body,
        content_type=content_type,
        scheme="http",
        host="127.0.0.1:8080",
        port="8080",
        remote_addr="127.0.0.1",
        authorization=authorization,
    )
    return int(status.split(" ", 1)[0]), headers, payload


def basic(raw: bytes) -> bytes:
    return b"Basic " + base64.b64encode(raw)


# Header values as waitress hands them over: the bytes, decoded as latin-1.
HEADERS = st.one_of(
    st.binary(max_size=300),
    st.binary(max_size=300).map(lambda b: b"Basic " + b),
    st.binary(max_size=300).map(basic),
    st.tuples(st.binary(max_size=60), st.binary(max_size=60)).map(
        lambda up: basic(up[0] + b":" + up[1])
    ),
    st.sampled_from([b"", b"Basic", b"Basic ", b"Basic \xe9\xe9", b"Bearer x", b"basic\x00"]),
).map(lambda raw: raw.decode("latin-1"))


@pytest.mark.parametrize("route", list(ROUTES))
@settings(
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(header=HEADERS)
def test_any_authorization_bytes_are_refused_never_a_5xx(app: Any, route: str, header: str) -> None:
    status, headers, body = call(app, route, header)
    assert status in ROUTES[route][4], (route, header, status, body[:300])
    if status == 401:
        assert headers.get("www-authenticate") == 'Basic realm="pypi"'


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize(
    "header",
    ["Basic \xe9\xe9", "Basic \x00", "Basic YWxpY2U6\xff", "Basic " + "A" * 50_000 + "\xff"],
)
def test_non_ascii_after_basic_is_refused(app: Any, route: str, header: str) -> None:
    status, _, _ = call(app, route, header)
    assert status in ROUTES[route][4], (route, header, status)


@pytest.mark.parametrize("route", list(ROUTES))
def test_the_right_credentials_still_pass(app: Any, route: str) -> None:
    status, _, body = call(app, route, basic(b"alice:alice-pw").decode())
    assert status not in PROTECTED, (route, status, body[:300])
    assert status < 500, (route, status, body[:300])

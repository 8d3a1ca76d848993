"""-P/-a for reading, in-process: real htpasswd files (every scheme the htpasswd tool
writes), 401 with the realm, 403, what is never protected, a user added while running. pip
with credentials and start-up refusals: tests/integration/test_auth_read.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import add_user, wait_for
from helpers.dists import make_wheel
from helpers.htpasswd import SCHEMES, basic_auth, users_of_every_scheme

# htpasswd flag per scheme: bcrypt, apr1 (MD5, the default), SHA1, crypt, plain text.


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": basic_auth(user, password)}


@pytest.fixture
def secured(tmp_path: Path, serve_app):
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "secret-lib", "1.0")
    htpasswd = tmp_path / "htpasswd"
    users_of_every_scheme(htpasswd)
    app = serve_app("-P", htpasswd, "-a", "download,list", packages)
    return app, htpasswd


def test_every_htpasswd_scheme_is_accepted(secured) -> None:
    app, _ = secured
    for scheme in SCHEMES:
        ok = app.http("/simple/", headers=basic(f"user-{scheme}", f"pw-{scheme}"))
        assert ok.status == 200, scheme
        assert b"secret-lib" in ok.body
        wrong = app.http("/simple/", headers=basic(f"user-{scheme}", "nope"))
        assert wrong.status == 403, scheme


def test_missing_credentials_get_401_with_realm(secured) -> None:
    app, _ = secured
    for path in (
        "simple/",
        "simple/secret-lib/",
        "packages/",
        "packages/secret_lib-1.0-py3-none-any.whl",
    ):
        resp = app.http("/" + path)
        assert resp.status == 401, path
        assert resp.header("WWW-Authenticate") == 'Basic realm="pypi"'


def test_unknown_user_and_overlong_bcrypt_password_are_403(secured) -> None:
    app, _ = secured
    assert app.http("/simple/", headers=basic("nobody", "x")).status == 403
    long = app.http("/simple/", headers=basic("user-bcrypt", "x" * 100))
    assert long.status == 403
    assert app.http("/health").status == 200  # and the server still serves


def test_unknown_project_answers_only_after_auth(secured) -> None:
    app, _ = secured
    assert app.http("/simple/no-such-project/").status == 401
    resp = app.http("/simple/no-such-project/", headers=basic("user-apr1", "pw-apr1"))
    assert resp.status == 303


def test_welcome_and_health_are_never_protected(secured) -> None:
    app, _ = secured
    assert app.http("/").status == 200
    assert app.http("/health").text == "ok\n"


def test_user_added_while_running_can_log_in(secured) -> None:
    app, htpasswd = secured
    assert app.http("/simple/", headers=basic("newcomer", "fresh")).status == 403
    add_user(htpasswd, "newcomer", "fresh")
    assert wait_for(
        lambda: app.http("/simple/", headers=basic("newcomer", "fresh")).status == 200,
        timeout=5,
    )


def test_no_password_file_refuses_protected_reads_with_advice(tmp_path: Path, serve_app) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    app = serve_app("-a", "list", packages)
    resp = app.http("/simple/")
    assert resp.status == 403
    assert "-P" in resp.text
    assert app.http("/packages/").status == 403

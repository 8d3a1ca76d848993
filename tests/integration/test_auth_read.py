"""-P/-a for reading: real htpasswd files, real pip with credentials."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Clients, add_user, clean_environ, http, wait_for
from helpers.dists import make_wheel

# htpasswd flag per scheme: bcrypt, apr1 (MD5, the default), SHA1, crypt, plain text.
SCHEMES = {"bcrypt": "-B", "apr1": "-m", "sha1": "-s", "crypt": "-d", "plain": "-p"}


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.fixture
def secured(tmp_path: Path, serve):
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "secret-lib", "1.0")
    htpasswd = tmp_path / "htpasswd"
    for scheme, flag in SCHEMES.items():
        add_user(htpasswd, f"user-{scheme}", f"pw-{scheme}", flag)
    server = serve("-P", htpasswd, "-a", "download,list", packages)
    return server, htpasswd


def test_every_htpasswd_scheme_is_accepted(secured) -> None:
    server, _ = secured
    for scheme in SCHEMES:
        ok = http(server.url + "simple/", headers=basic(f"user-{scheme}", f"pw-{scheme}"))
        assert ok.status == 200, scheme
        assert b"secret-lib" in ok.body
        wrong = http(server.url + "simple/", headers=basic(f"user-{scheme}", "nope"))
        assert wrong.status == 403, scheme


def test_missing_credentials_get_401_with_realm(secured) -> None:
    server, _ = secured
    for path in (
        "simple/",
        "simple/secret-lib/",
        "packages/",
        "packages/secret_lib-1.0-py3-none-any.whl",
    ):
        resp = http(server.url + path)
        assert resp.status == 401, path
        assert resp.header("WWW-Authenticate") == 'Basic realm="pypi"'


def test_unknown_user_and_overlong_bcrypt_password_are_403(secured) -> None:
    server, _ = secured
    assert http(server.url + "simple/", headers=basic("nobody", "x")).status == 403
    long = http(server.url + "simple/", headers=basic("user-bcrypt", "x" * 100))
    assert long.status == 403
    assert http(server.url + "health").status == 200  # and the server still serves


def test_unknown_project_answers_only_after_auth(secured) -> None:
    server, _ = secured
    assert http(server.url + "simple/no-such-project/").status == 401
    resp = http(server.url + "simple/no-such-project/", headers=basic("user-apr1", "pw-apr1"))
    assert resp.status == 303


def test_welcome_and_health_are_never_protected(secured) -> None:
    server, _ = secured
    assert http(server.url).status == 200
    assert http(server.url + "health").text == "ok\n"


def test_user_added_while_running_can_log_in(secured) -> None:
    server, htpasswd = secured
    assert http(server.url + "simple/", headers=basic("newcomer", "fresh")).status == 403
    add_user(htpasswd, "newcomer", "fresh")
    assert wait_for(
        lambda: http(server.url + "simple/", headers=basic("newcomer", "fresh")).status == 200,
        timeout=5,
    )


def test_pip_installs_with_credentials_in_url_and_from_netrc(secured, clients: Clients) -> None:
    server, _ = secured
    host = server.url.removeprefix("http://").rstrip("/")
    without = clients.pip(
        "install", "--index-url", server.url + "simple/", "secret-lib", check=False
    )
    assert without.returncode != 0

    clients.pip(
        "install", "--index-url", f"http://user-bcrypt:pw-bcrypt@{host}/simple/", "secret-lib"
    )
    assert "secret-lib==1.0" in clients.pip("list", "--format=freeze").stdout

    clients.pip("uninstall", "-y", "secret-lib")
    netrc = Path(clients.env["NETRC"])
    netrc.write_text("machine 127.0.0.1\nlogin user-sha1\npassword pw-sha1\n")
    netrc.chmod(0o600)
    clients.pip("install", "--index-url", server.url + "simple/", "secret-lib")
    assert "secret-lib" in clients.pip("list", "--format=freeze").stdout


def test_no_password_file_refuses_protected_reads_with_advice(tmp_path: Path, serve) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = serve("-a", "list", packages)
    resp = http(server.url + "simple/")
    assert resp.status == 403
    assert "-P" in resp.text
    assert http(server.url + "packages/").status == 403


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "missing"), (b"this line has no colon\n", "malformed")],
)
def test_unusable_password_file_stops_start_up(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    if content is not None:
        htpasswd.write_bytes(content)
    result = subprocess.run(
        [sys.executable, "-m", "packyard", "run", "-p", "0", "-P", str(htpasswd), str(packages)],
        capture_output=True,
        text=True,
        env=clean_environ(),
        timeout=30,
    )
    assert result.returncode == 2, why
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("pypi-server: error:")
    assert str(htpasswd) in lines[0]

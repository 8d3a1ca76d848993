"""-P/-a for reading with a real process: real pip with credentials, and start-up refusing
a password file it cannot use. The answers themselves: tests/component/test_component_auth_read.py."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Clients, clean_environ
from helpers.dists import make_wheel
from helpers.htpasswd import users_of_every_scheme


@pytest.fixture
def secured(tmp_path: Path, serve):
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "secret-lib", "1.0")
    htpasswd = tmp_path / "htpasswd"
    users_of_every_scheme(htpasswd)
    server = serve("-P", htpasswd, "-a", "download,list", packages)
    return server, htpasswd


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

"""Password files written by the real ``htpasswd`` tool."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

# Debian's apache2-utils; scripts/test installs it when missing.
HTPASSWD = shutil.which("htpasswd") or "htpasswd"


def add_user(path: Path, user: str, password: str, flag: str = "-B") -> None:
    """Add a user with the real `htpasswd` tool (flag: -B bcrypt, -m apr1, -s SHA1,
    -d crypt, -p plain); creates the file if needed."""
    create = [] if path.exists() else ["-c"]
    subprocess.run(
        [HTPASSWD, *create, "-b", flag, str(path), user, password],
        check=True,
        capture_output=True,
    )


# htpasswd flag per scheme: bcrypt, apr1 (MD5, the default), SHA1, crypt, plain text.
SCHEMES = {"bcrypt": "-B", "apr1": "-m", "sha1": "-s", "crypt": "-d", "plain": "-p"}


def basic_auth(user: str, password: str) -> str:
    """The value of an HTTP Basic ``Authorization`` header."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def users_of_every_scheme(path: Path) -> None:
    """One user per scheme in ``path``: ``user-<scheme>`` with password ``pw-<scheme>``."""
    for scheme, flag in SCHEMES.items():
        add_user(path, f"user-{scheme}", f"pw-{scheme}", flag)


# The user of the limits tests' index (tests/{component,integration}/test_*limits.py).
LIMITS_USER, LIMITS_PASSWORD = "uploader", "limits-pw"


def limited_index(tmp_path: Path) -> tuple[list[str | Path], Path]:
    """The arguments of an index with small form, header and silence limits, and its
    packages directory; uploads need LIMITS_USER."""
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, LIMITS_USER, LIMITS_PASSWORD)
    args: list[str | Path] = ["-P", htpasswd, "--max-form-fields", "12", "--max-form-size", "4K"]
    args += ["--max-header-size", "2K", "--channel-timeout", "1", packages]
    return args, packages

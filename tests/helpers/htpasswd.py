"""Password files written by the real ``htpasswd`` tool."""

from __future__ import annotations

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

"""Who may do what: htpasswd files (through the passlib API of ``libpass``) and the
permissions LIST, DOWNLOAD and UPDATE of pypiserver's ``-a/--authenticate``."""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from passlib.apache import HtpasswdFile
from passlib.hash import apr_md5_crypt

from packyard.errors import ConfigError

log = logging.getLogger(__name__)


class Action(StrEnum):
    LIST = "list"
    DOWNLOAD = "download"
    UPDATE = "update"


class Authenticator(Protocol):
    def check(self, user: str, password: str) -> bool: ...


class HtpasswdAuthenticator:
    """Users from an Apache htpasswd file: bcrypt, apr1 (MD5), SHA1, crypt and plain.

    The file is re-read when it changes on disk, so a user added with ``htpasswd``
    can log in at once. A file that becomes unreadable or malformed at run time keeps
    the last good user list and logs the problem.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = HtpasswdFile(str(path))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"password file {path} cannot be used: {exc}") from None
        # Verified for unknown users, so that "no such user" costs a hash check too.
        self._dummy = apr_md5_crypt.hash("packyard")
        self._lock = threading.Lock()

    def _reload(self) -> None:
        with self._lock:
            try:
                if self._file.load_if_changed():
                    log.info("password file %s re-read", self.path)
            except (OSError, ValueError) as exc:
                log.error("password file %s could not be re-read: %s", self.path, exc)

    def check(self, user: str, password: str) -> bool:
        self._reload()
        try:
            if self._file.get_hash(user) is None:
                apr_md5_crypt.verify(password, self._dummy)
                return False
            # passlib compares digests in constant time.
            return self._file.check_password(user, password) is True
        except (ValueError, TypeError) as exc:
            # e.g. bcrypt refuses passwords over 72 bytes: a refusal, never a 500.
            log.info("password check for %r refused: %s", user, exc)
            return False


@dataclass(frozen=True)
class Decision:
    allowed: bool
    status: int = 200
    message: str = ""


REALM = 'Basic realm="pypi"'


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None."""
    if not header:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep:
        return None
    return user, password


class Permissions:
    """pypiserver's rule: the actions in ``protected`` need a valid user."""

    def __init__(self, protected: frozenset[str], authenticator: Authenticator | None) -> None:
        self.protected = frozenset(Action(a) for a in protected)
        self.authenticator = authenticator

    def decide(self, action: Action, authorization: str | None) -> Decision:
        if action not in self.protected:
            return Decision(True)
        if self.authenticator is None:
            return Decision(
                False,
                403,
                f"Forbidden: '{action}' is protected and this server has no password "
                "file; start it with -P <htpasswd file> to allow it (or with -P . -a . "
                "for an open server)",
            )
        credentials = parse_basic(authorization)
        if credentials is None or not credentials[0]:
            return Decision(False, 401, f"Unauthorized: '{action}' needs a user and password")
        if not self.authenticator.check(*credentials):
            return Decision(False, 403, "Forbidden: wrong user or password")
        return Decision(True)

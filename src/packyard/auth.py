"""Who may do what: htpasswd files (through the passlib API of ``libpass``) and the
permissions LIST, DOWNLOAD and UPDATE of pypiserver's ``-a/--authenticate``."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import logging
import os
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from passlib.apache import HtpasswdFile, htpasswd_context
from passlib.hash import apr_md5_crypt

from packyard.errors import ConfigError
from packyard.logsafe import shown

log = logging.getLogger(__name__)


class Action(StrEnum):
    LIST = "list"
    DOWNLOAD = "download"
    UPDATE = "update"


class Authenticator(Protocol):
    def check(self, user: str, password: str) -> bool: ...


# Verified credentials are remembered this long (seconds) and this many at most: see
# docs/authentication.md, "Verified credentials".
VERIFIED_LIFETIME = 60.0
VERIFIED_MAX_ENTRIES = 1024


class VerifiedCache:
    """Credentials that verified recently, so that a client sending them on every request
    (pip does) pays for a slow hash once a minute, not once a request.

    Entries are keyed by an HMAC-SHA256 of user and password under a random key made for
    this cache (never the password, nor a plain hash of it an attacker reading memory
    could try guesses against); only successful verifications are added; each lives
    ``lifetime`` seconds from its verification, and the oldest go first beyond
    ``max_entries`` (about 230 bytes each).
    """

    def __init__(
        self,
        lifetime: float = VERIFIED_LIFETIME,
        max_entries: int = VERIFIED_MAX_ENTRIES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.lifetime = lifetime
        self.max_entries = max_entries
        self._clock = clock
        self._key = secrets.token_bytes(32)
        # digest -> expiry; insertion order is expiry order (one lifetime for all).
        self._entries: OrderedDict[bytes, float] = OrderedDict()
        # digest -> (lock, [callers]) for the credentials being verified right now.
        self._flights: dict[bytes, tuple[threading.Lock, list[int]]] = {}
        self._lock = threading.Lock()

    def _digest(self, user: str, password: str) -> bytes:
        name = user.encode("utf-8", "surrogatepass")
        secret = password.encode("utf-8", "surrogatepass")
        message = len(name).to_bytes(8, "big") + name + secret
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def __len__(self) -> int:
        return len(self._entries)

    def hit(self, user: str, password: str) -> bool:
        digest = self._digest(user, password)
        with self._lock:
            expiry = self._entries.get(digest)
            if expiry is None:
                return False
            if expiry > self._clock():
                return True
            del self._entries[digest]
            return False

    @contextlib.contextmanager
    def one_at_a_time(self, user: str, password: str) -> Iterator[None]:
        """Holds other callers with the same credentials until this one is done: when an
        entry expires under load, one verification runs, not one per waiting request."""
        digest = self._digest(user, password)
        with self._lock:
            flight = self._flights.setdefault(digest, (threading.Lock(), [0]))
            flight[1][0] += 1
        try:
            with flight[0]:
                yield
        finally:
            with self._lock:
                flight[1][0] -= 1
                if not flight[1][0]:
                    del self._flights[digest]

    def add(self, user: str, password: str) -> None:
        digest = self._digest(user, password)
        now = self._clock()
        with self._lock:
            self._entries.pop(digest, None)
            self._entries[digest] = now + self.lifetime
            while self._entries and (
                len(self._entries) > self.max_entries or next(iter(self._entries.values())) <= now
            ):
                self._entries.popitem(last=False)


# Rough cost of one verification per scheme, in microseconds (measured with libpass's
# backends); only the order matters: it picks the costliest entry of a file.
_PER_ROUND = {"sha256_crypt": 1.2, "sha512_crypt": 1.5}
_FIXED = {"apr_md5_crypt": 1100.0, "des_crypt": 700.0}


def _scheme_and_rounds(hash_: str | bytes) -> tuple[type[Any], int | None]:
    handler: type[Any] = htpasswd_context.identify(hash_, resolve=True)
    rounds = None
    if "rounds" in getattr(handler, "setting_kwds", ()):
        try:
            rounds = int(handler.from_string(hash_).rounds)
        except (ValueError, TypeError):
            rounds = None  # malformed: it never verifies, and costs little
    return handler, rounds


def estimated_cost(hash_: str | bytes) -> float:
    """How long verifying against ``hash_`` takes, roughly (microseconds)."""
    handler, rounds = _scheme_and_rounds(hash_)
    if rounds is None:
        return _FIXED.get(handler.name, 10.0)
    if handler.name == "bcrypt":
        return 90.0 * 2.0 ** min(rounds, 31)
    return _PER_ROUND.get(handler.name, 1.5) * rounds


def _verify(password: str, hash_: str | bytes) -> bool:
    """One real hash verification (passlib compares digests in constant time)."""
    return htpasswd_context.verify(password, hash_) is True


@dataclass(frozen=True)
class _Users:
    """One reading of the password file and what was made from it."""

    identity: tuple[int, ...] | None
    file: HtpasswdFile
    dummy: str  # a hash of a random password with the costliest entry's scheme and cost
    top_cost: float
    verified: VerifiedCache

    def verify(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s. Every call costs at least one
        verification at the costliest scheme and cost in the file, so its time tells
        neither an unknown user from a known one nor one known user from another."""
        try:
            stored = self.file.get_hash(user)
        except (ValueError, UnicodeError):
            stored = None  # a name no htpasswd file can hold: an unknown user
        ok = paid = False
        if stored is not None:
            try:
                ok = _verify(password, stored)
                paid = estimated_cost(stored) >= self.top_cost
            except (ValueError, TypeError) as exc:
                # e.g. bcrypt refuses passwords over 72 bytes: a refusal, never a 500.
                log.info("password check for %s refused: %s", shown(user), shown(exc))
        if not paid:
            # The result is thrown away; the stand-in is a password every scheme takes
            # (no NUL, 64 bytes), so this costs the full price and never raises.
            stand_in = hashlib.sha256(password.encode("utf-8", "surrogatepass")).hexdigest()
            with contextlib.suppress(ValueError, TypeError):
                _verify(stand_in, self.dummy)
        return ok


def _identity(st: os.stat_result) -> tuple[int, ...]:
    """What tells a changed file: a new inode (a file renamed over it), size, mtime, or
    ctime (content written in place and the mtime set back, as ``cp -p`` does)."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HtpasswdAuthenticator:
    """Users from an Apache htpasswd file: bcrypt, apr1 (MD5), SHA1, crypt and plain.

    The file is re-read when its identity (inode, size, mtime, ctime) changes, so a
    user added with ``htpasswd`` can log in at once and a removed one is refused at
    once, the verified-credentials cache going with the old reading. A file that
    becomes unreadable or malformed at run time keeps the last good user list and logs
    the problem (once per change).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._dummies: dict[tuple[str, int | None], str] = {}
        self._lock = threading.Lock()
        self._failed: tuple[int, ...] | str | None = None
        try:
            self._users = self._load()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"password file {path} cannot be used: {exc}") from None

    def _load(self) -> _Users:
        with open(self.path, "rb") as fh:
            identity = _identity(os.fstat(fh.fileno()))
            data = fh.read()
        file = HtpasswdFile.from_string(data)
        hashes = [file.get_hash(user) for user in file.users()]
        top = max(hashes, key=estimated_cost, default=None)
        return _Users(
            identity,
            file,
            self._dummy_like(top),
            estimated_cost(top) if top is not None else 0.0,
            VerifiedCache(),
        )

    def _dummy_like(self, hash_: str | bytes | None) -> str:
        """A hash of a random password with the scheme and cost of ``hash_`` (apr1 for an
        empty file), made once per scheme and cost."""
        handler, rounds = _scheme_and_rounds(hash_) if hash_ is not None else (apr_md5_crypt, None)
        key = (handler.name, rounds)
        if key not in self._dummies:
            maker = handler.using(rounds=rounds) if rounds is not None else handler
            self._dummies[key] = str(maker.hash(secrets.token_urlsafe(18)))
        return self._dummies[key]

    def _current(self) -> _Users:
        """The users now: the file is read again when it changed since the last reading."""
        users = self._users
        try:
            identity: tuple[int, ...] | str = _identity(os.stat(self.path))
        except OSError as exc:
            identity = exc.strerror or str(exc)
        if identity == users.identity or identity == self._failed:
            return users
        with self._lock:
            if self._users is not users or identity == self._failed:
                return self._users  # another thread has just read it, or tried to
            try:
                self._users = self._load()
                self._failed = None
                log.info("password file %s re-read", self.path)
            except (OSError, ValueError) as exc:
                self._failed = identity
                log.error("password file %s could not be re-read: %s", self.path, shown(exc))
            return self._users

    def check(self, user: str, password: str) -> bool:
        users = self._current()
        if users.verified.hit(user, password):
            return True
        with users.verified.one_at_a_time(user, password):
            if users.verified.hit(user, password):
                return True  # verified by the caller we waited for
            if not users.verify(user, password):
                return False
            users.verified.add(user, password)
            return True


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
    except ValueError:
        # binascii.Error (bad base64), UnicodeDecodeError, and the ValueError
        # b64decode raises for a str with non-ASCII characters (waitress hands header
        # values over decoded as latin-1, so any byte can arrive here).
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

"""The htpasswd authenticator: what an unknown user costs, the verified-credentials cache,
noticing a changed file, Basic parsing of any header, and the log-escaping helper."""

from __future__ import annotations

import base64
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from helpers import HTPASSWD, add_user
from hypothesis import given, settings
from hypothesis import strategies as st
from passlib.apache import htpasswd_context

from packyard import auth
from packyard.auth import HtpasswdAuthenticator, VerifiedCache, parse_basic
from packyard.logsafe import shown

# --- what an unknown user costs (item 8) ------------------------------------------------


def scheme_and_rounds(hash_: str | bytes) -> tuple[str, int | None]:
    handler = htpasswd_context.identify(hash_, resolve=True)
    rounds = handler.from_string(hash_).rounds if "rounds" in handler.setting_kwds else None
    return handler.name, rounds


@pytest.fixture
def verified(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int | None, bool]]:
    """Every real hash verification the authenticator makes: (scheme, rounds, result)."""
    calls: list[tuple[str, int | None, bool]] = []
    real = auth._verify

    def spy(password: str, hash_: str | bytes) -> bool:
        result = real(password, hash_)
        calls.append((*scheme_and_rounds(hash_), result))
        return result

    monkeypatch.setattr(auth, "_verify", spy)
    return calls


def add_bcrypt(path: Path, user: str, password: str, cost: int) -> None:
    subprocess.run(
        [HTPASSWD, "-b", "-B", "-C", str(cost), str(path), user, password],
        check=True,
        capture_output=True,
    )


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """Users of three schemes; the costliest entry is bcrypt at cost 5."""
    path = tmp_path / "htpasswd"
    add_user(path, "apr", "apr-pw", "-m")
    add_bcrypt(path, "cheap-bcrypt", "b4-pw", cost=4)
    add_user(path, "sha", "sha-pw", "-s")
    add_bcrypt(path, "dear-bcrypt", "b5-pw", cost=5)
    return path


def test_an_unknown_user_is_verified_at_the_costliest_scheme_and_cost(
    mixed: Path, verified: list[tuple[str, int | None, bool]]
) -> None:
    authenticator = HtpasswdAuthenticator(mixed)
    for user in ("nobody", "dear-bcryp", "a\nb", "x" * 300, "with:colon"):
        verified.clear()
        assert authenticator.check(user, "b5-pw") is False
        assert verified == [("bcrypt", 5, False)], user


def test_a_known_user_of_a_cheaper_scheme_also_pays_the_costliest(
    mixed: Path, verified: list[tuple[str, int | None, bool]]
) -> None:
    authenticator = HtpasswdAuthenticator(mixed)
    assert authenticator.check("apr", "wrong") is False
    assert verified == [("apr_md5_crypt", None, False), ("bcrypt", 5, False)]
    verified.clear()
    assert authenticator.check("cheap-bcrypt", "wrong") is False
    assert verified == [("bcrypt", 4, False), ("bcrypt", 5, False)]
    verified.clear()
    assert authenticator.check("dear-bcrypt", "wrong") is False
    assert verified == [("bcrypt", 5, False)]
    verified.clear()
    assert authenticator.check("sha", "sha-pw") is True
    assert verified == [("ldap_sha1", None, True), ("bcrypt", 5, False)]


def test_a_password_bcrypt_refuses_still_costs_a_full_verification(
    mixed: Path, verified: list[tuple[str, int | None, bool]]
) -> None:
    authenticator = HtpasswdAuthenticator(mixed)
    for user in ("dear-bcrypt", "nobody"):
        verified.clear()
        assert authenticator.check(user, "x" * 100) is False  # over bcrypt's 72 bytes
        assert verified[-1] == ("bcrypt", 5, False), user
        assert authenticator.check(user, "nul\x00inside") is False


# --- the verified-credentials cache (item 9) ----------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_hit_and_expiry() -> None:
    clock = Clock()
    cache = VerifiedCache(lifetime=60, max_entries=10, clock=clock)
    assert not cache.hit("alice", "pw")
    cache.add("alice", "pw")
    assert cache.hit("alice", "pw")
    assert not cache.hit("alice", "PW")
    assert not cache.hit("alic", "epw")  # user and password are not just concatenated
    assert not cache.hit("alice:", "pw")
    clock.now += 59.9
    assert cache.hit("alice", "pw")
    clock.now += 0.2
    assert not cache.hit("alice", "pw")
    assert len(cache) == 0  # an expired entry is dropped when seen


def test_cache_is_bounded_and_drops_the_oldest_first() -> None:
    clock = Clock()
    cache = VerifiedCache(lifetime=60, max_entries=3, clock=clock)
    for n in range(10):
        clock.now += 1
        cache.add(f"user{n}", "pw")
        assert len(cache) <= 3
    assert [cache.hit(f"user{n}", "pw") for n in range(10)] == [False] * 7 + [True] * 3


def test_cache_keeps_no_password_only_keyed_digests() -> None:
    cache = VerifiedCache()
    cache.add("alice", "s3cret-password")
    other = VerifiedCache()
    other.add("alice", "s3cret-password")
    keys = list(cache._entries)
    assert all(isinstance(k, bytes) and len(k) == 32 for k in keys)
    assert all(b"s3cret" not in k for k in keys)
    assert keys != list(other._entries)  # a random key per cache: the digests differ


@pytest.fixture
def users_file(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    add_user(path, "alice", "alice-pw", "-s")
    add_user(path, "bob", "bob-pw", "-s")
    return path


def test_only_successful_verifications_are_cached(
    users_file: Path, verified: list[tuple[str, int | None, bool]]
) -> None:
    authenticator = HtpasswdAuthenticator(users_file)
    for _ in range(3):
        assert authenticator.check("alice", "wrong") is False
    assert len(verified) == 3  # every wrong password is verified again
    assert len(authenticator._users.verified) == 0
    verified.clear()
    for _ in range(5):
        assert authenticator.check("alice", "alice-pw") is True
    assert len(verified) == 1  # then from the cache
    assert authenticator.check("alice", "alice-pw ") is False


def test_concurrent_requests_with_the_same_credentials_verify_once(
    users_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    authenticator = HtpasswdAuthenticator(users_file)
    calls: list[str] = []
    real = auth._verify

    def slow(password: str, hash_: str | bytes) -> bool:
        calls.append(password)
        time.sleep(0.3)  # a bcrypt verification on a busy machine
        return real(password, hash_)

    monkeypatch.setattr(auth, "_verify", slow)
    results: list[bool] = []
    threads = [
        threading.Thread(target=lambda: results.append(authenticator.check("alice", "alice-pw")))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 4
    assert calls == ["alice-pw"]  # one verification; the others waited for its result
    assert not authenticator._users.verified._flights


def same_stat_times(path: Path, content: bytes) -> None:
    """Write ``content`` in place and set the old atime and mtime back (``cp -p``)."""
    before = os.stat(path)
    path.write_bytes(content)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


def test_revoked_user_is_refused_right_after_the_file_changes(users_file: Path) -> None:
    authenticator = HtpasswdAuthenticator(users_file)
    assert authenticator.check("bob", "bob-pw") is True  # now cached
    lines = users_file.read_bytes().splitlines(keepends=True)
    kept = b"".join(line for line in lines if not line.startswith(b"bob:"))
    # The same size (a comment pads it), the same inode, the same mtime: only the
    # content and the ctime differ.
    padded = kept + b"#" * (len(b"".join(lines)) - len(kept) - 1) + b"\n"
    assert len(padded) == users_file.stat().st_size
    same_stat_times(users_file, padded)
    assert authenticator.check("bob", "bob-pw") is False
    assert authenticator.check("alice", "alice-pw") is True


def test_a_file_renamed_over_it_with_the_old_mtime_is_noticed(
    users_file: Path, tmp_path: Path
) -> None:
    authenticator = HtpasswdAuthenticator(users_file)
    assert authenticator.check("bob", "bob-pw") is True
    old = users_file.stat()
    replacement = tmp_path / "new"
    add_user(replacement, "alice", "alice-pw", "-s")
    os.utime(replacement, ns=(old.st_atime_ns, old.st_mtime_ns))
    os.replace(replacement, users_file)  # rsync -t, cp -p to a temporary name and mv
    assert users_file.stat().st_mtime_ns == old.st_mtime_ns
    assert authenticator.check("bob", "bob-pw") is False
    assert authenticator.check("alice", "alice-pw") is True


def test_the_cache_goes_with_the_file_it_was_made_from(users_file: Path) -> None:
    authenticator = HtpasswdAuthenticator(users_file)
    assert authenticator.check("alice", "alice-pw") is True
    first = authenticator._users
    assert len(first.verified) == 1
    add_user(users_file, "carol", "carol-pw", "-s")
    assert authenticator.check("carol", "carol-pw") is True
    assert authenticator._users is not first
    assert len(authenticator._users.verified) == 1  # carol only


def test_an_unreadable_file_keeps_the_last_users_and_logs_once(
    users_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    authenticator = HtpasswdAuthenticator(users_file)
    users_file.write_bytes(b"broken line without a colon\n")
    with caplog.at_level("ERROR", logger="packyard.auth"):
        for _ in range(3):
            assert authenticator.check("alice", "alice-pw") is True
    assert len([r for r in caplog.records if "could not be re-read" in r.message]) == 1


# --- Basic parsing of any header (item 11) ------------------------------------------------


@settings(max_examples=300, derandomize=True)
@given(st.binary(max_size=200))
def test_parse_basic_takes_any_header_bytes(raw: bytes) -> None:
    # waitress hands header values over as latin-1 text.
    for header in (raw.decode("latin-1"), "Basic " + raw.decode("latin-1")):
        got = parse_basic(header)
        assert got is None or (isinstance(got[0], str) and isinstance(got[1], str))


@pytest.mark.parametrize(
    "header",
    ["Basic \xe9\xe9", "Basic \x00", "Basic YWxpY2U6\xff", "Basic " + "\u0100", "basic \x80:x"],
)
def test_parse_basic_non_ascii_is_no_credentials(header: str) -> None:
    assert parse_basic(header) is None


def test_parse_basic_still_reads_good_credentials() -> None:
    token = base64.b64encode("al ice:pa:ss é".encode()).decode()
    assert parse_basic(f"Basic {token}") == ("al ice", "pa:ss é")
    assert parse_basic(f"  basic   {token}  ") == ("al ice", "pa:ss é")


# --- escaping for the log (item 13) -------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("alice", "alice"),
        ("Zoë 名前", "Zoë 名前"),
        ("a\nINFO forged", "a\\nINFO forged"),
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("cr\rlf", "cr\\rlf"),
        ("tab\there", "tab\\there"),
        ("nul\x00del\x7f", "nul\\x00del\\x7f"),
        ("c1\x85", "c1\\x85"),
        ("ls\u2028ps\u2029bidi\u202e", "ls\\u2028ps\\u2029bidi\\u202e"),
        ("back\\nslash", "back\\\\nslash"),
        ("\udcff", "\\udcff"),
    ],
)
def test_shown_escapes_what_could_forge_a_line(raw: str, escaped: str) -> None:
    assert shown(raw) == escaped


@settings(max_examples=300, derandomize=True)
@given(st.text())
def test_shown_is_one_printable_line(text: str) -> None:
    out = shown(text)
    assert out.isprintable()
    assert len(out.splitlines()) <= 1

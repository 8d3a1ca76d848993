"""Permissions.decide over every -a setting and every kind of credentials."""

from __future__ import annotations

import base64
import shutil
import subprocess
from pathlib import Path

import pytest

from packyard.auth import Action, HtpasswdAuthenticator, Permissions

HTPASSWD = shutil.which("htpasswd") or "htpasswd"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.fixture(scope="module")
def authenticator(tmp_path_factory: pytest.TempPathFactory) -> HtpasswdAuthenticator:
    path = tmp_path_factory.mktemp("htpasswd") / "htpasswd"
    subprocess.run(
        [HTPASSWD, "-c", "-b", "-B", str(path), "alice", "s3cret"],
        check=True,
        capture_output=True,
    )
    return HtpasswdAuthenticator(Path(path))


CREDENTIALS = {
    "none": None,
    "good": basic("alice", "s3cret"),
    "wrong password": basic("alice", "nope"),
    "unknown user": basic("mallory", "s3cret"),
    "empty user": basic("", "s3cret"),
    "not basic": "Bearer abc",
    "garbage": "Basic !!!not-base64",
}
SETTINGS = {
    "open": frozenset(),
    "update (default)": frozenset({"update"}),
    "download, update": frozenset({"download", "update"}),
    "everything": frozenset({"list", "download", "update"}),
}


def expected(protected: frozenset[str], action: Action, credentials: str) -> tuple[bool, int]:
    if action.value not in protected:
        return True, 200
    if credentials == "good":
        return True, 200
    if credentials in ("none", "empty user", "not basic", "garbage"):
        return False, 401
    return False, 403


@pytest.mark.parametrize("setting", list(SETTINGS))
@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("credentials", list(CREDENTIALS))
def test_decide_table(
    authenticator: HtpasswdAuthenticator, setting: str, action: Action, credentials: str
) -> None:
    protected = SETTINGS[setting]
    decision = Permissions(protected, authenticator).decide(action, CREDENTIALS[credentials])
    assert (decision.allowed, decision.status) == expected(protected, action, credentials)
    if decision.status == 401:
        assert decision.message == f"Unauthorized: '{action}' needs a user and password"
    if decision.status == 403:
        assert decision.message == "Forbidden: wrong user or password"


@pytest.mark.parametrize("action", list(Action))
def test_protected_without_a_password_file_is_forbidden_whatever_is_sent(action: Action) -> None:
    permissions = Permissions(frozenset({action.value}), None)
    for credentials in CREDENTIALS.values():
        decision = permissions.decide(action, credentials)
        assert (decision.allowed, decision.status) == (False, 403)
        assert "-P <htpasswd file>" in decision.message
    other = [a for a in Action if a is not action]
    for a in other:
        assert permissions.decide(a, None).allowed

"""A packages directory that disappears (unmounted, moved away, replaced) while the
server runs: an error in the log, 503 answers meanwhile, nothing forgotten, and the
index back (and watched again) when the directory is."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import Server, http, wait_for
from helpers.dists import make_wheel

from packyard.storage import cache as cache_module


@pytest.fixture
def served(tmp_path: Path, serve) -> tuple[Server, Path]:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "steady", "1.0")
    server = serve("-P", ".", "-a", ".", "--disable-fallback", packages)
    return server, packages


def answers(server: Server, path: str) -> int:
    return http(server.url + path).status


def upload_time(server: Server) -> str:
    doc = json.loads(http(server.url + "pypi/steady/json").body)
    return str(doc["urls"][0]["upload_time_iso_8601"])


def test_directory_moved_away_and_back(served: tuple[Server, Path], tmp_path: Path) -> None:
    server, packages = served
    first_seen = upload_time(server)
    away = tmp_path / "away"
    os.rename(packages, away)
    assert wait_for(lambda: answers(server, "simple/") == 503)
    for path in ("simple/steady/", "packages/steady-1.0-py3-none-any.whl", "health", ""):
        resp = http(server.url + path)
        assert resp.status == 503, path
        assert "packages directory of this index cannot be read" in resp.text
        assert resp.header("Retry-After") == "30"
    log = server.log_text()
    assert f"packages directory {packages} is unavailable: it no longer exists" in log
    assert log.count("is unavailable") == 1  # once, not per request

    os.rename(away, packages)
    assert wait_for(lambda: answers(server, "health") == 200)
    assert "steady-1.0-py3-none-any.whl" in http(server.url + "simple/steady/").text
    assert upload_time(server) == first_seen  # nothing was forgotten meanwhile
    assert wait_for(lambda: "is available again" in server.log_text())
    # watched again: a file copied in now is listed without a restart
    make_wheel(packages, "steady", "2.0")
    assert wait_for(lambda: "steady-2.0-py3" in http(server.url + "simple/steady/").text)


def test_directory_replaced_by_a_file(served: tuple[Server, Path], tmp_path: Path) -> None:
    server, packages = served
    shutil.move(str(packages), str(tmp_path / "old"))
    packages.write_text("not a directory")
    assert wait_for(lambda: answers(server, "simple/") == 503)
    assert wait_for(lambda: "it is no longer a directory" in server.log_text())
    assert "Traceback" not in server.log_text()


def test_upload_while_unavailable_is_503_and_writes_nothing(
    served: tuple[Server, Path], tmp_path: Path
) -> None:
    server, packages = served
    away = tmp_path / "away"
    os.rename(packages, away)
    assert wait_for(lambda: answers(server, "health") == 503)
    resp = http(server.url, method="POST", data=b"x", headers={"Content-Type": "text/plain"})
    assert resp.status == 503
    assert not packages.exists()
    assert sorted(p.name for p in away.iterdir()) == [".packyard", "steady-1.0-py3-none-any.whl"]


def test_root_problem_names_each_cause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cache_module.root_problem(str(tmp_path)) is None
    assert cache_module.root_problem(str(tmp_path / "missing")) == "it no longer exists"
    (tmp_path / "file").write_text("x")
    assert cache_module.root_problem(str(tmp_path / "file")) == "it is no longer a directory"
    # root reads everything, so the permission check is driven directly
    monkeypatch.setattr(cache_module.os, "access", lambda path, mode: False)
    assert cache_module.root_problem(str(tmp_path)) == "it cannot be read (permissions)"

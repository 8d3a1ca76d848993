"""The fixtures and hooks every test can use; loaded by ``pytest_plugins`` in tests/conftest.py.

Tiers: a test under tests/unit is marked ``unit``, under tests/component ``component``, under
tests/integration ``integration`` (see docs/testing.md).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers.app import App, app_from_args, build_app
from helpers.clients import Clients
from helpers.htpasswd import add_user
from helpers.server import Server, clean_environ, start_server

TIERS = ("unit", "component", "integration")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = Path(__file__).resolve().parent.parent
    for item in items:
        try:
            tier = item.path.resolve().relative_to(tests).parts[0]
        except ValueError:
            continue
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture
def serve() -> Iterator[object]:
    """Factory: ``serve(dir, "--disable-fallback")`` starts a server, stopped at teardown."""
    started: list[Server] = []

    def factory(*args: str | Path, env: dict[str, str] | None = None) -> Server:
        server = start_server(*args, env=env)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def htpasswd(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A password file (bcrypt) with one user: the test module's ``USER`` and ``PASSWORD``."""
    path = tmp_path_factory.mktemp("auth") / "htpasswd"
    add_user(path, request.module.USER, request.module.PASSWORD)
    return path


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Factory: ``make_app(**config_fields)`` builds the whole app in-process over a fresh
    packages directory (``make_app(packages, ...)`` over a given one); closed at teardown."""
    built: list[App] = []

    def factory(packages: Path | None = None, **options: Any) -> App:
        if packages is None:
            packages = tmp_path / f"packages-{len(built)}"
            packages.mkdir()
        app = build_app(packages, **options)
        built.append(app)
        return app

    yield factory
    for app in built:
        app.close()


@pytest.fixture
def serve_app() -> Iterator[Callable[..., App]]:
    """Factory: ``serve_app("-P", htpasswd, packages)`` builds in-process the app that
    ``serve`` with the same arguments would run in a subprocess; closed at teardown."""
    built: list[App] = []

    def factory(*args: str | Path) -> App:
        app = app_from_args(*args)
        built.append(app)
        return app

    yield factory
    for app in built:
        app.close()


@pytest.fixture
def app(make_app: Callable[..., App]) -> App:
    """The app with the default configuration over an empty packages directory."""
    return make_app()


@pytest.fixture
def clients(tmp_path: Path) -> Clients:
    root = tmp_path / "clients"
    home = root / "home"
    home.mkdir(parents=True)
    env = clean_environ(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_CACHE_DIR": str(root / "pip-cache"),
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "UV_NO_CONFIG": "1",
            "UV_CACHE_DIR": str(root / "uv-cache"),
            "UV_PYTHON_DOWNLOADS": "never",
            "NETRC": str(home / ".netrc"),
        }
    )
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, env=env)
    return Clients(root=root, env=env, python=venv / "bin" / "python")

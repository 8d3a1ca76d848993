"""Shared fixtures: a real packyard server in a subprocess, and isolated clients."""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
_BANNER = re.compile(r"serving .* at (http://127\.0\.0\.1:\d+/)")


def clean_environ(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without any PIP_*, UV_* or PYPISERVER_* setting of this machine."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "PYPISERVER_", "TWINE_"))
        and k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update(extra or {})
    return env


@dataclass
class Server:
    """A running ``python -m packyard run`` on 127.0.0.1 and an ephemeral port."""

    process: subprocess.Popen[str]
    url: str
    output: list[str] = field(default_factory=list)

    def log_text(self) -> str:
        return "".join(self.output)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


def start_server(
    *args: str | Path, env: dict[str, str] | None = None, timeout: float = 30
) -> Server:
    cmd = [sys.executable, "-m", "packyard", "run", "-p", "0", "-i", "127.0.0.1"]
    cmd += [str(a) for a in args]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_environ(env),
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line is None:
            break
        match = _BANNER.search(line)
        if match:
            return Server(proc, match.group(1), output)
    proc.kill()
    proc.wait()
    raise RuntimeError("packyard did not start:\n" + "".join(output))


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


@dataclass
class Site:
    """A running server and the packages directory it serves."""

    server: Server
    packages: Path


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect, urllib.request.ProxyHandler({}))


def http(
    url: str, method: str = "GET", headers: dict[str, str] | None = None, data: bytes | None = None
) -> Response:
    """One request, redirects not followed, errors returned rather than raised."""
    req = urllib.request.Request(url, method=method, headers=headers or {}, data=data)
    try:
        with _opener.open(req, timeout=30) as resp:
            return Response(
                resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
            )
    except urllib.error.HTTPError as err:
        return Response(err.code, {k.lower(): v for k, v in err.headers.items()}, err.read())


@dataclass
class Clients:
    """pip, uv and a target virtual environment, isolated from this machine's config."""

    root: Path
    env: dict[str, str]
    python: Path

    def pip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "pip", "--python", str(self.python), *args]
        return self._run(cmd, check)

    def uv(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([str(uv_binary()), *args], check)

    def run_python(self, code: str) -> str:
        return self._run([str(self.python), "-c", code], True).stdout

    def _run(self, cmd: list[str], check: bool) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=300, cwd=self.root
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{cmd} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
            )
        return result


def uv_binary() -> Path:
    from uv import find_uv_bin  # the uv wheel ships the binary

    return Path(find_uv_bin())


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


def wait_for(predicate: object, timeout: float = 10.0, interval: float = 0.05) -> bool:
    """Poll ``predicate()`` until it is true; False if it never became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(interval)
    return bool(predicate())  # type: ignore[operator]


def have(tool: str) -> bool:
    return shutil.which(tool) is not None


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

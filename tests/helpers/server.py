"""A real packyard server in a subprocess (port 0, loopback), and plain HTTP requests to it."""

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
from dataclasses import dataclass, field
from pathlib import Path

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

"""The command line starting real servers: forms, options, environment, logging, signals."""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from helpers import clean_environ, http, wait_for
from helpers.dists import make_wheel

SCRIPT = Path(sys.executable).parent / "pypi-server"
MODULE = (sys.executable, "-m", "packyard")
LISTEN = ("-p", "0", "-i", "127.0.0.1")
BANNER = re.compile(r"serving .* at (http://127\.0\.0\.1:\d+/)")
HREF_FRAGMENT = re.compile(r'href="[^"#]*#([a-z0-9_]+)=([0-9a-f]+)"')


@dataclass
class Proc:
    """A packyard process with stdout and stderr kept apart."""

    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    stderr: list[str] = field(default_factory=list)
    pumps: list[threading.Thread] = field(default_factory=list)
    url: str = ""

    def out(self) -> str:
        return "".join(self.stdout)

    def err(self) -> str:
        return "".join(self.stderr)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        for pump in self.pumps:
            pump.join(timeout=5)
        return self.process.returncode


def _pump(stream: object, sink: list[str], lines: queue.Queue[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line)
        lines.put(line)


def launch(
    *args: str | Path,
    env: dict[str, str] | None = None,
    script: bool = True,
    log_file: Path | None = None,
    timeout: float = 30,
) -> Proc:
    """Start the command line and wait for the start-up line (on stdout, stderr or in
    ``log_file``); the URL is taken from it."""
    cmd = [str(SCRIPT)] if script else list(MODULE)
    cmd += [str(a) for a in args]
    process = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environ() if env is None else env,
    )
    proc = Proc(process)
    lines: queue.Queue[str] = queue.Queue()
    for stream, sink in ((process.stdout, proc.stdout), (process.stderr, proc.stderr)):
        pump = threading.Thread(target=_pump, args=(stream, sink, lines), daemon=True)
        pump.start()
        proc.pumps.append(pump)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_file is not None:
            text = log_file.read_text() if log_file.exists() else ""
        else:
            with contextlib.suppress(queue.Empty):
                lines.get(timeout=0.1)
            text = proc.out() + proc.err()
        match = BANNER.search(text)
        if match:
            proc.url = match.group(1)
            return proc
        if process.poll() is not None and lines.empty():
            break
        if log_file is not None:
            time.sleep(0.05)
    proc.stop(signal.SIGKILL)
    raise AssertionError(
        f"packyard did not start: {cmd}\nstdout:\n{proc.out()}\nstderr:\n{proc.err()}"
    )


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.stop(signal.SIGKILL)


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    directory = tmp_path / "packages"
    directory.mkdir()
    make_wheel(directory, "demo", "1.0")
    return directory


WHEEL = "demo-1.0-py3-none-any.whl"


def start(procs: list[Proc], *args: str | Path, **kwargs: object) -> Proc:
    proc = launch(*args, **kwargs)  # type: ignore[arg-type]
    procs.append(proc)
    return proc


def assert_serves_demo(proc: Proc, packages: Path) -> None:
    page = http(proc.url + "simple/demo/")
    assert page.status == 200, page.text
    assert WHEEL in page.text
    assert "demo" in http(proc.url + "simple/").text
    download = http(proc.url + "packages/" + WHEEL)
    assert download.status == 200
    assert download.body == (packages / WHEEL).read_bytes()


def fragments(proc: Proc, project: str = "demo") -> list[tuple[str, str]]:
    page = http(proc.url + f"simple/{project}/")
    assert page.status == 200, page.text
    found = HREF_FRAGMENT.findall(page.text)
    assert found, page.text
    return found


def digest(path: Path, algo: str) -> str:
    return hashlib.new(algo, path.read_bytes()).hexdigest()


# --- forms of the command line --------------------------------------------------------


def test_run_subcommand_serves_without_warning(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, "run", *LISTEN, packages)
    assert_serves_demo(proc, packages)
    assert "deprecated" not in proc.out() + proc.err()


def test_legacy_form_serves_and_warns_once(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, *LISTEN, packages)
    assert_serves_demo(proc, packages)
    warnings = [line for line in (proc.out() + proc.err()).splitlines() if "deprecated" in line]
    assert len(warnings) == 1, proc.out() + proc.err()
    assert warnings[0].startswith("pypi-server: warning:")
    assert "pypi-server run" in warnings[0]


def test_legacy_form_open_server(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, "-P", ".", "-a", ".", *LISTEN, packages)
    assert_serves_demo(proc, packages)
    assert "error" not in proc.err()


def test_options_before_subcommand_hash_algo(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, "--hash-algo", "md5", "run", *LISTEN, packages)
    assert fragments(proc) == [("md5", digest(packages / WHEEL, "md5"))]


def test_options_before_subcommand_verbose(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, "-v", "run", *LISTEN, packages)
    assert http(proc.url + "simple/demo/").status == 200
    assert wait_for(lambda: "GET /simple/demo/ 200" in proc.out(), timeout=5), proc.out()


def test_quiet_by_default_has_no_access_log(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, "run", *LISTEN, packages)
    assert http(proc.url + "simple/demo/").status == 200
    assert proc.stop() == 0
    assert "GET /simple/demo/" not in proc.out() + proc.err()


def test_default_hash_is_sha256(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, "run", *LISTEN, packages)
    assert fragments(proc) == [("sha256", digest(packages / WHEEL, "sha256"))]


def test_python_dash_m(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, "run", *LISTEN, packages, script=False)
    assert_serves_demo(proc, packages)


# --- the default packages directory ---------------------------------------------------


def test_default_packages_dir_missing(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    result = subprocess.run(
        [str(SCRIPT), "run", *LISTEN],
        env=clean_environ({"HOME": str(home)}),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [
        f"pypi-server: error: packages directory {home / 'packages'} does not exist"
    ]


def test_default_packages_dir_served(procs: list[Proc], tmp_path: Path) -> None:
    home = tmp_path / "home"
    default = home / "packages"
    default.mkdir(parents=True)
    make_wheel(default, "demo", "1.0")
    proc = start(procs, "run", *LISTEN, env=clean_environ({"HOME": str(home)}))
    assert_serves_demo(proc, default)
    assert str(default) in proc.out()


# --- the environment ------------------------------------------------------------------


def test_env_hash_algo(procs: list[Proc], packages: Path) -> None:
    env = clean_environ({"PYPISERVER_HASH_ALGO": "md5"})
    proc = start(procs, "run", *LISTEN, packages, env=env)
    assert fragments(proc) == [("md5", digest(packages / WHEEL, "md5"))]


def test_env_hash_algo_off(procs: list[Proc], packages: Path) -> None:
    env = clean_environ({"PYPISERVER_HASH_ALGO": "off"})
    proc = start(procs, "run", *LISTEN, packages, env=env)
    page = http(proc.url + "simple/demo/")
    assert WHEEL in page.text
    assert "#" not in page.text.split("<body>", 1)[1]


def test_command_line_beats_environment(procs: list[Proc], packages: Path) -> None:
    env = clean_environ({"PYPISERVER_HASH_ALGO": "md5"})
    proc = start(procs, "run", *LISTEN, "--hash-algo", "sha256", packages, env=env)
    assert fragments(proc) == [("sha256", digest(packages / WHEEL, "sha256"))]


def test_env_disable_fallback(procs: list[Proc], packages: Path) -> None:
    env = clean_environ({"PYPISERVER_DISABLE_FALLBACK": "1"})
    proc = start(procs, "run", *LISTEN, packages, env=env)
    assert http(proc.url + "simple/unknown-project/").status == 404
    assert http(proc.url + "simple/demo/").status == 200


def test_fallback_redirects_without_env(procs: list[Proc], packages: Path) -> None:
    """The contrast to the test above: by default an unknown project is redirected."""
    proc = start(procs, "run", *LISTEN, packages)
    answer = http(proc.url + "simple/unknown-project/")
    assert answer.status == 303
    assert answer.header("location") == "https://pypi.org/simple/unknown-project/"


def test_env_packages_dir(procs: list[Proc], packages: Path) -> None:
    env = clean_environ({"PYPISERVER_PACKAGES_DIR": str(packages)})
    proc = start(procs, "run", *LISTEN, env=env)
    assert_serves_demo(proc, packages)


def test_env_several_packages_dirs(procs: list[Proc], packages: Path, tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    make_wheel(other, "second", "2.0")
    env = clean_environ({"PYPISERVER_PACKAGES_DIR": f"{packages}:{other}"})
    proc = start(procs, "run", *LISTEN, env=env)
    assert_serves_demo(proc, packages)
    assert "second-2.0-py3-none-any.whl" in http(proc.url + "simple/second/").text


def test_positional_dir_beats_env_packages_dir(
    procs: list[Proc], packages: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    make_wheel(other, "second", "2.0")
    env = clean_environ({"PYPISERVER_PACKAGES_DIR": str(other), "PYPISERVER_DISABLE_FALLBACK": "1"})
    proc = start(procs, "run", *LISTEN, packages, env=env)
    assert_serves_demo(proc, packages)
    assert http(proc.url + "simple/second/").status == 404


def test_env_verbose(procs: list[Proc], packages: Path) -> None:
    env = clean_environ({"PYPISERVER_VERBOSE": "1"})
    proc = start(procs, "run", *LISTEN, packages, env=env)
    assert http(proc.url + "packages/" + WHEEL).status == 200
    assert wait_for(lambda: f"GET /packages/{WHEEL} 200" in proc.out(), timeout=5), proc.out()


# --- signals and the port -------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_stops_cleanly(procs: list[Proc], packages: Path, sig: int) -> None:
    proc = start(procs, "run", *LISTEN, packages)
    assert http(proc.url + "simple/").status == 200
    assert proc.stop(sig) == 0, proc.err()
    assert "stopped" in proc.out()
    assert "Traceback" not in proc.out() + proc.err()
    port = int(proc.url.rsplit(":", 1)[1].strip("/"))
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)


def test_port_in_use(packages: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [str(SCRIPT), "run", "-p", str(port), "-i", "127.0.0.1", str(packages)],
            env=clean_environ(),
            capture_output=True,
            text=True,
            timeout=30,
        )
    report = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 1, report
    assert "Traceback" not in result.stdout + result.stderr, report
    lines = result.stderr.splitlines()
    assert len(lines) == 1, report
    assert lines[0].startswith(f"pypi-server: error: cannot serve on 127.0.0.1:{port}"), report


# --- logging --------------------------------------------------------------------------


def test_log_file_and_format(procs: list[Proc], packages: Path, tmp_path: Path) -> None:
    log_file = tmp_path / "logs" / "packyard.log"
    log_file.parent.mkdir()
    proc = start(
        procs,
        "run",
        *LISTEN,
        "-v",
        "--log-file",
        log_file,
        "--log-frmt",
        "%(levelname)s::%(message)s",
        packages,
    )
    assert http(proc.url + "simple/demo/").status == 200
    assert proc.stop() == 0
    text = log_file.read_text()
    lines = [line for line in text.splitlines() if line]
    assert lines, text
    for line in lines:
        assert re.match(r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)::", line), text
    assert any(line.startswith("INFO::packyard ") and "serving" in line for line in lines)
    assert any("GET /simple/demo/ 200" in line for line in lines), text
    assert "INFO::packyard stopped" in lines
    # The same format goes to the stream.
    assert "INFO::packyard stopped" in proc.out().splitlines()


def test_log_stream_none(procs: list[Proc], packages: Path, tmp_path: Path) -> None:
    log_file = tmp_path / "packyard.log"
    proc = start(
        procs,
        "run",
        *LISTEN,
        "-v",
        "--log-stream",
        "none",
        "--log-file",
        log_file,
        packages,
        log_file=log_file,
    )
    assert_serves_demo(proc, packages)
    assert proc.stop() == 0
    assert proc.out() == ""
    assert proc.err() == ""
    assert "GET /simple/demo/ 200" in log_file.read_text()


def test_log_stream_none_stays_silent_when_directories_move(
    procs: list[Proc], packages: Path, tmp_path: Path
) -> None:
    """Nothing reaches the terminal with --log-stream none, not even what the file
    watching library has to say about a directory that left and came back."""
    log_file = tmp_path / "packyard.log"
    proc = start(
        procs,
        "run",
        *LISTEN,
        "--disable-fallback",
        "--log-stream",
        "none",
        "--log-file",
        log_file,
        packages,
        log_file=log_file,
    )
    outside = tmp_path / "outside"
    outside.mkdir()
    make_wheel(outside, "wanderer", "1.0")
    page = proc.url + "simple/wanderer/"
    for _ in range(2):
        os.rename(outside, packages / "batch")
        assert wait_for(lambda: http(page).status == 200, timeout=3)
        os.rename(packages / "batch", outside)
        assert wait_for(lambda: http(page).status == 404, timeout=3)
    assert proc.stop() == 0
    assert proc.out() == ""
    assert proc.err() == ""


def test_log_stream_stderr(procs: list[Proc], packages: Path) -> None:
    proc = start(procs, "run", *LISTEN, "-v", "--log-stream", "stderr", packages)
    assert http(proc.url + "simple/").status == 200
    assert proc.stop() == 0
    assert proc.out() == ""
    assert "serving" in proc.err()
    assert "GET /simple/ 200" in proc.err()


# --- no network needed ----------------------------------------------------------------


def test_serves_without_network(procs: list[Proc], packages: Path) -> None:
    env = clean_environ()
    env.update(
        {
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
        }
    )
    proc = start(
        procs, "run", *LISTEN, "--fallback-url", "https://pypi.invalid/simple", packages, env=env
    )
    assert_serves_demo(proc, packages)
    answer = http(proc.url + "simple/elsewhere/")
    assert answer.status == 303
    assert answer.header("location") == "https://pypi.invalid/simple/elsewhere/"
    assert http(proc.url + "health").text.strip() == "ok"

"""Benchmark packyard against pypiserver 2.4.2, side by side, on one generated directory.

    python benchmarks/run.py [--quick] [--out REPORT.md] [options]

See benchmarks/README.md for what is measured and how. Everything runs on this
machine, against 127.0.0.1 only; every process started here is stopped on exit
(also on Ctrl-C) and every temporary directory is removed (unless --keep).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import http.client
import io
import json
import os
import pickle
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urljoin, urlsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
from proxy import CountingProxy, Counts  # noqa: E402

PYPISERVER_SPEC = "pypiserver[cache]==2.4.2"
JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MAX_RESTARTS = 6  # a server that hangs or dies more often is left out


class Limits:
    """How long a server may take to answer before it counts as hung (shorter for
    --quick, whose directory is small), and the resolvers' HTTP timeout."""

    hang = 15.0
    resolver_http = 20


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# Processes: everything started is registered here and stopped by stop_all().

PROCS: list[subprocess.Popen[bytes]] = []

# Command prefixes that pin the server under test and the load generator to CPUs of
# their own (set by main): on a small machine, wrk and the server then do not take
# turns on the same core, and a run measures the server rather than the scheduler.
PIN: dict[str, list[str]] = {"server": [], "load": []}
ALL_CPUS = sorted(os.sched_getaffinity(0))  # servers start on all of them


def spawn(
    cmd: Sequence[str], logfile: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(
            list(cmd),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group, so we stop its children too
            preexec_fn=lambda: os.sched_setaffinity(0, ALL_CPUS),  # not this script's CPU
        )
    PROCS.append(proc)
    return proc


def stop(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
    if proc in PROCS:
        PROCS.remove(proc)


def stop_all() -> None:
    for proc in list(PROCS):
        try:
            stop(proc)
        except Exception as exc:  # keep stopping the others
            log(f"could not stop pid {proc.pid}: {exc}")


def on_signal(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


# --------------------------------------------------------------------------------------
# /proc readings


def process_tree(pid: int) -> list[int]:
    pids = [pid]
    i = 0
    while i < len(pids):
        p = pids[i]
        i += 1
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as fh:
                    pids.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and its live descendants."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)
    return total / CLK_TCK


def status_kb(pid: int, key: str) -> int:
    """A /proc/<pid>/status value in kB (VmRSS, VmHWM), summed over the process tree."""
    total = 0
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith(key + ":"):
                        total += int(line.split()[1])
                        break
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def reset_hwm(pid: int) -> bool:
    """Reset the peak RSS (VmHWM) of the process tree (Linux >= 4.0, needs permission)."""
    ok = True
    for p in process_tree(pid):
        try:
            with open(f"/proc/{p}/clear_refs", "w") as fh:
                fh.write("5")
        except OSError:
            ok = False
    return ok


def wait_idle(pid: int, limit: float = 180.0) -> float:
    """Wait until the server uses (almost) no CPU, e.g. after abandoned requests."""
    started = time.monotonic()
    last = cpu_seconds(pid)
    while time.monotonic() - started < limit:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now - last < 0.03:
            break
        last = now
    return time.monotonic() - started


# --------------------------------------------------------------------------------------
# HTTP helpers


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_get(
    port: int, path: str, headers: dict[str, str] | None = None, timeout: float = 120
) -> Response:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, resp.getheaders(), resp.read())
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --------------------------------------------------------------------------------------
# Servers


@dataclass
class Server:
    key: str  # packyard | pypiserver | pypiserver-cached | bare
    label: str
    cmd: list[str]
    port: int
    logfile: Path
    directory: Path | None
    proc: subprocess.Popen[bytes] | None = None
    startup: float | None = None
    error: str | None = None
    endpoints: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)
    banner: str = ""
    restarts: int = 0
    software: str = ""  # the Server header of its answers

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None and self.error is None

    def note(self) -> str:
        """What the start-up table says about it."""
        if self.error:
            return self.error
        return f"Server: {self.software}; {self.banner}".strip("; ")

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.logfile.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])


def start_server(server: Server, timeout: float = 180.0) -> None:
    """Start, and time process start -> first 200 on /simple/."""
    log(f"starting {server.label}: {' '.join(server.cmd)}")
    started = time.perf_counter()
    # Started on every CPU (start-up is measured as a deployment would see it), then
    # pinned with all its threads for the throughput runs.
    server.proc = spawn(server.cmd, server.logfile)
    while True:
        if server.proc.poll() is not None:
            server.error = (
                f"exited with code {server.proc.returncode} before answering; "
                f"log: {server.log_tail(5)!r}"
            )
            break
        if time.perf_counter() - started > timeout:
            server.error = f"no 200 on /simple/ within {timeout:.0f} s"
            break
        try:
            resp = http_get(server.port, "/simple/", timeout=timeout)
        except (ConnectionError, OSError, http.client.HTTPException):
            time.sleep(0.01)
            continue
        if resp.status == 200:
            server.startup = time.perf_counter() - started
            server.software = {k.lower(): v for k, v in resp.headers}.get("server", "?")
            break
        time.sleep(0.01)
    if server.error:
        log(f"{server.label} FAILED: {server.error}")
        if server.proc is not None:
            stop(server.proc)
        return
    m = re.search(
        r"serving \d+ files of \d+ projects.*", server.logfile.read_text(errors="replace")
    )
    server.banner = m.group(0) if m else ""
    log(f"{server.label} answered /simple/ after {server.startup:.2f} s")
    pin_server(server)


def pin_server(server: Server) -> None:
    """Move the server (every thread of its process group) to the server CPU."""
    if not PIN["server"] or server.proc is None:
        return
    taskset, _, cpu = PIN["server"]
    pids = [server.proc.pid]
    with contextlib.suppress(OSError):
        pids += [int(p) for p in os.listdir("/proc") if p.isdigit() and _pgid(int(p)) == server.pid]
    for pid in dict.fromkeys(pids):
        subprocess.run([taskset, "-a", "-p", "-c", cpu, str(pid)], capture_output=True, check=False)


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except OSError:
        return None


def responsive(server: Server, timeout: float | None = None) -> bool:
    timeout = Limits.hang if timeout is None else timeout
    try:
        return http_get(server.port, "/simple/", timeout=timeout).status == 200
    except (OSError, http.client.HTTPException):
        return False


def revive(server: Server, notes: list[str], when: str) -> bool:
    """True if the server answers; if it died or hangs, say so and restart it."""
    return revive_state(server, notes, when) != "failed"


def revive_state(server: Server, notes: list[str], when: str) -> str:
    """ "ok", or "restarted" after a hang or death (noted in ``notes``), or "failed"."""
    if server.proc is None:
        return "failed"
    if server.proc.poll() is None and responsive(server):
        return "ok"
    if server.proc.poll() is not None:
        state = f"had exited with code {server.proc.returncode}"
    else:
        state = f"did not answer /simple/ within {Limits.hang:.0f} s (hung)"
    server.restarts += 1
    stop(server.proc)
    server.proc = None
    if server.restarts > MAX_RESTARTS:
        server.error = f"{state} {when}, after {MAX_RESTARTS} restarts; left out from here on"
        notes.append(f"{server.label} {server.error}")
        log(f"{server.label} {server.error}")
        return "failed"
    notes.append(f"{server.label} {state} {when}; restarted it")
    log(f"{server.label} {state} {when}; restarting it")
    startup = server.startup
    start_server(server)
    server.startup = startup
    for path, headers in server.endpoints.values():  # warm up again
        try:
            http_get(server.port, path, headers, timeout=20)
        except (OSError, http.client.HTTPException):
            break
    return "restarted" if server.alive else "failed"


def fetch(
    server: Server, path: str, headers: dict[str, str], notes: list[str], what: str
) -> Response | None:
    """GET with a 30 s timeout; a server that does not answer is restarted (see revive)
    and asked once more. None if it still does not answer."""
    for attempt in (1, 2):
        try:
            return http_get(server.port, path, headers, timeout=30)
        except (OSError, http.client.HTTPException) as exc:
            log(f"{server.label}: no answer to {path} ({exc!r})")
            if attempt == 1 and not revive(server, notes, f"at {what}"):
                break
    return None


def has_option(cmd: list[str], option: str) -> bool:
    try:
        out = subprocess.run(
            [*cmd, "--help"], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return option in out.stdout + out.stderr


# --------------------------------------------------------------------------------------
# Preparation: wrk, the pypiserver virtualenv, the packages directory


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    if not shutil.which("apt-get"):
        print("error: wrk is missing and apt-get is unavailable to install it", file=sys.stderr)
        sys.exit(2)
    log("installing wrk with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(
        ["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True, check=False
    )
    if result.returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=False)
        result = subprocess.run(
            ["apt-get", "install", "-y", "-q", "wrk"], env=env, capture_output=True, check=False
        )
    found = shutil.which("wrk")
    if not found:
        tail = result.stderr.decode(errors="replace").strip().splitlines()[-1:]
        print(f"error: could not install wrk with apt-get: {tail}", file=sys.stderr)
        sys.exit(2)
    return found


def ensure_pypiserver(venv: Path) -> Path:
    """pypiserver 2.4.2 with waitress and watchdog in ``venv`` (created if needed)."""
    binary = venv / "bin" / "pypi-server"
    python = venv / "bin" / "python"
    if binary.exists():
        check = subprocess.run(
            [
                str(python),
                "-c",
                "import pypiserver, waitress, watchdog; print(pypiserver.__version__)",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode == 0 and check.stdout.strip() == "2.4.2":
            log(f"reusing pypiserver 2.4.2 in {venv}")
            return binary
    log(f"installing {PYPISERVER_SPEC} and waitress into {venv}")
    started = time.perf_counter()
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    if Path(uv).exists():
        subprocess.run([uv, "venv", "-q", "--python", sys.executable, str(venv)], check=True)
        subprocess.run(
            [uv, "pip", "install", "-q", "--python", str(python), PYPISERVER_SPEC, "waitress"],
            check=True,
        )
    else:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", PYPISERVER_SPEC, "waitress"], check=True
        )
    log(f"installed in {time.perf_counter() - started:.1f} s")
    return binary


def count_files(root: Path) -> tuple[int, int]:
    files = dirs = 0
    for _dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        dirs += len(dirnames)
        files += sum(1 for f in filenames if not f.startswith("."))
    return files, dirs


def copy_tree(src: Path, dst: Path) -> None:
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)
    shutil.rmtree(dst / ".packyard", ignore_errors=True)


# --------------------------------------------------------------------------------------
# wrk


@dataclass
class WrkResult:
    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    errors: str = ""
    non2xx: int = 0
    cpu_ms_per_req: float | None = None
    rss_mb: float = 0.0
    drain_s: float = 0.0
    failed: str | None = None
    note: str = ""


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0, "h": 3600000.0}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError(text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out: str) -> WrkResult:
    r = WrkResult()
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", out)
    if m:
        r.requests = int(m.group(1))
        r.seconds = _ms(m.group(2) + m.group(3)) / 1000
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r.rps = float(m.group(1))
    m = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    if m:
        r.p50_ms = _ms(m.group(1))
    m = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    if m:
        r.p99_ms = _ms(m.group(1))
    m = re.search(r"Socket errors: (.*)", out)
    if m:
        r.errors = m.group(1).strip()
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        r.non2xx = int(m.group(1))
    return r


def run_wrk(wrk: str, server: Server, endpoint: str, args: argparse.Namespace) -> WrkResult:
    path, headers = server.endpoints[endpoint]
    cmd = [
        *PIN["load"],
        wrk,
        "-c",
        str(args.connections),
        "-t",
        str(args.wrk_threads),
        "-d",
        f"{args.duration}s",
        "--latency",
        "--timeout",
        f"{args.wrk_timeout}s",
    ]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(f"http://127.0.0.1:{server.port}{path}")
    wait_idle(server.pid, 60)
    before = cpu_seconds(server.pid)
    proc = subprocess.run(
        cmd,
        capture_output=True,
        text=True,
        check=False,
        timeout=args.duration + args.wrk_timeout + 60,
    )
    after = cpu_seconds(server.pid)
    rss = status_kb(server.pid, "VmRSS") / 1024
    result = parse_wrk(proc.stdout)
    result.rss_mb = rss
    if proc.returncode != 0 or not result.requests:
        result.failed = (proc.stdout + proc.stderr).strip().replace("\n", " | ")[-300:]
    if result.requests:
        result.cpu_ms_per_req = (after - before) * 1000 / result.requests
    # Requests that wrk gave up on may still be running: let them finish before
    # the next measurement so that they do not steal its CPU.
    result.drain_s = wait_idle(server.pid)
    return result


# --------------------------------------------------------------------------------------
# The 2 GiB upload


def make_big_wheel(folder: Path, size: int) -> tuple[Path, str]:
    """A valid wheel of ~``size`` bytes with one big stored member; returns (path, sha256)."""
    name, version = "bigupload", "1.0.0"
    path = folder / f"{name}-{version}-py3-none-any.whl"
    info = f"{name}-{version}.dist-info"
    block = bytearray(random.Random(7).randbytes(1 << 20))
    small = {
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
            "Summary: A big wheel for the upload benchmark\n"
        ).encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: packyard-bench\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record_lines = []
    with zipfile.ZipFile(path, "w", allowZip64=True) as zf:
        zi = zipfile.ZipInfo(f"{name}/blob.bin", generate.ZIP_DATE)
        zi.compress_type = zipfile.ZIP_STORED
        digest = hashlib.sha256()
        with zf.open(zi, "w", force_zip64=True) as member:
            for i in range(max(size >> 20, 1)):
                block[:8] = i.to_bytes(8, "little")
                member.write(block)
                digest.update(block)
        record_lines.append(f"{zi.filename},sha256={digest.hexdigest()},{max(size >> 20, 1) << 20}")
        for member_name, data in small.items():
            zf.writestr(zipfile.ZipInfo(member_name, generate.ZIP_DATE), data)
            record_lines.append(f"{member_name},,{len(data)}")
        record_lines.append(f"{info}/RECORD,,")
        zf.writestr(
            zipfile.ZipInfo(f"{info}/RECORD", generate.ZIP_DATE), "\n".join(record_lines) + "\n"
        )
    sha = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            sha.update(chunk)
    return path, sha.hexdigest()


@dataclass
class UploadResult:
    server: str
    size: int = 0
    status: str = ""
    wall_s: float = 0.0
    rss_before_mb: float = 0.0
    peak_mb: float = 0.0
    growth_mb: float = 0.0
    stored: str = ""
    cpu_s: float = 0.0
    note: str = ""


def upload(server: Server, path: Path, sha256: str) -> UploadResult:
    result = UploadResult(server.label, size=path.stat().st_size)
    boundary = "packyardbench" + hashlib.sha1(path.name.encode()).hexdigest()[:16]
    fields = {
        ":action": "file_upload",
        "protocol_version": "1",
        "metadata_version": "2.1",
        "name": "bigupload",
        "version": "1.0.0",
        "filetype": "bdist_wheel",
        "pyversion": "py3",
        "sha256_digest": sha256,
    }
    head = io.BytesIO()
    for k, v in fields.items():
        head.write(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        )
    head.write(
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
    )
    tail = f"\r\n--{boundary}--\r\n".encode()
    length = len(head.getvalue()) + result.size + len(tail)

    def body() -> Iterator[bytes]:
        yield head.getvalue()
        with open(path, "rb") as fh:
            while chunk := fh.read(1 << 20):
                yield chunk
        yield tail

    pid = server.pid
    wait_idle(pid, 30)
    hwm_reset = reset_hwm(pid)
    result.rss_before_mb = status_kb(pid, "VmRSS") / 1024
    peak = [result.rss_before_mb]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], status_kb(pid, "VmRSS") / 1024)
            done.wait(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    cpu0 = cpu_seconds(pid)
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=900)
    try:
        conn.putrequest("POST", "/")
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        conn.putheader("Content-Length", str(length))
        conn.endheaders()
        send_error = ""
        try:
            for chunk in body():
                conn.send(chunk)
        except OSError as exc:  # the server may answer (413) and close before we finish
            send_error = f"send stopped: {exc.__class__.__name__}: {exc}"
        try:
            resp = conn.getresponse()
            text = " ".join(resp.read()[:200].decode(errors="replace").split())
            result.status = f"{resp.status} {resp.reason}" + (f" ({text})" if text else "")
        except (OSError, http.client.HTTPException) as exc:
            result.status = f"no response: {exc.__class__.__name__}: {exc}"
        if send_error:
            result.note = send_error
    finally:
        conn.close()
        result.wall_s = time.perf_counter() - started
        result.cpu_s = cpu_seconds(pid) - cpu0
        time.sleep(0.2)
        done.set()
        sampler.join()
    hwm = status_kb(pid, "VmHWM") / 1024 if hwm_reset else 0.0
    result.peak_mb = max(peak[0], hwm)
    result.growth_mb = result.peak_mb - result.rss_before_mb
    assert server.directory is not None
    stored = list(server.directory.rglob(path.name))
    result.stored = f"stored, {stored[0].stat().st_size} bytes" if stored else "not stored"
    for f in stored:  # keep the disk use of the run down
        f.unlink()
    return result


# --------------------------------------------------------------------------------------
# Resolver traffic


def clean_env() -> dict[str, str]:
    """No PIP_*/UV_* settings of this machine; no pip configuration file; a short HTTP
    timeout without retries for uv (pip gets the same on its command line), so that a
    server that hangs costs seconds, not minutes."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_HTTP_TIMEOUT"] = str(Limits.resolver_http)
    env["UV_HTTP_RETRIES"] = "0"
    return env


@dataclass
class ResolverResult:
    server: str
    tool: str
    ok: bool
    seconds: float
    counts: Counts
    detail: str


def resolve(server: Server, workdir: Path, notes: list[str]) -> list[ResolverResult]:
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    out: list[ResolverResult] = []
    proxy = CountingProxy(server.port).start()
    try:
        index = f"http://127.0.0.1:{proxy.port}/simple/"
        cache = Path(tempfile.mkdtemp(prefix="cache-", dir=workdir))
        tools: list[tuple[str, list[str]]] = [
            (
                "uv pip compile",
                [
                    uv,
                    "pip",
                    "compile",
                    "-",
                    "--no-config",
                    "--no-cache",
                    "--index-url",
                    index,
                    "--python",
                    sys.executable,
                    "--no-header",
                ],
            ),
            (
                "pip install --dry-run",
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--dry-run",
                    "--ignore-installed",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--timeout",
                    str(Limits.resolver_http),
                    "--retries",
                    "0",
                    "--cache-dir",
                    str(cache / "pip"),
                    "--index-url",
                    index,
                    "chain-a",
                ],
            ),
        ]
        for tool, cmd in tools:
            if not revive(server, notes, f"before {tool}"):
                break
            proxy.reset()
            started = time.perf_counter()
            proc = subprocess.run(
                cmd,
                input="chain-a\n",
                capture_output=True,
                text=True,
                env=clean_env(),
                timeout=300,
                check=False,
            )
            seconds = time.perf_counter() - started
            counts = proxy.reset()
            text = proc.stdout + proc.stderr
            pins = re.findall(r"chain-[a-d]==[\w.]+", text) or re.findall(
                r"chain[-_.][a-d]-[\d.]+\w*", text, re.I
            )
            ok = proc.returncode == 0 and len(set(pins)) >= 4
            detail = (
                ", ".join(sorted(set(pins))) if ok else text.strip()[-400:].replace("\n", " | ")
            )
            if counts.errors:
                detail += f" (proxy: {len(counts.errors)} errors, e.g. {counts.errors[0]})"
            out.append(ResolverResult(server.label, tool, ok, seconds, counts, detail))
            log(
                f"{server.label} {tool}: ok={ok} {counts.requests} requests, "
                f"{counts.response_bytes} bytes"
            )
    finally:
        proxy.stop()
    return out


# --------------------------------------------------------------------------------------
# Watcher


@dataclass
class WatchResult:
    server: str
    files: int
    dirs: int
    copy_s: float = 0.0
    visible_s: float | None = None  # from the start of the copy
    note: str = ""


def watch_test(
    server: Server, staging: Path, plan: list[generate.Project], dirs: int
) -> WatchResult:
    assert server.directory is not None
    to_copy = [(p.relative_to(staging), p) for p in sorted(staging.rglob("*")) if p.is_file()]
    _files, dir_count = count_files(server.directory)
    result = WatchResult(server.label, len(to_copy), dir_count)
    wanted: dict[str, set[str]] = {}
    for sub_name, name, _data, project, _release in generate.files(plan, dirs, 99):
        del sub_name
        wanted.setdefault(project.canonical, set()).add(name)
    wait_idle(server.pid, 30)
    started = time.perf_counter()
    for rel, src in to_copy:
        dst = server.directory / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst)
    result.copy_s = time.perf_counter() - started
    pending = dict(wanted)
    deadline = started + 60
    while time.perf_counter() < deadline:
        try:
            index = http_get(server.port, "/simple/", timeout=Limits.hang).body.decode()
        except (OSError, http.client.HTTPException) as exc:
            result.note = f"no answer to /simple/ while polling: {exc!r}"
            return result
        if all(f'href="{name}/"' in index or f"/simple/{name}/" in index for name in pending):
            for name in list(pending):
                try:
                    page = http_get(
                        server.port, f"/simple/{name}/", timeout=Limits.hang
                    ).body.decode()
                except (OSError, http.client.HTTPException) as exc:
                    result.note = f"no answer to /simple/{name}/ while polling: {exc!r}"
                    return result
                if all(f">{fn}<" in page for fn in pending[name]):
                    del pending[name]
            if not pending:
                result.visible_s = time.perf_counter() - started
                break
        time.sleep(0.05)
    if result.visible_s is None:
        result.note = f"{len(pending)} of {len(wanted)} projects still incomplete after 60 s"
    return result


# --------------------------------------------------------------------------------------
# Report


def fmt_num(x: float | None, digits: int = 0) -> str:
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def fmt_rps(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}" if x < 100 else f"{x:,.0f}"


def fmt_ms(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:.3f}x" if x < 1 else f"{x:.2f}x" if x < 10 else f"{x:,.0f}x"


ENDPOINT_LABELS = {
    "project": "/simple/&lt;project&gt;/",
    "index": "/simple/",
    "download": "small download",
    "project-json": "/simple/&lt;project&gt;/ JSON",
    "metadata": "wheel .metadata (PEP 658)",
    "pypi-json": "/pypi/&lt;project&gt;/json",
}


@dataclass
class Results:
    wrk: dict[str, dict[str, list[WrkResult]]] = field(default_factory=dict)
    uploads: list[UploadResult] = field(default_factory=list)
    resolver: list[ResolverResult] = field(default_factory=list)
    watch: list[WatchResult] = field(default_factory=list)
    startups: list[tuple[str, float | None, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def summary(results: list[WrkResult]) -> WrkResult:
    """The median run (by req/s) of the repeats."""
    ok = [r for r in results if not r.failed] or results
    ok = sorted(ok, key=lambda r: r.rps)
    return ok[(len(ok) - 1) // 2]


def build_report(
    args: argparse.Namespace,
    servers: dict[str, Server],
    res: Results,
    setup: list[str],
) -> str:
    lines: list[str] = []
    targets: list[tuple[str, bool | None, str]] = []
    lines += ["## Setup", "", *[f"- {s}" for s in setup], ""]

    lines += [
        "## Throughput",
        "",
        f"wrk `-c {args.connections} -t {args.wrk_threads} -d {args.duration}s --latency "
        f"--timeout {args.wrk_timeout}s`, one server at a time; "
        + (
            f"each server pinned to CPU `{PIN['server'][-1]}` and wrk to CPU "
            f"`{PIN['load'][-1]}` with taskset; "
            if args.pin
            else "not pinned to CPUs; "
        )
        + "packyard and the bare app one right after the other; "
        + f"{f'median of {args.repeat} runs' if args.repeat > 1 else 'one run'} per cell. "
        "CPU is the server's user+system time during the run divided by the requests "
        "completed; RSS is the server's after the run. Ratios are req/s of packyard over "
        "the best pypiserver configuration (medians), and over the bare waitress app: the "
        "median of the ratios of each packyard run and the bare run right after it.",
        "",
        "| endpoint | server | req/s | requests | p50 ms | p99 ms | CPU µs/req | RSS MB | "
        "errors | packyard / pypiserver best | packyard / bare |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for endpoint, per_server in res.wrk.items():
        cells = {k: summary(v) for k, v in per_server.items() if v}
        pk = cells.get("packyard")
        pyp = [
            cells[k]
            for k in ("pypiserver", "pypiserver-cached")
            if k in cells and not cells[k].failed
        ]
        best = max((r.rps for r in pyp), default=None)
        bare = cells.get("bare")
        ratio_p = pk.rps / best if pk and best else None
        # packyard / bare: the median of the ratios of the runs made one after the other
        pairs = list(zip(per_server.get("packyard", []), per_server.get("bare", []), strict=False))
        ratio_b = _median([p.rps / b.rps for p, b in pairs if p.rps and b.rps and not p.failed])
        cpu_b = _median(
            [
                b.cpu_ms_per_req / p.cpu_ms_per_req
                for p, b in pairs
                if p.cpu_ms_per_req and b.cpu_ms_per_req and not p.failed
            ]
        )
        first = True
        for key, r in cells.items():
            errs = []
            if r.failed:
                errs.append(f"FAILED: {r.failed}")
            if r.note:
                errs.append(r.note)
            if r.non2xx:
                errs.append(f"{r.non2xx} non-2xx")
            if r.errors and r.errors != "connect 0, read 0, write 0, timeout 0":
                errs.append(r.errors)
            lines.append(
                f"| {ENDPOINT_LABELS[endpoint] if first else ''} | {servers[key].label} | "
                f"{fmt_rps(r.rps)} | {r.requests:,} | {fmt_ms(r.p50_ms)} | {fmt_ms(r.p99_ms)} | "
                f"{fmt_num(r.cpu_ms_per_req * 1000 if r.cpu_ms_per_req else None)} | "
                f"{fmt_num(r.rss_mb)} | {'; '.join(errs)} | "
                f"{fmt_ratio(ratio_p) if first else ''} | {fmt_ratio(ratio_b) if first else ''} |"
            )
            first = False
        label = ENDPOINT_LABELS[endpoint].replace("&lt;", "<").replace("&gt;", ">")
        if endpoint in ("project", "index", "download"):  # what pypiserver also serves
            targets.append(
                (
                    f"{label}: packyard >= 10x pypiserver's best",
                    None if ratio_p is None else ratio_p >= 10,
                    f"{fmt_rps(pk.rps) if pk else '-'} vs {fmt_rps(best)} req/s "
                    f"= {fmt_ratio(ratio_p)}",
                )
            )
        targets.append(
            (
                f"{label}: packyard >= 0.8x bare waitress",
                None if ratio_b is None else ratio_b >= 0.8,
                f"{fmt_rps(pk.rps) if pk else '-'} vs {fmt_rps(bare.rps) if bare else '-'} req/s "
                f"= {fmt_ratio(ratio_b)}; CPU per request bare / packyard "
                f"= {fmt_ratio(cpu_b)}",
            )
        )
    drains = [
        f"{servers[k].label} {ENDPOINT_LABELS[e]} {r.drain_s:.0f} s"
        for e, per in res.wrk.items()
        for k, rs in per.items()
        for r in rs
        if r.drain_s >= 2
    ]
    if drains:
        lines += [
            "",
            "Busy after wrk stopped (requests wrk had given up on still running; waited "
            "before the next run): " + ", ".join(drains) + ".",
        ]
    hwm = [
        f"{s.label} {status_kb(s.pid, 'VmHWM') / 1024:,.0f} MB" for s in servers.values() if s.alive
    ]
    lines += ["", "Peak RSS (VmHWM) after the throughput runs: " + ", ".join(hwm) + ".", ""]

    lines += [
        "## Start-up",
        "",
        "Process start to the first 200 answer on /simple/.",
        "",
        "| server | seconds | note |",
        "|---|---:|---|",
    ]
    for label, secs, note in res.startups:
        lines.append(f"| {label} | {fmt_ms(secs) if secs is None else f'{secs:.2f}'} | {note} |")
    lines.append("")
    for label, secs, _note in res.startups:
        if label.startswith("packyard"):
            targets.append(
                (
                    f"start-up to first /simple/ answer <= 2 s ({label})",
                    None if secs is None else secs <= 2,
                    f"{secs:.2f} s" if secs is not None else "failed",
                )
            )

    lines += ["## Upload", ""]
    if res.uploads:
        lines += [
            "One multipart upload form (`:action=file_upload`) streamed from disk with "
            "http.client. Growth is the server's peak RSS during the upload (VmHWM after "
            "resetting it, and RSS sampled every 50 ms) minus its RSS before.",
            "",
            "| server | file bytes | answer | stored | wall s | MB/s | server CPU s | "
            "RSS before MB | peak MB | growth MB | note |",
            "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for u in res.uploads:
            lines.append(
                f"| {u.server} | {u.size:,} | {u.status} | {u.stored} | {u.wall_s:.1f} | "
                f"{f'{u.size / 1e6 / u.wall_s:,.0f}' if u.stored.startswith('stored') else '-'} | "
                f"{u.cpu_s:.1f} | "
                f"{u.rss_before_mb:.0f} | {u.peak_mb:.0f} | {u.growth_mb:.1f} | {u.note} |"
            )
            if u.server.startswith("packyard"):
                ok = u.status.startswith("2") and u.growth_mb <= 50
                targets.append(
                    (
                        "2 GiB upload: server RSS growth <= 50 MB",
                        ok,
                        f"{u.growth_mb:.1f} MB growth, {u.wall_s:.1f} s, answer {u.status[:40]}",
                    )
                )
    else:
        lines.append("Skipped (--skip-upload or --quick).")
    lines.append("")

    lines += [
        "## Resolver traffic",
        "",
        "`uv pip compile` and `pip install --dry-run --ignore-installed` of chain-a "
        "(chain-a -> chain-b -> chain-c -> chain-d) with --index-url pointing at a counting "
        "proxy in front of each server; no caches, no configuration files, PIP_*/UV_* "
        "variables unset. Bytes are whole responses (status line, headers, body).",
        "",
        "| server | tool | ok | requests | bytes | by kind | seconds |",
        "|---|---|---|---:|---:|---|---:|",
    ]
    for rv in res.resolver:
        kinds = ", ".join(
            f"{k} {n} ({rv.counts.kind_bytes[k]:,} B)" for k, n in sorted(rv.counts.kinds.items())
        )
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(rv.counts.statuses.items()))
        lines.append(
            f"| {rv.server} | {rv.tool} | {'yes' if rv.ok else 'NO: ' + rv.detail} | "
            f"{rv.counts.requests} | {rv.counts.response_bytes:,} | {kinds}; statuses {statuses} | "
            f"{rv.seconds:.1f} |"
        )
    lines.append("")

    lines += [
        "## Watcher",
        "",
        "Files of new projects copied by hand (shutil.copy2) into the server's directory, "
        "spread over its subdirectories; time from the start of the copy until /simple/ "
        "lists every new project and every project page lists every new file (polled "
        "every 50 ms).",
        "",
        "| server | files copied | directories served | copy s | all visible after s | note |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for w in res.watch:
        lines.append(
            f"| {w.server} | {w.files:,} | {w.dirs:,} | {w.copy_s:.2f} | "
            f"{'-' if w.visible_s is None else f'{w.visible_s:.2f}'} | {w.note} |"
        )
        if w.server.startswith("packyard"):
            targets.append(
                (
                    f"{w.files:,} files copied in visible within 5 s ({w.dirs:,} directories)",
                    None if w.visible_s is None else w.visible_s <= 5,
                    f"{w.visible_s:.2f} s" if w.visible_s is not None else w.note,
                )
            )
    lines.append("")

    lines += ["## Targets", "", "| target | met | measured |", "|---|---|---|"]
    for name, met, measured in targets:
        verdict = "not measured" if met is None else "met" if met else "MISSED"
        lines.append(f"| {name} | {verdict} | {measured} |")
    lines.append("")
    if res.notes:
        lines += ["## Notes", "", *[f"- {n}" for n in res.notes], ""]
    if res.errors:
        lines += ["## Errors", "", *[f"- {e}" for e in res.errors], ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--projects", type=int, default=None, help="projects (default 5000; --quick 200)"
    )
    p.add_argument("--versions", type=int, default=4, help="versions per project (default 4)")
    p.add_argument(
        "--dirs", type=int, default=50, help="subdirectories (default 50; 0: all files at the top)"
    )
    p.add_argument("--duration", type=int, default=None, help="wrk seconds (default 10; --quick 2)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument(
        "--wrk-threads", type=int, default=None, help="wrk threads (default 1 when pinned, else 2)"
    )
    p.add_argument(
        "--no-pin",
        action="store_true",
        help="do not pin the server to one CPU and wrk to another (pinned when there are "
        "at least 2 CPUs and taskset is installed)",
    )
    p.add_argument(
        "--wrk-timeout", type=int, default=30, help="wrk per-request timeout in s (default 30)"
    )
    p.add_argument("--repeat", type=int, default=1, help="wrk runs per cell, alternating servers")
    p.add_argument(
        "--threads",
        type=int,
        default=4,
        help="waitress threads for packyard (if it has --threads) and bare",
    )
    p.add_argument("--quick", action="store_true", help="smoke run: 200 projects, 2 s, no upload")
    p.add_argument("--out", type=Path, help="also write the markdown report here")
    p.add_argument("--skip-upload", action="store_true", help="skip the 2 GiB upload")
    p.add_argument("--upload-mib", type=int, default=2048, help="size of the upload (default 2048)")
    p.add_argument(
        "--reuse-dir", type=Path, help="packages directory to reuse (generated if missing)"
    )
    p.add_argument(
        "--pypiserver-venv",
        type=Path,
        help="virtualenv with pypiserver 2.4.2 (created there if missing, and kept)",
    )
    p.add_argument(
        "--watcher-dirs",
        type=int,
        default=0,
        help="also time the watcher on a tree with this many subdirectories (e.g. 5000)",
    )
    p.add_argument("--skip-resolver", action="store_true")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = p.parse_args(argv)
    if args.projects is None:
        args.projects = 200 if args.quick else 5000
    if args.duration is None:
        args.duration = 2 if args.quick else 10
    cpus = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    args.pin = not args.no_pin and len(cpus) >= 2 and taskset is not None
    if args.pin:
        assert taskset is not None
        PIN["server"] = [taskset, "-c", str(cpus[0])]
        PIN["load"] = [taskset, "-c", ",".join(str(c) for c in cpus[1:])]
        os.sched_setaffinity(0, cpus[1:])  # this script too keeps off the server's CPU
    if args.wrk_threads is None:
        args.wrk_threads = 1 if args.pin and len(cpus) == 2 else 2
    if args.quick:
        args.skip_upload = True
        Limits.hang = 5
        Limits.resolver_http = 10
    return args


def plain(value: Any) -> Any:
    """Dataclasses, dicts (Counters too) and lists as JSON-ready values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def machine_description() -> list[str]:
    cpu = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        mem = f"{int(fh.readline().split()[1]) / 1024 / 1024:.0f} GiB RAM"
    return [
        f"machine: {os.cpu_count()} CPUs (`nproc` {len(ALL_CPUS)}), {cpu}, {mem}, "
        f"Linux {platform.release()}",
        f"Python {platform.python_version()} ({sys.executable})",
    ]


def packyard_revision() -> str:
    repo = HERE.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(repo), "log", "-1", "--format=%h %s"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "src"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown revision"
    return f"commit {head[:80]}" + (" + uncommitted changes in src/" if dirty else "")


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        return str(exc)
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "?"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    total_started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="packyard-bench-"))
    log(f"work directory {workdir}")
    try:
        return benchmark(args, workdir, total_started)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        stop_all()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def benchmark(args: argparse.Namespace, workdir: Path, total_started: float) -> int:
    wrk = ensure_wrk()
    venv = args.pypiserver_venv or workdir / "pypiserver-venv"
    pypi_server = ensure_pypiserver(venv)
    res = Results()

    # The packages directory
    plan = generate.plan(args.projects, args.versions, args.seed)
    if args.reuse_dir and args.reuse_dir.exists() and any(args.reuse_dir.iterdir()):
        source = args.reuse_dir
        log(f"reusing {source}")
    else:
        source = args.reuse_dir or workdir / "source"
        log(f"generating {args.projects} projects x {args.versions} versions into {source}")
        started = time.perf_counter()
        generate.generate(source, args.projects, args.versions, args.dirs, args.seed)
        log(f"generated in {time.perf_counter() - started:.1f} s")
    mid = plan[len(plan) // 2]
    n_files, n_dirs = count_files(source)
    expected = next(
        name for _s, name, _d, p, _r in generate.files(plan, args.dirs, args.seed) if p is mid
    )
    if not list(source.rglob(expected)):
        print(
            f"error: {source} was not generated with these --projects/--versions/--dirs/--seed "
            f"({expected} is missing)",
            file=sys.stderr,
        )
        return 2

    # The servers, each with its own copy of the directory
    python = sys.executable
    packyard_cmd = [python, "-m", "packyard", "run"]
    threads_opt = has_option(packyard_cmd, "--threads")
    pyp_cmd = [str(pypi_server), "run"]
    pyp_waitress = ["--server", "waitress"] if has_option(pyp_cmd, "waitress") else []
    servers: dict[str, Server] = {}

    def add(key: str, label: str, cmd: list[str], directory: Path | None, port: int) -> Server:
        servers[key] = Server(key, label, cmd, port, workdir / f"{key}.log", directory)
        return servers[key]

    for key in ("packyard", "pypiserver", "pypiserver-cached"):
        started = time.perf_counter()
        copy_tree(source, workdir / key)
        log(f"copied the directory for {key} in {time.perf_counter() - started:.1f} s")
    port = free_port()
    add(
        "packyard",
        "packyard",
        [
            *packyard_cmd,
            "-p",
            str(port),
            "-i",
            "127.0.0.1",
            "-P",
            ".",
            "-a",
            ".",
            "--disable-fallback",
            *(["--threads", str(args.threads)] if threads_opt else []),
            str(workdir / "packyard"),
        ],
        workdir / "packyard",
        port,
    )
    for key, label, backend in (
        ("pypiserver", "pypiserver 2.4.2", "simple-dir"),
        ("pypiserver-cached", "pypiserver 2.4.2 cached-dir", "cached-dir"),
    ):
        port = free_port()
        add(
            key,
            label,
            [
                *pyp_cmd,
                "-p",
                str(port),
                "-i",
                "127.0.0.1",
                *pyp_waitress,
                "--backend",
                backend,
                "-a",
                ".",
                "-P",
                ".",
                "--disable-fallback",
                str(workdir / key),
            ],
            workdir / key,
            port,
        )

    for server in servers.values():
        start_server(server)
        note = server.note()
        res.startups.append((f"{server.label} (fresh copy)", server.startup, note))
        if server.key.startswith("pypiserver") and server.alive and server.software != "waitress":
            res.errors.append(f"{server.label} does not run on waitress: {server.software}")
        if server.error:
            res.errors.append(f"{server.label}: {server.error}")
    # A restart of packyard, with its ledger already in place
    pk = servers["packyard"]
    if pk.alive:
        assert pk.proc is not None
        stop(pk.proc)
        pk.proc = None
        pk.logfile.write_text("")
        start_server(pk)
        res.startups.append(("packyard (restart, ledger present)", pk.startup, pk.note()))
        if pk.error:
            res.errors.append(f"packyard restart: {pk.error}")

    # Endpoints of each server (download paths come from each server's own page)
    project_path = f"/simple/{mid.canonical}/"
    wheel_name = next(
        name for _s, name, _d, p, _r in generate.files(plan, args.dirs, args.seed) if p is mid
    )
    for server in servers.values():
        if not server.alive:
            continue
        server.endpoints = {"project": (project_path, {}), "index": ("/simple/", {})}
        page = fetch(server, project_path, {}, res.notes, "the first project page request")
        if page is None:
            res.errors.append(f"{server.label}: no answer to {project_path}; left out")
            server.error = f"no answer to {project_path}"
            if server.proc is not None:
                stop(server.proc)
            continue
        href = re.search(rf'href="([^"#]*{re.escape(wheel_name)})[#"]', page.body.decode())
        if href:
            server.endpoints["download"] = (urlsplit(urljoin(project_path, href.group(1))).path, {})
        else:
            res.errors.append(
                f"{server.label}: no link to {wheel_name} on {project_path} ({page.status})"
            )
        if server.key == "packyard":
            # Endpoints pypiserver does not have: PEP 691 JSON, PEP 658 metadata files
            # and PyPI's JSON API.
            server.endpoints["project-json"] = (project_path, {"Accept": JSON_ACCEPT})
            if "download" in server.endpoints:
                wheel_path = server.endpoints["download"][0]
                server.endpoints["metadata"] = (wheel_path + ".metadata", {})
            server.endpoints["pypi-json"] = (f"/pypi/{mid.canonical}/json", {})

    # The bare waitress app answers with packyard's bytes
    if pk.alive:
        table: dict[str, list[tuple[str, str, list[tuple[str, str]], bytes]]] = {}
        drop = {"date", "server", "connection", "transfer-encoding"}
        # JSON first: the bare app takes the first variant whose needle is in Accept.
        for endpoint in ("project-json", "project", "index", "download", "metadata", "pypi-json"):
            if endpoint not in pk.endpoints:
                continue
            path, headers = pk.endpoints[endpoint]
            resp = fetch(pk, path, headers, res.notes, "fetching the bare app's answers")
            if resp is None or resp.status != 200:
                status = "no answer" if resp is None else resp.status
                res.errors.append(f"packyard {endpoint} {path}: {status}")
                continue
            needle = headers.get("Accept", "")
            kept = [(k, v) for k, v in resp.headers if k.lower() not in drop]
            table.setdefault(path, []).append((needle, f"{resp.status} OK", kept, resp.body))
        responses = workdir / "bare.pickle"
        responses.write_bytes(pickle.dumps(table))
        port = free_port()
        bare = add(
            "bare",
            f"bare waitress ({args.threads} threads)",
            [
                python,
                str(HERE / "bare.py"),
                "--port",
                str(port),
                "--threads",
                str(args.threads),
                str(responses),
            ],
            None,
            port,
        )
        start_server(bare)
        if bare.error:
            res.errors.append(f"bare: {bare.error}")
        bare.endpoints = dict(pk.endpoints)
    else:
        res.errors.append("bare: not started, packyard did not start")

    # Check every endpoint once (this also warms caches)
    for server in servers.values():
        if not server.alive:
            continue
        for endpoint, (path, headers) in list(server.endpoints.items()):
            resp = fetch(server, path, headers, res.notes, "the first request of each endpoint")
            if resp is None or resp.status != 200:
                status = "no answer" if resp is None else f"HTTP {resp.status}"
                res.errors.append(f"{server.label} {endpoint} {path}: {status}")
                del server.endpoints[endpoint]

    shown = " ".join(Path(c).name if c == python else c for c in servers["packyard"].cmd[:4])
    setup = [
        *machine_description(),
        f"packyard: `{shown} ...` "
        f"({tool_version([python, '-m', 'packyard', '--version'])}, {packyard_revision()}); "
        f"waitress threads: {args.threads if threads_opt else 'default (4)'}",
        f"pypiserver: {tool_version([str(pypi_server), '--version'])} on waitress "
        f"(`--backend simple-dir` and `--backend cached-dir`), venv {venv}",
        f"wrk: {tool_version([wrk, '--version'])}",
        f"directory: {n_files:,} files of {len(plan):,} projects in {n_dirs:,} subdirectories "
        f"({args.projects} x {args.versions} versions x wheel+sdist), seed {args.seed}; "
        f"project page /simple/{mid.canonical}/, download {wheel_name}",
    ]

    # Throughput
    # bare right after packyard: their ratio compares runs made under the same
    # conditions (this VM's speed drifts by 20-30% over minutes).
    order = [k for k in ("packyard", "bare", "pypiserver", "pypiserver-cached") if k in servers]
    for endpoint in ("project", "index", "download", "project-json", "metadata", "pypi-json"):
        res.wrk[endpoint] = {}
        for round_ in range(args.repeat):
            for key in order:
                server = servers[key]
                if not server.alive or endpoint not in server.endpoints:
                    continue
                if not revive(server, res.notes, f"before the {endpoint} run"):
                    continue
                r = run_wrk(wrk, server, endpoint, args)
                state = revive_state(server, res.notes, f"after the {endpoint} run")
                if state == "failed":
                    r.note = "server stopped answering"
                elif state == "restarted":
                    first = r
                    r = run_wrk(wrk, server, endpoint, args)
                    r.note = (
                        f"hung during a first run ({first.rps:,.0f} req/s, {first.requests} "
                        "requests); this is the run after its restart"
                    )
                res.wrk[endpoint].setdefault(key, []).append(r)
                log(
                    f"{endpoint:12} {server.label:28} round {round_ + 1}: {fmt_rps(r.rps)} req/s "
                    f"({r.requests} requests) "
                    f"p50 {fmt_ms(r.p50_ms)} ms p99 {fmt_ms(r.p99_ms)} ms "
                    f"cpu {fmt_ms(r.cpu_ms_per_req)} ms/req"
                    + (f" FAILED {r.failed}" if r.failed else "")
                    + (f" (drained {r.drain_s:.0f} s)" if r.drain_s > 2 else "")
                )
                if server.proc is not None and server.proc.poll() is not None:
                    server.error = (
                        f"died during wrk (exit {server.proc.returncode}): {server.log_tail(5)!r}"
                    )
                    res.errors.append(f"{server.label}: {server.error}")
        if not res.wrk[endpoint]:
            del res.wrk[endpoint]

    # Upload
    if not args.skip_upload:
        log(f"writing a {args.upload_mib} MiB wheel")
        started = time.perf_counter()
        big, sha = make_big_wheel(workdir, args.upload_mib << 20)
        log(
            f"wrote {big.name} ({big.stat().st_size:,} bytes) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        for key in ("packyard", "pypiserver"):
            server = servers[key]
            if not server.alive:
                continue
            log(f"uploading to {server.label}")
            try:
                u = upload(server, big, sha)
            except Exception as exc:
                res.errors.append(f"upload to {server.label}: {exc!r}")
                continue
            res.uploads.append(u)
            log(f"{server.label}: {u.status} in {u.wall_s:.1f} s, RSS growth {u.growth_mb:.1f} MB")
        big.unlink()

    # Resolver traffic
    if not args.skip_resolver:
        for key in ("packyard", "pypiserver", "pypiserver-cached"):
            server = servers[key]
            if server.alive and revive(server, res.notes, "before the resolver runs"):
                try:
                    res.resolver += resolve(server, workdir, res.notes)
                except Exception as exc:
                    res.errors.append(f"resolver against {server.label}: {exc!r}")

    # Watcher: 1,000 new files (125 projects x 4 versions x 2)
    watch_projects = max(1000 // (2 * args.versions), 1)
    watch_plan = generate.plan(watch_projects, args.versions, 99, prefix="watch")
    staging = workdir / "watch-staging"
    generate.generate(staging, watch_projects, args.versions, args.dirs, 99, prefix="watch")
    for key in ("packyard", "pypiserver-cached"):
        server = servers[key]
        if server.alive and revive(server, res.notes, "before the watcher test"):
            try:
                w = watch_test(server, staging, watch_plan, args.dirs)
                res.watch.append(w)
                log(f"watcher {server.label}: {w.files} files visible after {w.visible_s} s")
            except Exception as exc:
                res.errors.append(f"watcher on {server.label}: {exc!r}")
    if args.watcher_dirs:
        res.watch += many_dirs_variant(args, workdir, res, python, threads_opt)

    for server in servers.values():
        if server.proc is not None and server.proc.poll() is not None and not server.error:
            res.errors.append(f"{server.label} exited with code {server.proc.returncode}")

    report = build_report(args, servers, res, setup)
    elapsed = time.perf_counter() - total_started
    title = (
        f"# packyard vs pypiserver 2.4.2\n\n`python benchmarks/run.py "
        f"{' '.join(sys.argv[1:])}` - {time.strftime('%Y-%m-%d %H:%M')}, "
        f"took {elapsed / 60:.1f} min\n\n"
    )
    report = title + report
    print(report)
    if args.out:
        args.out.write_text(report)
        raw = args.out.with_suffix(".json")
        raw.write_text(json.dumps({"setup": setup, "results": plain(res)}, indent=1))
        log(f"wrote {args.out} and the raw numbers to {raw}")
    for server in servers.values():
        if server.error:
            log(f"{server.label} log tail:\n{server.log_tail()}")
    return 1 if res.errors else 0


def many_dirs_variant(
    args: argparse.Namespace, workdir: Path, res: Results, python: str, threads_opt: bool
) -> list[WatchResult]:
    """Start-up and watcher on a tree with --watcher-dirs subdirectories."""
    tree = workdir / f"dirs{args.watcher_dirs}"
    log(f"generating the {args.watcher_dirs}-directory variant")
    generate.generate(tree, args.projects, args.versions, args.watcher_dirs, args.seed)
    # Make sure every directory exists even if no file landed in it.
    width = len(str(max(args.watcher_dirs - 1, 0)))
    for i in range(args.watcher_dirs):
        (tree / f"d{i:0{width}d}").mkdir(exist_ok=True)
    port = free_port()
    server = Server(
        "packyard-dirs",
        f"packyard ({args.watcher_dirs} dirs)",
        [
            python,
            "-m",
            "packyard",
            "run",
            "-p",
            str(port),
            "-i",
            "127.0.0.1",
            "-P",
            ".",
            "-a",
            ".",
            "--disable-fallback",
            *(["--threads", str(args.threads)] if threads_opt else []),
            str(tree),
        ],
        port,
        workdir / "packyard-dirs.log",
        tree,
    )
    start_server(server)
    res.startups.append((server.label, server.startup, server.note()))
    if not server.alive:
        res.errors.append(f"{server.label}: {server.error}")
        return []
    n = max(1000 // (2 * args.versions), 1)
    staging = workdir / "watch-staging-dirs"
    generate.generate(staging, n, args.versions, args.watcher_dirs, 99, prefix="watch")
    plan = generate.plan(n, args.versions, 99, prefix="watch")
    try:
        return [watch_test(server, staging, plan, args.watcher_dirs)]
    finally:
        assert server.proc is not None
        stop(server.proc)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        stop_all()
        sys.exit(1)

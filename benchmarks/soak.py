"""Load and soak test: a real packyard under mixed reads and uploads for a while.

    python benchmarks/soak.py [--duration 60] [--connections 64] [--out REPORT.md]

Starts ``python -m packyard run -P HTPASSWD -a update --disable-fallback DIR`` on a
generated directory (benchmarks/generate.py), drives it with ``--connections``
threads, each with its own persistent HTTP/1.1 connection, for a warm-up and then
``--duration`` seconds, and checks every answer. Meanwhile it samples the server's
RSS, open file descriptors and threads every second.

The uploads add files, and an index with more files rightly holds more memory. To
tell that from a leak, a fresh packyard is driven with the same reads (no uploads) on
the directory before the run and another on the directory after it, and each, like
the soak server after its run, gets a full pass over every page and file: the two
fresh servers give what an added file costs, and the soak server is compared with the
fresh one on the same files (``--no-reference`` skips this). See benchmarks/README.md.

Exit code: 0 when there were no errors and memory did not grow (the criteria are
printed with the report), 1 otherwise, 2 for a setup problem.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zipfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate  # noqa: E402
from run import (  # noqa: E402
    cpu_seconds,
    log,
    machine_description,
    on_signal,
    packyard_revision,
    spawn,
    status_kb,
    stop,
    stop_all,
    tool_version,
)

JSON_ACCEPT = "application/vnd.pypi.simple.v1+json"
HTML_ACCEPT = "text/html"
USER = "soak"

# Memory criteria (see the report's "Verdicts"): RSS may grow at most this much from
# the end of the warm-up to the end of the run, and the RSS of the second half of the
# run, fitted with a straight line, may not rise faster than this.
MAX_GROWTH_MB = 20.0
MAX_SLOPE_MB_MIN = 2.0
# ... and after the run, with every page and file fetched once more (all caches full),
# the server may hold at most this much more than a fresh one on the same files.
MAX_RETAINED_MB = 10.0

# The mix of reads (relative weights); uploads are --upload-share of all operations.
READ_MIX: dict[str, int] = {
    "index-html": 4,
    "index-json": 4,
    "project-html": 20,
    "project-json": 20,
    "download": 15,
    "metadata": 15,
    "pypi-json": 8,
    "revalidate": 14,
}
# What an upload operation is: a new file (a new project, or a new version of a
# project uploaded earlier in the run), the identical bytes of a file stored earlier
# (200), or the same filename with other bytes (409).
UPLOAD_MIX: dict[str, int] = {"upload-new": 70, "upload-identical": 15, "upload-conflict": 15}

KIND_LABELS = {
    "index-html": "/simple/ HTML",
    "index-json": "/simple/ JSON (PEP 691)",
    "project-html": "/simple/<p>/ HTML",
    "project-json": "/simple/<p>/ JSON (PEP 691)",
    "download": "small download",
    "metadata": "wheel .metadata (PEP 658)",
    "pypi-json": "/pypi/<p>/json",
    "revalidate": "If-None-Match revalidation (304)",
    "upload-new": "upload, new file (200)",
    "upload-visible": "project page right after an upload",
    "upload-identical": "re-upload, identical bytes (200)",
    "upload-conflict": "re-upload, other bytes (409)",
}


# --------------------------------------------------------------------------------------
# Distributions and forms (small copies of tests/dists.py and tests/forms.py)


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def wheel_bytes(dist: str, version: str, module_body: str) -> tuple[str, bytes, bytes]:
    """(filename, wheel, METADATA) of a tiny pure-Python wheel; ``dist`` is the escaped
    name (``soak_p12``)."""
    info = f"{dist}-{version}.dist-info"
    metadata = (
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n"
        "Summary: Uploaded by the packyard soak test\nRequires-Python: >=3.8\n\n"
    ).encode()
    files = {
        f"{dist}/__init__.py": module_body.encode(),
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: packyard-soak\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = "".join(f"{p},{_record_hash(d)},{len(d)}\n" for p, d in files.items())
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return f"{dist}-{version}-py3-none-any.whl", buf.getvalue(), metadata


def encode_form(fields: list[tuple[str, str]], file: tuple[str, bytes]) -> tuple[bytes, str]:
    """A multipart/form-data body (fields first, then the file) and its Content-Type."""
    boundary = "packyard-soak-" + secrets.token_hex(12)
    out = bytearray()
    for name, value in fields:
        out += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    filename, data = file
    out += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
    ).encode()
    out += data + b"\r\n" + f"--{boundary}--\r\n".encode()
    return bytes(out), f"multipart/form-data; boundary={boundary}"


def write_htpasswd(path: Path, user: str, password: str) -> str:
    """A bcrypt htpasswd file (cost 5, as ``htpasswd -B``); returns what wrote it."""
    try:
        from passlib.hash import bcrypt

        path.write_text(f"{user}:{bcrypt.using(rounds=5, ident='2y').hash(password)}\n")
        return "passlib (bcrypt, cost 5)"
    except ImportError:
        pass
    binary = shutil.which("htpasswd")
    if binary is None:
        raise SetupError("neither passlib nor htpasswd (apache2-utils) is available")
    out = subprocess.run(
        [binary, "-nbB", user, password], capture_output=True, text=True, check=True
    ).stdout
    path.write_text(out.strip() + "\n")
    return "htpasswd -B (bcrypt, cost 5)"


# --------------------------------------------------------------------------------------
# What the load knows about the index


@dataclass(frozen=True)
class FileInfo:
    project: str  # canonical name
    filename: str
    path: str  # URL path of the file
    size: int
    sha256: str
    metadata_sha256: str | None  # of the wheel's METADATA; None for sdists


@dataclass
class Project:
    name: str
    files: list[FileInfo]
    versions: set[str]
    uploaded: bool


@dataclass
class Stored:
    """A file this run uploaded (and the server accepted)."""

    info: FileInfo
    data: bytes
    version: str
    dist: str


class World:
    """The projects and files the server should have, shared by the workers."""

    def __init__(self, generated: list[Project]) -> None:
        self.lock = threading.Lock()
        self.generated = generated
        self.generated_files = [f for p in generated for f in p.files]
        self.generated_wheels = [f for f in self.generated_files if f.metadata_sha256]
        self.uploaded: dict[str, Project] = {}
        self.uploaded_names: list[str] = []
        self.stored: list[Stored] = []
        self.next_project = 0
        self.next_version: dict[str, int] = {}
        # (path, headers, etag) of answers that must not change during the run
        self.etags: list[tuple[str, tuple[tuple[str, str], ...], str]] = []

    def for_reads(self) -> World:
        """The same projects and files, for a read-only load on another server."""
        other = World(self.generated)
        with self.lock:
            for stored in self.stored:
                other.add_stored(stored)
        return other

    def new_upload(self, rng: random.Random) -> tuple[str, str, str]:
        """(canonical name, escaped dist name, version) never used before."""
        with self.lock:
            if self.uploaded_names and rng.random() < 0.5:
                name = rng.choice(self.uploaded_names)
            else:
                name = f"soak-p{self.next_project}"
                self.next_project += 1
            n = self.next_version.get(name, 0)
            self.next_version[name] = n + 1
        return name, name.replace("-", "_"), f"1.0.{n}"

    def add_stored(self, stored: Stored) -> None:
        with self.lock:
            self.stored.append(stored)
            project = self.uploaded.get(stored.info.project)
            if project is None:
                project = Project(stored.info.project, [], set(), uploaded=True)
                self.uploaded[project.name] = project
                self.uploaded_names.append(project.name)
            project.files.append(stored.info)
            project.versions.add(stored.version)

    def pick_project(self, rng: random.Random) -> tuple[Project, list[FileInfo]]:
        """A project (one in five uploaded during the run, once there are some) and a
        snapshot of the files it has for certain."""
        with self.lock:
            if self.uploaded_names and rng.random() < 0.2:
                p = self.uploaded[rng.choice(self.uploaded_names)]
            else:
                p = rng.choice(self.generated)
            return p, list(p.files)

    def pick_file(self, rng: random.Random, wheel: bool) -> FileInfo:
        with self.lock:
            if self.stored and rng.random() < 0.2:
                return rng.choice(self.stored).info
        return rng.choice(self.generated_wheels if wheel else self.generated_files)

    def pick_stored(self, rng: random.Random) -> Stored | None:
        with self.lock:
            return rng.choice(self.stored) if self.stored else None

    def remember_etag(self, path: str, headers: dict[str, str], etag: str | None) -> None:
        if not etag:
            return
        entry = (path, tuple(sorted(headers.items())), etag)
        with self.lock:
            if len(self.etags) < 5000:
                self.etags.append(entry)
            else:
                self.etags[random.randrange(len(self.etags))] = entry

    def pick_etag(self, rng: random.Random) -> tuple[str, dict[str, str], str] | None:
        with self.lock:
            if not self.etags:
                return None
            path, headers, etag = rng.choice(self.etags)
        return path, dict(headers), etag


def describe_generated(
    root: Path, projects: int, versions: int, dirs: int, seed: int
) -> list[Project]:
    plan = generate.plan(projects, versions, seed)
    by_name = {p.canonical: Project(p.canonical, [], set(), uploaded=False) for p in plan}
    for sub, name, data, project, release in generate.files(plan, dirs, seed):
        meta_sha = None
        if name.endswith(".whl"):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                meta = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
                meta_sha = hashlib.sha256(zf.read(meta)).hexdigest()
        relpath = f"{sub}/{name}" if sub else name
        assert (root / relpath).is_file(), relpath
        p = by_name[project.canonical]
        p.files.append(
            FileInfo(
                project.canonical,
                name,
                f"/packages/{relpath}",
                len(data),
                hashlib.sha256(data).hexdigest(),
                meta_sha,
            )
        )
        p.versions.add(release.version)
    return list(by_name.values())


# --------------------------------------------------------------------------------------
# The load


@dataclass
class Outcome:
    """What one worker saw; merged at the end."""

    counts: dict[str, Counter[str]] = field(
        default_factory=lambda: {"warmup": Counter(), "run": Counter(), "tail": Counter()}
    )
    statuses: Counter[tuple[str, int]] = field(default_factory=Counter)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[tuple[float, str, str, str]] = field(default_factory=list)  # t, kind, path, what
    error_kinds: Counter[str] = field(default_factory=Counter)
    conflicts: int = 0
    reconnects: Counter[str] = field(default_factory=Counter)  # by the answer before
    gzip_answers: int = 0


class Clock:
    def __init__(self, warmup: float, duration: float) -> None:
        self.t0 = time.monotonic()
        self.run_start = self.t0 + warmup
        self.run_end = self.run_start + duration
        self.stop = threading.Event()

    def phase(self, t: float) -> str:
        if t < self.run_start:
            return "warmup"
        return "run" if t <= self.run_end else "tail"


class SetupError(Exception):
    """The soak test could not start (exit code 2)."""


class Failure(Exception):
    """An answer that is not what it should be."""


class Worker(threading.Thread):
    def __init__(
        self,
        index: int,
        port: int,
        world: World,
        clock: Clock,
        auth: str,
        upload_share: float,
        timeout: float,
    ) -> None:
        super().__init__(name=f"load-{index}", daemon=True)
        self.port = port
        self.world = world
        self.clock = clock
        self.auth = auth
        self.upload_share = upload_share
        self.timeout = timeout
        self.rng = random.Random(1000 + index)
        self.out = Outcome()
        self.conn: http.client.HTTPConnection | None = None
        self.sent = 0
        self.last = ""  # kind and status of the last answer on this connection
        self.read_kinds = list(READ_MIX)
        self.read_weights = list(READ_MIX.values())
        self.upload_kinds = list(UPLOAD_MIX)
        self.upload_weights = list(UPLOAD_MIX.values())

    # -- one exchange -------------------------------------------------------------------

    def request(
        self,
        kind: str,
        method: str,
        path: str,
        headers: dict[str, str],
        body: bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request on the persistent connection; record it. Raises Failure for
        connection errors and timeouts (after recording them)."""
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        if self.conn.sock is None and self.sent:  # the server closed it after an answer
            self.out.reconnects[self.last] += 1
        self.sent += 1
        started = time.monotonic()
        try:
            self.conn.request(method, path, body=body, headers=headers)
            resp = self.conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.conn.close()
            self.conn = None
            self.sent = 0
            what = "timeout" if isinstance(exc, TimeoutError) else "connection"
            self.fail(kind, path, f"{what} error: {exc.__class__.__name__}: {exc}")
            raise Failure from None
        ended = time.monotonic()
        phase = self.clock.phase(ended)
        self.out.counts[phase][kind] += 1
        self.out.statuses[(kind, resp.status)] += 1
        self.last = f"{kind} {resp.status}"
        if phase == "run":
            self.out.latencies.setdefault(kind, []).append(ended - started)
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data

    def fail(self, kind: str, path: str, what: str) -> None:
        self.out.error_kinds[f"{kind}: {re.sub(r'[0-9a-f]{16,}', '…', what)[:120]}"] += 1
        if len(self.out.errors) < 20:
            self.out.errors.append((time.monotonic() - self.clock.t0, kind, path, what[:300]))

    def expect(
        self,
        kind: str,
        method: str,
        path: str,
        headers: dict[str, str],
        status: int,
        body: bytes | None = None,
    ) -> tuple[dict[str, str], bytes]:
        got, resp_headers, data = self.request(kind, method, path, headers, body)
        if got != status:
            text = " ".join(data[:160].decode(errors="replace").split())
            self.fail(kind, path, f"HTTP {got} (expected {status}): {text}")
            raise Failure
        if "content-length" in resp_headers and int(resp_headers["content-length"]) != len(data):
            self.fail(kind, path, "Content-Length does not match the body")
            raise Failure
        if resp_headers.get("content-encoding") == "gzip":
            self.out.gzip_answers += 1
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                self.fail(kind, path, f"bad gzip body: {exc}")
                raise Failure from None
        return resp_headers, data

    def page_headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept}
        if self.rng.random() < 0.5:  # pip, uv and browsers ask for gzip
            headers["Accept-Encoding"] = "gzip, deflate"
        return headers

    def check(self, ok: bool, kind: str, path: str, what: str) -> None:
        if not ok:
            self.fail(kind, path, what)
            raise Failure

    # -- the operations -----------------------------------------------------------------

    def do_read(self, kind: str) -> None:
        rng = self.rng
        world = self.world
        if kind in ("index-html", "index-json"):
            accept = HTML_ACCEPT if kind == "index-html" else JSON_ACCEPT
            headers = self.page_headers(accept)
            resp, data = self.expect(kind, "GET", "/simple/", headers, 200)
            probe = rng.choice(world.generated).name
            if kind == "index-html":
                self.check(f'href="{probe}/"'.encode() in data, kind, "/simple/", f"no {probe}")
            else:
                names = {p["name"] for p in json.loads(data)["projects"]}
                self.check(probe in names, kind, "/simple/", f"no {probe} in JSON")
        elif kind in ("project-html", "project-json"):
            project, files = world.pick_project(rng)
            path = f"/simple/{project.name}/"
            headers = self.page_headers(HTML_ACCEPT if kind == "project-html" else JSON_ACCEPT)
            resp, data = self.expect(kind, "GET", path, headers, 200)
            if kind == "project-html":
                text = data.decode()
                missing = [f.filename for f in files if f">{f.filename}</a>" not in text]
            else:
                listed = {f["filename"] for f in json.loads(data)["files"]}
                missing = [f.filename for f in files if f.filename not in listed]
            self.check(not missing, kind, path, f"files missing from the page: {missing[:3]}")
            if not project.uploaded:
                world.remember_etag(path, headers, resp.get("etag"))
        elif kind == "download":
            f = world.pick_file(rng, wheel=False)
            resp, data = self.expect(kind, "GET", f.path, {}, 200)
            self.check(hashlib.sha256(data).hexdigest() == f.sha256, kind, f.path, "wrong bytes")
            world.remember_etag(f.path, {}, resp.get("etag"))
        elif kind == "metadata":
            f = world.pick_file(rng, wheel=True)
            path = f.path + ".metadata"
            resp, data = self.expect(kind, "GET", path, {}, 200)
            ok = hashlib.sha256(data).hexdigest() == f.metadata_sha256
            self.check(ok, kind, path, "wrong METADATA bytes")
            world.remember_etag(path, {}, resp.get("etag"))
        elif kind == "pypi-json":
            project, files = world.pick_project(rng)
            path = f"/pypi/{project.name}/json"
            resp, data = self.expect(kind, "GET", path, {"Accept-Encoding": "gzip"}, 200)
            doc = json.loads(data)
            listed = {f["filename"] for fs in doc["releases"].values() for f in fs}
            missing = [f.filename for f in files if f.filename not in listed]
            self.check(not missing, kind, path, f"files missing from the JSON: {missing[:3]}")
            if not project.uploaded:
                world.remember_etag(path, {"Accept-Encoding": "gzip"}, resp.get("etag"))
        elif kind == "revalidate":
            picked = world.pick_etag(rng)
            if picked is None:
                self.do_read("project-html")
                return
            path, headers, etag = picked
            resp, data = self.expect(kind, "GET", path, {**headers, "If-None-Match": etag}, 304)
            self.check(not data, kind, path, "a body with the 304")
        else:
            raise AssertionError(kind)

    def upload(
        self, kind: str, filename: str, data: bytes, name: str, version: str, status: int
    ) -> None:
        fields = [
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("metadata_version", "2.1"),
            ("name", name),
            ("version", version),
            ("filetype", "bdist_wheel"),
            ("pyversion", "py3"),
            ("sha256_digest", hashlib.sha256(data).hexdigest()),
        ]
        body, content_type = encode_form(fields, (filename, data))
        headers = {"Content-Type": content_type, "Authorization": self.auth}
        self.expect(kind, "POST", "/legacy/", headers, status, body)

    def do_upload(self, kind: str) -> None:
        world = self.world
        if kind != "upload-new":
            stored = world.pick_stored(self.rng)
            if stored is None:
                kind = "upload-new"
            elif kind == "upload-identical":
                self.upload(
                    kind, stored.info.filename, stored.data, stored.dist, stored.version, 200
                )
                return
            else:
                body = f"VERSION = {stored.version!r}\nOTHER = {secrets.token_hex(8)!r}\n"
                filename, data, _meta = wheel_bytes(stored.dist, stored.version, body)
                assert filename == stored.info.filename
                self.upload(kind, filename, data, stored.dist, stored.version, 409)
                self.out.conflicts += 1
                return
        name, dist, version = world.new_upload(self.rng)
        filename, data, meta = wheel_bytes(dist, version, f"VERSION = {version!r}\n")
        self.upload(kind, filename, data, dist, version, 200)
        info = FileInfo(
            name,
            filename,
            f"/packages/{filename}",
            len(data),
            hashlib.sha256(data).hexdigest(),
            hashlib.sha256(meta).hexdigest(),
        )
        # The index is updated before the answer: the very next request lists the file.
        path = f"/simple/{name}/"
        _resp, page = self.expect("upload-visible", "GET", path, {"Accept": HTML_ACCEPT}, 200)
        self.check(f">{filename}</a>".encode() in page, "upload-visible", path, f"no {filename}")
        world.add_stored(Stored(info, data, version, dist))

    def run(self) -> None:
        while not self.clock.stop.is_set():
            try:
                if self.rng.random() < self.upload_share:
                    kind = self.rng.choices(self.upload_kinds, self.upload_weights)[0]
                    self.do_upload(kind)
                else:
                    kind = self.rng.choices(self.read_kinds, self.read_weights)[0]
                    self.do_read(kind)
            except Failure:
                continue
            except Exception as exc:  # a bug here, or an answer that cannot be parsed
                self.fail("client", "-", f"{exc.__class__.__name__}: {exc}")
                if self.conn is not None:
                    self.conn.close()
                    self.conn = None
                    self.sent = 0
        if self.conn is not None:
            self.conn.close()


# --------------------------------------------------------------------------------------
# Sampling the server


@dataclass
class Sample:
    t: float  # seconds since the load started
    rss_kb: int
    anon_kb: int  # RssAnon: the heap; the rest of VmRSS is mapped files (code) and shmem
    fds: int
    threads: int
    server_cpu_s: float
    load_cpu_s: float
    stored: int  # files uploaded so far


def count_fds(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def take_sample(pid: int, t0: float, stored: int) -> Sample:
    times = os.times()
    return Sample(
        time.monotonic() - t0,
        status_kb(pid, "VmRSS"),
        status_kb(pid, "RssAnon"),
        count_fds(pid),
        status_kb(pid, "Threads"),
        cpu_seconds(pid),
        times.user + times.system,
        stored,
    )


def slope_mb_per_min(points: Sequence[Sample]) -> float:
    """Least-squares slope of RSS (MB) over time (minutes)."""
    if len(points) < 2:
        return 0.0
    xs = [p.t / 60 for p in points]
    ys = [p.rss_kb / 1024 for p in points]
    mx = sum(xs) / len(xs)
    my = sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx if sxx else 0.0


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


# --------------------------------------------------------------------------------------
# The server


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    port: int
    startup: float
    logfile: Path
    banner: str

    @property
    def pid(self) -> int:
        return self.proc.pid


def launch(cmd: list[str], logfile: Path) -> Server:
    """Start packyard (on port 0: the port comes from its start-up log line) and wait
    for its first 200 on /simple/."""
    started = time.monotonic()
    proc = spawn(cmd, logfile)
    port = 0
    while time.monotonic() - started < 120:
        if proc.poll() is not None:
            raise SetupError(f"the server exited: {logfile.read_text()[-2000:]}")
        text = logfile.read_text(errors="replace")
        if not port:
            m = re.search(r" at http://127\.0\.0\.1:(\d+)/", text)
            port = int(m.group(1)) if m else 0
        if port:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                conn.request("GET", "/simple/")
                if conn.getresponse().status == 200:
                    m = re.search(r"serving \d+ files.*", text)
                    return Server(
                        proc, port, time.monotonic() - started, logfile, m.group(0) if m else ""
                    )
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
        time.sleep(0.05)
    stop(proc)
    raise SetupError("the server did not answer /simple/ within 120 s")


def shut_down(server: Server) -> list[str]:
    """Stop the server (SIGTERM; a clean exit is part of the test)."""
    if server.proc.poll() is not None:
        return [f"the server exited with code {server.proc.returncode} during the run"]
    stop(server.proc, timeout=30)
    if server.proc.returncode not in (0, -signal.SIGTERM):
        return [f"the server exited with code {server.proc.returncode} when stopped"]
    return []


def log_problems(logfile: Path) -> tuple[list[str], Counter[str]]:
    """ERROR/CRITICAL/Traceback lines of the server log, and WARNING lines by logger."""
    bad: list[str] = []
    warnings: Counter[str] = Counter()
    with open(logfile, errors="replace") as fh:
        for line in fh:
            fields = line.split("|")
            level = fields[2] if len(fields) > 4 else ""
            if level in ("ERROR", "CRITICAL") or "Traceback" in line or " ERROR " in line:
                bad.append(line.rstrip())
            elif level == "WARNING":
                warnings[f"{fields[1]}: {re.sub(r'[0-9]+', 'N', fields[4])[:80].strip()}"] += 1
    return bad, warnings


def final_checks(port: int, world: World, root: Path) -> list[str]:
    """After the load: every stored upload is on its project page and on disk with its
    bytes (the 409s changed nothing), /simple/ lists every project, no staging file is
    left behind."""
    problems: list[str] = []
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", "/simple/", headers={"Accept": JSON_ACCEPT})
        resp = conn.getresponse()
        listed = {p["name"] for p in json.loads(resp.read())["projects"]}
        expected = {p.name for p in world.generated} | set(world.uploaded)
        if expected - listed:
            problems.append(f"/simple/ misses {len(expected - listed)} projects")
        for name, project in world.uploaded.items():
            conn.request("GET", f"/simple/{name}/", headers={"Accept": JSON_ACCEPT})
            resp = conn.getresponse()
            body = resp.read()
            if resp.status != 200:
                problems.append(f"/simple/{name}/: HTTP {resp.status}")
                continue
            on_page = {f["filename"] for f in json.loads(body)["files"]}
            missing = [f.filename for f in project.files if f.filename not in on_page]
            if missing:
                problems.append(f"/simple/{name}/ misses {missing}")
    finally:
        conn.close()
    for stored in world.stored:
        path = root / stored.info.filename
        try:
            ok = hashlib.sha256(path.read_bytes()).hexdigest() == stored.info.sha256
        except OSError as exc:
            problems.append(f"{stored.info.filename}: {exc}")
            continue
        if not ok:
            problems.append(f"{stored.info.filename}: the bytes on disk are not the uploaded ones")
    leftovers = [p.name for p in root.rglob(".packyard-upload-*")]
    if leftovers:
        problems.append(f"staging files left behind: {leftovers[:5]} ({len(leftovers)})")
    return problems


# --------------------------------------------------------------------------------------
# One load phase


@dataclass
class Drive:
    """What one load phase against one server saw."""

    label: str
    samples: list[Sample]
    start: Sample
    end: Sample
    counts: dict[str, Counter[str]]
    statuses: Counter[tuple[str, int]]
    latencies: dict[str, list[float]]
    error_kinds: Counter[str]
    error_samples: list[tuple[float, str, str, str]]
    conflicts: int
    reconnects: Counter[str]
    gzipped: int
    problems: list[str] = field(default_factory=list)
    bad_lines: list[str] = field(default_factory=list)
    warnings: Counter[str] = field(default_factory=Counter)
    full_requests: int = 0  # of the full pass after the load
    full_rss: float | None = None  # MB after the full pass

    @property
    def span(self) -> float:
        return self.end.t - self.start.t

    @property
    def rps(self) -> float:
        return self.counts["run"].total() / self.span if self.span else 0.0

    @property
    def window(self) -> list[Sample]:
        """The samples of the measured window, its first and last included."""
        inside = [s for s in self.samples if self.start.t < s.t < self.end.t]
        return [self.start, *inside, self.end]

    @property
    def errors(self) -> int:
        return self.error_kinds.total() + len(self.problems)


def drive(
    server: Server,
    world: World,
    args: argparse.Namespace,
    *,
    label: str,
    warmup: float,
    duration: float,
    upload_share: float,
    auth: str,
) -> Drive:
    clock = Clock(warmup, duration)
    pid = server.pid
    workers = [
        Worker(i, server.port, world, clock, auth, upload_share, args.timeout)
        for i in range(args.connections)
    ]
    samples: list[Sample] = []
    sampling = threading.Event()

    def sampler() -> None:
        next_t = clock.t0
        while not sampling.is_set():
            samples.append(take_sample(pid, clock.t0, len(world.stored)))
            next_t += 1.0
            sampling.wait(max(0.0, next_t - time.monotonic()))

    sampler_thread = threading.Thread(target=sampler, name="sampler", daemon=True)
    sampler_thread.start()
    for w in workers:
        w.start()
    log(
        f"{label}: {args.connections} connections, {warmup:.0f} s warm-up, then "
        f"{duration:.0f} s measured (uploads {upload_share:.1%} of operations)"
    )
    start: Sample | None = None
    end: Sample | None = None
    next_note = clock.run_start + 10
    while end is None:
        now = time.monotonic()
        if start is None and now >= clock.run_start:
            start = take_sample(pid, clock.t0, len(world.stored))
            if warmup:
                log(
                    f"{label}: warm-up over: RSS {start.rss_kb / 1024:.1f} MB, {start.fds} fds, "
                    f"{start.threads} threads"
                )
        if now >= clock.run_end or server.proc.poll() is not None:
            end = take_sample(pid, clock.t0, len(world.stored))
            start = start or end
            break
        if now >= next_note:
            next_note += 10
            done = sum(w.out.counts["run"].total() for w in workers)
            errs = sum(w.out.error_kinds.total() for w in workers)
            log(
                f"{label}: t+{now - clock.run_start:3.0f} s: {done} requests, {errs} errors, "
                f"{len(world.stored)} files uploaded, RSS {status_kb(pid, 'VmRSS') / 1024:.1f} MB"
            )
        target = clock.run_start if start is None else min(clock.run_end, next_note)
        time.sleep(min(1.0, max(0.01, target - now)))
    assert start is not None
    clock.stop.set()
    for w in workers:
        w.join(args.timeout + 5)
    stuck = [w.name for w in workers if w.is_alive()]
    sampling.set()
    sampler_thread.join(5)

    result = Drive(
        label,
        samples,
        start,
        end,
        {"warmup": Counter(), "run": Counter(), "tail": Counter()},
        Counter(),
        {},
        Counter(),
        [],
        0,
        Counter(),
        0,
    )
    for w in workers:
        for phase, c in w.out.counts.items():
            result.counts[phase].update(c)
        result.statuses.update(w.out.statuses)
        for k, v in w.out.latencies.items():
            result.latencies.setdefault(k, []).extend(v)
        result.error_kinds.update(w.out.error_kinds)
        result.error_samples += w.out.errors
        result.conflicts += w.out.conflicts
        result.reconnects.update(w.out.reconnects)
        result.gzipped += w.out.gzip_answers
    result.error_samples.sort()
    if stuck:
        result.problems.append(f"{len(stuck)} load threads still waiting for an answer at the end")
    log(
        f"{label}: {result.counts['run'].total():,} requests in {result.span:.1f} s "
        f"({result.rps:,.0f} req/s), {result.errors} errors, "
        f"RSS {start.rss_kb / 1024:.1f} -> {end.rss_kb / 1024:.1f} MB"
    )
    return result


def full_pass(server: Server, world: World, result: Drive, connections: int = 16) -> None:
    """Fetch every page in every variant (HTML and JSON, with and without gzip), every
    /pypi/<p>/json, every file and every .metadata once, so that every cache is full; then
    the RSS, once settled (the mean of three samples a second apart)."""
    jobs: list[tuple[str, dict[str, str]]] = []
    variants = [
        {"Accept": a, **e}
        for a in (HTML_ACCEPT, JSON_ACCEPT)
        for e in ({}, {"Accept-Encoding": "gzip"})
    ]
    jobs += [("/simple/", v) for v in variants]
    projects = [*world.generated, *world.uploaded.values()]
    for project in projects:
        jobs += [(f"/simple/{project.name}/", v) for v in variants]
        jobs += [(f"/pypi/{project.name}/json", e) for e in ({}, {"Accept-Encoding": "gzip"})]
        for f in project.files:
            jobs.append((f.path, {}))
            if f.metadata_sha256:
                jobs.append((f.path + ".metadata", {}))
    random.Random(7).shuffle(jobs)
    lock = threading.Lock()
    failures: Counter[str] = Counter()

    def fetch_all(part: list[tuple[str, dict[str, str]]]) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            for path, headers in part:
                try:
                    conn.request("GET", path, headers=headers)
                    resp = conn.getresponse()
                    resp.read()
                    status: int | str = resp.status
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    status = exc.__class__.__name__
                if status != 200:
                    with lock:
                        failures[f"full pass: {status}"] += 1
        finally:
            conn.close()

    threads = [
        threading.Thread(target=fetch_all, args=(jobs[i::connections],), daemon=True)
        for i in range(connections)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.full_requests = len(jobs)
    result.error_kinds.update(failures)
    time.sleep(1)
    rss = []
    for _ in range(3):
        rss.append(status_kb(server.pid, "VmRSS") / 1024)
        time.sleep(1)
    result.full_rss = sum(rss) / len(rss)
    log(
        f"{result.label}: full pass of {len(jobs):,} requests, "
        f"{failures.total()} failed; RSS {result.full_rss:.1f} MB"
    )


def finish(server: Server, result: Drive) -> None:
    """Stop the server; its log's ERROR/Traceback lines count as errors."""
    result.problems += shut_down(server)
    result.bad_lines, result.warnings = log_problems(server.logfile)
    if result.bad_lines:
        result.problems.append(f"{len(result.bad_lines)} ERROR/Traceback lines in the server log")


# --------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--projects", type=int, default=500, help="generated projects (500)")
    p.add_argument("--versions", type=int, default=4, help="versions per project (4)")
    p.add_argument("--dirs", type=int, default=10, help="subdirectories (10)")
    p.add_argument("--duration", type=float, default=60, help="measured seconds (60)")
    p.add_argument("--warmup", type=float, default=10, help="warm-up seconds, not measured (10)")
    p.add_argument("--connections", type=int, default=64, help="concurrent connections (64)")
    p.add_argument(
        "--upload-share",
        type=float,
        default=0.02,
        help="share of operations that are uploads (0.02)",
    )
    p.add_argument(
        "--upload-mix",
        default="70,15,15",
        help="relative weights of new files, identical re-uploads and conflicting "
        "re-uploads among the uploads (70,15,15)",
    )
    p.add_argument(
        "--no-reference",
        action="store_true",
        help="skip the two read-only reference runs on fresh servers (before and after) that "
        "measure what the files added by the run cost in memory",
    )
    p.add_argument("--timeout", type=float, default=30, help="per-request timeout, s (30)")
    p.add_argument("--threads", type=int, help="packyard --threads (its default when omitted)")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and load to CPUs")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", type=Path, help="also write the markdown report here (+ .json)")
    p.add_argument("--keep", action="store_true", help="keep the work directory and server logs")
    args = p.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        weights = [int(w) for w in args.upload_mix.split(",")]
    except ValueError:
        weights = []
    if len(weights) != 3 or min(weights) < 0 or not sum(weights):
        p.error("--upload-mix takes three weights, e.g. 70,15,15")
    UPLOAD_MIX.update(zip(UPLOAD_MIX, weights, strict=True))
    if not 0 <= args.upload_share <= 1 or args.duration <= 0 or args.connections < 1:
        p.error("--upload-share is a fraction; --duration and --connections must be positive")
    return args


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="packyard-soak-"))
    try:
        return soak(args, workdir)
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except SetupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        stop_all()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Memory:
    """The memory numbers of the soak phase and the verdict on them."""

    growth: float  # MB, end of the warm-up to the end
    slope: float  # MB/min, second half
    whole_slope: float
    files_run: int  # files stored during the measured window
    files_per_min: float  # in the second half
    per_file_kb: float | None  # from the references
    index_growth: float  # MB the files stored in the window account for
    index_slope: float
    net_growth: float
    net_slope: float
    ref_before: float | None  # MB, fresh servers after their full pass
    ref_after: float | None
    soak_full: float | None  # MB, the soak server after its full pass
    retained: float | None  # soak_full - ref_after
    judge_slope: bool
    ok: bool


def judge_memory(soaked: Drive, ref_before: Drive | None, ref_after: Drive | None) -> Memory:
    start, end = soaked.start, soaked.end
    window = soaked.window
    half = start.t + soaked.span / 2
    second = [s for s in window if s.t >= half]
    slope = slope_mb_per_min(second)
    mid = second[0]
    files_per_min = (end.stored - mid.stored) / ((end.t - mid.t) / 60) if end.t > mid.t else 0.0
    files_run = end.stored - start.stored
    per_file_kb = retained = None
    rb = ref_before.full_rss if ref_before is not None else None
    ra = ref_after.full_rss if ref_after is not None else None
    if rb is not None and ra is not None and ref_after is not None and ref_after.end.stored:
        per_file_kb = (ra - rb) * 1024 / ref_after.end.stored
    if ra is not None and soaked.full_rss is not None:
        retained = soaked.full_rss - ra
    per_file_mb = max(per_file_kb or 0.0, 0.0) / 1024
    growth = (end.rss_kb - start.rss_kb) / 1024
    net_growth = growth - per_file_mb * files_run
    net_slope = slope - per_file_mb * files_per_min
    judge_slope = soaked.span >= 30
    ok = (
        net_growth <= MAX_GROWTH_MB
        and (not judge_slope or net_slope < MAX_SLOPE_MB_MIN)
        and (retained is None or retained <= MAX_RETAINED_MB)
    )
    return Memory(
        growth,
        slope,
        slope_mb_per_min(window),
        files_run,
        files_per_min,
        per_file_kb,
        per_file_mb * files_run,
        per_file_mb * files_per_min,
        net_growth,
        net_slope,
        rb,
        ra,
        soaked.full_rss,
        retained,
        judge_slope,
        ok,
    )


def soak(args: argparse.Namespace, workdir: Path) -> int:
    cpus = sorted(os.sched_getaffinity(0))
    taskset = shutil.which("taskset")
    pin = not args.no_pin and len(cpus) >= 2 and taskset is not None
    load_before = loadavg()
    machine = machine_description()
    started = time.monotonic()

    root = workdir / "packages"
    log(f"generating {args.projects} projects x {args.versions} versions into {root}")
    generate.generate(root, args.projects, args.versions, args.dirs, args.seed)
    generated = describe_generated(root, args.projects, args.versions, args.dirs, args.seed)
    n_files = sum(len(p.files) for p in generated)

    password = secrets.token_urlsafe(16)
    htpasswd = workdir / "htpasswd"
    htpasswd_tool = write_htpasswd(htpasswd, USER, password)
    auth = "Basic " + base64.b64encode(f"{USER}:{password}".encode()).decode()

    python = sys.executable
    cmd = [python, "-m", "packyard", "run", "-p", "0", "-i", "127.0.0.1"]
    cmd += ["-P", str(htpasswd), "-a", "update", "--disable-fallback"]
    cmd += [*(["--threads", str(args.threads)] if args.threads else []), str(root)]
    prefix = [taskset, "-c", str(cpus[0])] if pin and taskset else []
    if pin:  # the load: this process's threads, all started from here on
        os.sched_setaffinity(0, cpus[1:])
    log(f"server: {' '.join(cmd)}" + (f" on CPU {cpus[0]}" if pin else ""))
    references = not args.no_reference and args.upload_share > 0 and UPLOAD_MIX["upload-new"] > 0
    ref_time = args.warmup + max(args.duration / 2, 10)

    ref_before: Drive | None = None
    if references:
        server = launch([*prefix, *cmd], workdir / "server-ref-before.log")
        ref_before = drive(
            server,
            World(generated),
            args,
            label="reference before",
            warmup=0,
            duration=ref_time,
            upload_share=0,
            auth=auth,
        )
        full_pass(server, World(generated), ref_before)
        finish(server, ref_before)

    world = World(generated)
    server = soak_server = launch([*prefix, *cmd], workdir / "server.log")
    log(f"the server answered after {server.startup:.2f} s on port {server.port}")
    soaked = drive(
        server,
        world,
        args,
        label="soak",
        warmup=args.warmup,
        duration=args.duration,
        upload_share=args.upload_share,
        auth=auth,
    )
    if server.proc.poll() is None:
        try:
            soaked.problems += final_checks(server.port, world, root)
        except (OSError, http.client.HTTPException, ValueError, KeyError) as exc:
            soaked.problems.append(f"final checks failed: {exc!r}")
        if references:
            full_pass(server, world, soaked)
    finish(server, soaked)

    ref_after: Drive | None = None
    if references and soaked.end.stored:
        server = launch([*prefix, *cmd], workdir / "server-ref-after.log")
        reader = world.for_reads()
        ref_after = drive(
            server,
            reader,
            args,
            label="reference after",
            warmup=0,
            duration=ref_time,
            upload_share=0,
            auth=auth,
        )
        full_pass(server, reader, ref_after)
        finish(server, ref_after)
    load_after = loadavg()

    memory = judge_memory(soaked, ref_before, ref_after)
    phases = [d for d in (ref_before, soaked, ref_after) if d is not None]
    n_errors = sum(d.errors for d in phases)
    setup = [
        *machine,
        f"load average (1, 5, 15 min): {load_before} before, {load_after} after",
        f"packyard {tool_version([python, '-m', 'packyard', '--version'])} "
        f"({packyard_revision()}): `python -m packyard run -p 0 -i 127.0.0.1 -P htpasswd "
        f"-a update --disable-fallback{f' --threads {args.threads}' if args.threads else ''} "
        f"DIR`; {soak_server.banner}; answered after {soak_server.startup:.2f} s",
        f"htpasswd: one user, written with {htpasswd_tool}; every upload authenticates",
        f"directory: {n_files:,} generated files ({args.projects} projects x {args.versions} "
        f"versions x wheel+sdist in {args.dirs} subdirectories, seed {args.seed})",
        (
            f"server pinned to CPU {cpus[0]}, load to CPU {','.join(map(str, cpus[1:]))} "
            "(taskset and sched_setaffinity)"
            if pin
            else "server and load not pinned to CPUs"
        )
        + f"; {args.connections} threads, each with one persistent HTTP/1.1 connection "
        f"(http.client); per-request timeout {args.timeout:.0f} s; "
        f"took {(time.monotonic() - started) / 60:.1f} min in all",
    ]
    report = build_report(args, setup, soaked, ref_before, ref_after, memory, n_errors, world)
    print(report)
    if args.out:
        args.out.write_text(report)
        raw = args.out.with_suffix(".json")
        raw.write_text(
            json.dumps(
                {
                    d.label: {
                        "samples": [s.__dict__ for s in d.samples],
                        "start": d.start.__dict__,
                        "end": d.end.__dict__,
                        "run": dict(d.counts["run"]),
                        "statuses": {f"{k} {s}": c for (k, s), c in d.statuses.items()},
                        "errors": dict(d.error_kinds),
                        "problems": d.problems,
                    }
                    for d in phases
                },
                indent=1,
            )
        )
        log(f"wrote {args.out} and the samples to {raw}")
    return 0 if n_errors == 0 and memory.ok else 1


def build_report(
    args: argparse.Namespace,
    setup: list[str],
    soaked: Drive,
    ref_before: Drive | None,
    ref_after: Drive | None,
    memory: Memory,
    n_errors: int,
    world: World,
) -> str:
    span = soaked.span
    statuses = soaked.statuses
    lines = [
        "# packyard load and soak",
        "",
        f"`python benchmarks/soak.py {' '.join(args.argv)}`".replace(" `", "`")
        + f" - {time.strftime('%Y-%m-%d %H:%M')}",
        "",
        "## Setup",
        "",
        *[f"- {s}" for s in setup],
        f"- the mix: {args.warmup:.0f} s warm-up (not counted) then {span:.1f} s measured; "
        f"uploads are {args.upload_share:.1%} of operations "
        f"({', '.join(f'{k} {v}' for k, v in UPLOAD_MIX.items())}), reads weighted "
        f"{', '.join(f'{k} {v}' for k, v in READ_MIX.items())}; half the page requests ask "
        "for gzip; one project or file read in five goes to one uploaded during the run",
        "",
        "## Requests",
        "",
        "Counted over the measured window. Every answer is checked: its status; project "
        "pages and /pypi/<p>/json list every file the load knows the project has; downloads "
        "and .metadata files have the right sha256; /simple/ lists a random generated "
        "project; gzip bodies decompress; a 304 has no body; after each new upload the "
        "project page is fetched on the same connection and must list the file.",
        "",
        "| kind | requests | req/s | p50 ms | p99 ms | max ms | statuses (whole run) |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]

    def ms(v: float | None) -> str:
        return "-" if v is None else f"{v * 1000:.1f}"

    for kind in [*READ_MIX, *UPLOAD_MIX, "upload-visible"]:
        n = soaked.counts["run"][kind]
        lat = soaked.latencies.get(kind, [])
        st = ", ".join(f"{s}: {c:,}" for (k, s), c in sorted(statuses.items()) if k == kind)
        lines.append(
            f"| {KIND_LABELS[kind].replace('<', '&lt;').replace('>', '&gt;')} | {n:,} | "
            f"{n / span if span else 0:,.1f} | {ms(percentile(lat, 0.5))} | "
            f"{ms(percentile(lat, 0.99))} | {ms(max(lat) if lat else None)} | {st} |"
        )
    run_total = soaked.counts["run"].total()
    reconnects = soaked.reconnects
    cpus_load = len(os.sched_getaffinity(0))
    cpu_server = (soaked.end.server_cpu_s - soaked.start.server_cpu_s) / span if span else 0
    cpu_load = (soaked.end.load_cpu_s - soaked.start.load_cpu_s) / span if span else 0
    lines += [
        f"| **total** | **{run_total:,}** | **{soaked.rps:,.0f}** | | | | |",
        "",
        f"- warm-up requests (not counted above): {soaked.counts['warmup'].total():,}; "
        f"answered after the end: {soaked.counts['tail'].total():,}",
        f"- uploads stored: {len(world.stored):,} new files ({memory.files_run:,} in the "
        f"measured window) in {len(world.uploaded):,} new projects; identical re-uploads "
        f"answered 200: {statuses[('upload-identical', 200)]:,}; expected conflicts (409, "
        f"same filename, other bytes): {soaked.conflicts:,}",
        f"- the index at the end: {len(world.generated_files) + len(world.stored):,} files of "
        f"{len(world.generated) + len(world.uploaded):,} projects",
        f"- gzip answers decompressed: {soaked.gzipped:,}; connections the server closed "
        f"after an answer (reopened by the client): {reconnects.total():,}"
        + (
            " (after " + ", ".join(f"{k}: {n:,}" for k, n in reconnects.most_common()) + ")"
            if reconnects
            else ""
        ),
        f"- server CPU: {cpu_server:.0%} of one core; load generator CPU: {cpu_load:.0%} "
        f"(of {cpus_load} core{'s' if cpus_load > 1 else ''})",
        "",
        "## Server resources",
        "",
        "Sampled every second from /proc/<pid>/status (VmRSS, Threads) and /proc/<pid>/fd. "
        "The start is the end of the warm-up; the slope is a least-squares line through "
        "the samples of the second half of the measured window.",
        "",
        "| | start | end | max | |",
        "|---|---:|---:|---:|---|",
    ]
    window = soaked.window
    rss_max = max(s.rss_kb for s in window) / 1024
    rss_max_all = max(s.rss_kb for s in [*soaked.samples, *window]) / 1024
    lines += [
        f"| RSS MB | {soaked.start.rss_kb / 1024:.1f} | {soaked.end.rss_kb / 1024:.1f} | "
        f"{rss_max:.1f} | growth {memory.growth:+.1f} MB; slope {memory.slope:+.2f} MB/min in "
        f"the second half, {memory.whole_slope:+.2f} MB/min over the run; max including the "
        f"warm-up {rss_max_all:.1f} MB |",
        f"| of which RssAnon MB | {soaked.start.anon_kb / 1024:.1f} | "
        f"{soaked.end.anon_kb / 1024:.1f} | {max(s.anon_kb for s in window) / 1024:.1f} | "
        "the heap; the rest is mapped code and shared memory |",
        f"| open fds | {soaked.start.fds} | {soaked.end.fds} | {max(s.fds for s in window)} | |",
        f"| threads | {soaked.start.threads} | {soaked.end.threads} | "
        f"{max(s.threads for s in window)} | |",
        f"| files uploaded | {soaked.start.stored:,} | {soaked.end.stored:,} | | "
        f"{memory.files_per_min:,.0f} per minute in the second half |",
        "",
        "RSS (MB) every 10 s from the start of the load (warm-up included): "
        + ", ".join(
            f"{s.t:.0f} s {s.rss_kb / 1024:.1f}" for s in soaked.samples if round(s.t) % 10 == 0
        ),
        "",
    ]
    if (
        ref_before is not None
        and ref_after is not None
        and memory.ref_before is not None
        and memory.ref_after is not None
        and memory.soak_full is not None
        and memory.retained is not None
        and memory.per_file_kb is not None
    ):
        lines += [
            "What the added files cost, and what the run left behind: a fresh packyard on "
            "the directory before the run and another on the directory after it, each driven "
            f"with the same reads (no uploads) for {ref_before.span:.0f} s and then given a "
            "full pass (every page in HTML and JSON with and without gzip, every "
            "/pypi/<p>/json, file and .metadata once, so that every cache is full); the soak "
            "server got the same full pass right after its run. RSS after the full pass "
            "(mean of 3 samples a second apart):",
            "",
            "| server | files | reads req/s | full pass requests | RSS MB | errors |",
            "|---|---:|---:|---:|---:|---:|",
            f"| fresh, before the run | {len(world.generated_files):,} | {ref_before.rps:,.0f} | "
            f"{ref_before.full_requests:,} | {memory.ref_before:.1f} | {ref_before.errors} |",
            f"| the soak server, after the run | "
            f"{len(world.generated_files) + len(world.stored):,} | - | "
            f"{soaked.full_requests:,} | {memory.soak_full:.1f} | - |",
            f"| fresh, after the run | {len(world.generated_files) + ref_after.end.stored:,} | "
            f"{ref_after.rps:,.0f} | {ref_after.full_requests:,} | {memory.ref_after:.1f} | "
            f"{ref_after.errors} |",
            "",
            f"An added file costs {memory.per_file_kb:.1f} kB with all its caches full, so "
            f"at most {memory.index_growth:.1f} MB of the growth (the {memory.files_run:,} "
            f"files stored in the measured window) and {memory.index_slope:+.2f} MB/min of the "
            f"slope ({memory.files_per_min:,.0f} files a minute) are the index growing (at "
            "most: during the run not every new file's pages and bytes were cached yet). "
            f"After the full pass the soak server holds {memory.retained:+.1f} MB compared "
            "with the fresh one on the same files: what the run left behind.",
            "",
        ]
    lines += ["## Verdicts", ""]
    lines.append(
        f"- errors: {n_errors} ({'met' if n_errors == 0 else 'MISSED'}; any unexpected "
        "status, 5xx, wrong body, connection error or timeout, ERROR/Traceback line in a "
        "server log, unclean shutdown or failed final check counts"
        + ("; reference runs included)" if ref_before else ")")
    )
    if memory.per_file_kb is not None:
        net = (
            f"; less what the added files cost (above): growth {memory.net_growth:+.1f} MB, "
            f"slope {memory.net_slope:+.2f} MB/min"
        )
    elif memory.files_run:
        net = "; the files added are not subtracted (no reference runs)"
    else:
        net = ""
    slope_rule = (
        f", that slope below {MAX_SLOPE_MB_MIN:.0f} MB/min"
        if memory.judge_slope
        else " (the slope is not judged in runs shorter than 30 s)"
    )
    retained = (
        f"; left behind after the run {memory.retained:+.1f} MB"
        if memory.retained is not None
        else ""
    )
    retained_rule = (
        f" and at most {MAX_RETAINED_MB:.0f} MB left behind" if memory.retained is not None else ""
    )
    lines.append(
        f"- memory: growth {memory.growth:+.1f} MB over the run, slope {memory.slope:+.2f} "
        f"MB/min in the second half{net}{retained} ({'met' if memory.ok else 'MISSED'}: met "
        f"if that growth is at most {MAX_GROWTH_MB:.0f} MB{slope_rule}{retained_rule})"
    )
    lines.append("")
    for d in (ref_before, soaked, ref_after):
        if d is None or not d.errors:
            continue
        lines += [f"## Errors ({d.label})", ""]
        lines += [f"- {n} x {what}" for what, n in d.error_kinds.most_common(30)]
        lines += [f"- {p}" for p in d.problems[:30]]
        if d.error_samples:
            lines += ["", "First errors (seconds since the load started, kind, path, what):", ""]
            lines += [f"- {t:.1f} s {k} `{p}`: {w}" for t, k, p, w in d.error_samples[:20]]
        if d.bad_lines:
            lines += ["", "ERROR/Traceback lines of its server log:", "", "```"]
            lines += [*d.bad_lines[:40], "```"]
        lines.append("")
    if soaked.warnings:
        lines += ["## Server log: warnings", ""]
        lines += [f"- {n} x {w}" for w, n in soaked.warnings.most_common(10)]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        stop_all()
        sys.exit(1)

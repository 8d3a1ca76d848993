"""Authenticated reads: an index protected for reads with cost-12 bcrypt against an open one.

    python benchmarks/auth.py [--duration 10] [--repeat 3] [--out REPORT.md]

pip sends its credentials on every request, and one bcrypt verification at cost 12
takes a quarter of a second of CPU; packyard keeps verified credentials for a minute
(docs/authentication.md) so that a protected index serves about as fast as an open one.
This measures it: two packyard servers on copies of one generated directory,

- open: ``-P . -a .``
- protected: ``-P HTPASSWD -a list,download`` (one user, ``htpasswd -B -C 12``)

and wrk on a project page, with ``Authorization: Basic`` on every request to both
(the open server ignores it), in alternating rounds; the runner's helpers (run.py)
start, pin and measure the servers. Target: the protected server serves at least half
the open one's rate.
"""

from __future__ import annotations

import argparse
import base64
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import run  # the benchmark runner's helpers (same directory)
from run import generate

USER, PASSWORD = "bench", "bench-password"
TOKEN = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--projects", type=int, default=500)
    p.add_argument("--duration", type=int, default=10, help="wrk seconds per cell (10)")
    p.add_argument("--repeat", type=int, default=3, help="rounds, servers alternating (3)")
    p.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    p.add_argument("--threads", type=int, default=4, help="packyard --threads (4)")
    p.add_argument("--cost", type=int, default=12, help="bcrypt cost of the user (12)")
    p.add_argument("--out", type=Path, help="also write the markdown report here")
    p.add_argument("--no-pin", action="store_true", help="do not pin server and wrk to CPUs")
    args = p.parse_args(argv)
    args.wrk_threads, args.wrk_timeout = 1, 30
    return args


def start(key: str, cmd: list[str], port: int, workdir: Path) -> run.Server:
    server = run.Server(key, key, cmd, port, workdir / f"{key}.log", None)
    server.proc = run.spawn(cmd, server.logfile)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if run.http_get(port, "/health", timeout=5).status == 200:
                run.pin_server(server)
                return server
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{key} did not start: {server.log_tail()}")


def report(args: argparse.Namespace, page: str, cells: dict[str, list[run.WrkResult]]) -> str:
    lines = [
        "| server | round | req/s | p50 ms | p99 ms | server CPU ms/req | non-2xx |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, results in cells.items():
        for n, r in enumerate(results, 1):
            lines.append(
                f"| {key} | {n} | {r.rps:,.0f} | {run.fmt_ms(r.p50_ms)} | {run.fmt_ms(r.p99_ms)}"
                f" | {run.fmt_num(r.cpu_ms_per_req, 3)} | {r.non2xx} |"
            )
    pairs = zip(cells["protected"], cells["open"], strict=True)
    ratios = [p.rps / o.rps for p, o in pairs if o.rps]
    ratio = statistics.median(ratios) if ratios else 0.0
    verdict = "met" if ratio >= 0.5 else "MISSED"
    head = [
        f"`{page}` with `Authorization: Basic` on every request, wrk `-c {args.connections} "
        f"-t 1 -d {args.duration}s`, {args.repeat} rounds, packyard `--threads {args.threads}`,"
        f" bcrypt cost {args.cost}, {args.projects} projects.",
        "",
        f"Protected / open, median of the paired rounds: **{ratio:.3f}x** "
        f"(target at least 0.5x: {verdict}); each round: " + ", ".join(f"{r:.3f}" for r in ratios),
        "",
    ]
    return "\n".join(head + lines) + "\n"


def benchmark(args: argparse.Namespace, workdir: Path) -> int:
    wrk = run.ensure_wrk()
    cpus = sorted(run.ALL_CPUS)
    taskset = shutil.which("taskset")
    if not args.no_pin and taskset and len(cpus) >= 2:
        run.PIN["server"] = [taskset, "-c", str(cpus[0])]
        run.PIN["load"] = [taskset, "-c", ",".join(str(c) for c in cpus[1:])]
    source = workdir / "source"
    generate.generate(source, args.projects, 2, 10, 1)
    project = generate.plan(args.projects, 2, 1)[args.projects // 2]
    page = f"/simple/{project.canonical}/"
    htpasswd = workdir / "htpasswd"
    subprocess.run(
        ["htpasswd", "-c", "-b", "-B", "-C", str(args.cost), htpasswd, USER, PASSWORD],
        check=True,
        capture_output=True,
    )
    servers: dict[str, run.Server] = {}
    for key, guard in (
        ("open", ["-P", ".", "-a", "."]),
        ("protected", ["-P", str(htpasswd), "-a", "list,download"]),
    ):
        run.copy_tree(source, workdir / key)
        port = run.free_port()
        cmd = [sys.executable, "-m", "packyard", "run", "-p", str(port), "-i", "127.0.0.1"]
        cmd += [*guard, "--disable-fallback", "--threads", str(args.threads), str(workdir / key)]
        servers[key] = start(key, cmd, port, workdir)
        servers[key].endpoints["page"] = (page, {"Authorization": f"Basic {TOKEN}"})
        check = run.http_get(port, page, {"Authorization": f"Basic {TOKEN}"})
        if check.status != 200:
            raise SystemExit(f"{key}: {page} answered {check.status}")
    if run.http_get(servers["protected"].port, page).status != 401:
        raise SystemExit("the protected server answered without credentials")
    cells: dict[str, list[run.WrkResult]] = {key: [] for key in servers}
    for n in range(args.repeat):
        for key, server in servers.items():
            result = run.run_wrk(wrk, server, "page", args)
            run.log(f"round {n + 1} {key}: {result.rps:,.0f} req/s {result.failed or ''}")
            cells[key].append(result)
    text = report(args, page, cells)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, run.on_signal)
    workdir = Path(tempfile.mkdtemp(prefix="packyard-bench-auth-"))
    try:
        return benchmark(args, workdir)
    except KeyboardInterrupt:
        return 130
    finally:
        run.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())

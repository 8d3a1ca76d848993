"""scripts/serve on a machine without a package index (issue 12, item 19).

The script runs from a copy of the project whose .venv is complete: a venv of its own
(so nothing the script does can touch the test suite's .venv) that sees the suite's
installed packages through a .pth file. pip is pointed at an index that refuses every
connection, as on an air-gapped host: the server must start without asking it.
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import urllib.request
from pathlib import Path

from helpers import clean_environ

REPO = Path(__file__).resolve().parents[2]
BANNER = re.compile(r"serving .* at (http://127\.0\.0\.1:\d+/)")
OFFLINE = {
    "PIP_INDEX_URL": "http://127.0.0.1:9/simple/",  # the discard port: refused at once
    "PIP_NO_CACHE_DIR": "1",
    "PIP_CONFIG_FILE": os.devnull,
    "PIP_RETRIES": "0",
    "PIP_TIMEOUT": "2",
    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
}


def project_copy(tmp_path: Path) -> Path:
    """scripts/serve, pyproject.toml and src/ in a directory of their own."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "serve", project / "scripts" / "serve")
    shutil.copy2(REPO / "pyproject.toml", project / "pyproject.toml")
    (project / "src").symlink_to(REPO / "src")
    return project


def complete_venv(project: Path) -> None:
    """A .venv from which packyard imports, installed after pyproject.toml changed."""
    venv = project / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    purelib = sysconfig.get_paths()["purelib"]  # the suite's site-packages (read only)
    [site_packages] = venv.glob("lib/python*/site-packages")
    (site_packages / "suite.pth").write_text(f"import site; site.addsitedir({purelib!r})\n")
    stat = (project / "pyproject.toml").stat()
    os.utime(project / "pyproject.toml", (stat.st_atime, stat.st_mtime - 60))
    (venv / ".packyard-installed").touch()


def run_serve(project: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["bash", str(project / "scripts" / "serve"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=clean_environ({**OFFLINE, "PYTHON": sys.executable}),
    )


def wait_for_banner(proc: subprocess.Popen[str], timeout: float) -> tuple[str | None, str]:
    """(the server's URL or None if it exited first, everything it printed)."""
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    while (line := lines.get(timeout=timeout)) is not None:
        if match := BANNER.search(line):
            return match.group(1), "".join(output)
    return None, "".join(output)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_serve_starts_without_a_package_index_once_the_venv_is_complete(tmp_path: Path) -> None:
    project = project_copy(tmp_path)
    complete_venv(project)
    proc = run_serve(project, "-p", "0", "-i", "127.0.0.1")
    try:
        url, output = wait_for_banner(proc, timeout=60)
        assert url is not None, output
        with urllib.request.urlopen(url + "health", timeout=15) as resp:
            assert resp.status == 200
        assert "pip" not in output.lower(), output  # pip was never run
    finally:
        stop(proc)
    assert (project / "packages").is_dir()


def test_serve_installs_when_packyard_cannot_be_imported(tmp_path: Path) -> None:
    # A .venv without packyard (and without pip, so that nothing is downloaded even
    # where an index is reachable): the script must try to install, fail, and stop
    # without writing its stamp.
    project = project_copy(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", project / ".venv"], check=True, timeout=120
    )
    proc = run_serve(project, "-p", "0", "-i", "127.0.0.1")
    try:
        url, output = wait_for_banner(proc, timeout=60)
    finally:
        stop(proc)
    assert url is None, output
    assert proc.returncode != 0
    assert "No module named pip" in output
    assert not (project / ".venv" / ".packyard-installed").exists()

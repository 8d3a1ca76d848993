"""Start-up errors of the command line, run as real processes.

Every mistake in the options, the environment or the directories must end the process
with exit code 2 and exactly one line on stderr, ``pypi-server: error: ...``, and never
a traceback.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import clean_environ

SCRIPT = Path(sys.executable).parent / "pypi-server"
MODULE = (sys.executable, "-m", "packyard")


def run_cli(
    *args: str | Path,
    env: dict[str, str] | None = None,
    script: bool = False,
    timeout: float = 30,
) -> subprocess.CompletedProcess[str]:
    """Run the command line to completion (these invocations must not start a server)."""
    cmd = [str(SCRIPT)] if script else list(MODULE)
    cmd += [str(a) for a in args]
    return subprocess.run(
        cmd, env=clean_environ(env), capture_output=True, text=True, timeout=timeout
    )


def assert_usage_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """Exit code 2, one stderr line starting 'pypi-server: error:' naming ``fragments``."""
    report = f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, report
    assert "Traceback" not in result.stderr + result.stdout, report
    lines = result.stderr.splitlines()
    assert len(lines) == 1, report
    line = lines[0]
    assert line.startswith("pypi-server: error: "), report
    for fragment in fragments:
        assert fragment in line, report
    return line


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    directory = tmp_path / "packages"
    directory.mkdir()
    return directory


# --- the packages directory -----------------------------------------------------------


def test_nonexistent_packages_dir(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    line = assert_usage_error(run_cli("run", missing), str(missing))
    assert "does not exist" in line


def test_nonexistent_packages_dir_console_script(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    assert_usage_error(run_cli("run", missing, script=True), str(missing), "does not exist")


def test_file_given_as_packages_dir(tmp_path: Path) -> None:
    regular = tmp_path / "a-file.txt"
    regular.write_text("not a directory\n")
    assert_usage_error(run_cli("run", regular), str(regular), "not a directory")


def test_second_packages_dir_missing(packages: Path, tmp_path: Path) -> None:
    """Every directory is checked, not only the first (the one uploads go to)."""
    missing = tmp_path / "second"
    assert_usage_error(run_cli("run", packages, missing), str(missing))


def test_unreadable_packages_dir(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        # chmod 000 does not stop root; a directory below a regular file cannot be
        # listed by anyone.
        regular = tmp_path / "a-file"
        regular.write_text("x")
        target = regular / "packages"
        assert_usage_error(run_cli("run", target), str(target))
        return
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0)
    try:
        assert_usage_error(run_cli("run", locked), str(locked), "cannot be read")
    finally:
        locked.chmod(0o700)


def test_packages_dir_that_cannot_be_examined(tmp_path: Path) -> None:
    """A directory that cannot even be stat'ed: one line, no traceback."""
    if os.geteuid() == 0:
        # root passes every permission check; a name longer than the file system
        # allows fails stat() in a way exists() does not swallow.
        target = tmp_path / ("p" * 300)
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        target = locked / "packages"
        target.mkdir()
        locked.chmod(0)
    try:
        assert_usage_error(run_cli("run", target))
    finally:
        if os.geteuid() != 0:
            (tmp_path / "locked").chmod(0o700)


# --- option values --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(("-p", "abc"), ("--port", "abc"), id="port-not-a-number"),
        pytest.param(("--port", "70000"), ("--port", "70000"), id="port-out-of-range"),
        pytest.param(("-p", "-1"), ("-p",), id="port-negative"),
        pytest.param(("--hash-algo", "nope"), ("--hash-algo", "nope"), id="hash-algo"),
        pytest.param(("-P", "."), ("-P .", "-a ."), id="no-passwords-alone"),
        pytest.param(("-a", "."), ("-a .", "-P ."), id="no-auth-alone"),
        pytest.param(
            ("-P", "/nonexistent/htpasswd"), ("/nonexistent/htpasswd",), id="missing-htpasswd"
        ),
        pytest.param(("-P", "/"), ("password file /",), id="htpasswd-is-a-directory"),
        pytest.param(("-a", "upload"), ("upload",), id="unknown-auth-action"),
        pytest.param(("--health-endpoint", "/simple"), ("/simple",), id="health-shadows"),
        pytest.param(
            ("--health-endpoint", "/packages/x"), ("/packages",), id="health-below-packages"
        ),
        pytest.param(("--log-stream", "bogus"), ("--log-stream", "bogus"), id="log-stream"),
        pytest.param(("--log-frmt", "%(nosuchfield)s"), ("--log-frmt",), id="log-format"),
        pytest.param(("--fallback-url", "ftp://x/"), ("--fallback-url",), id="fallback-url"),
        pytest.param(("--no-such-option",), ("--no-such-option",), id="unknown-option"),
        pytest.param(("-p",), ("-p",), id="missing-value"),
        pytest.param(("--welcome", "/nonexistent/w.html"), ("/nonexistent/w.html",), id="welcome"),
        # limits
        pytest.param(
            ("--max-form-fields", "0"), ("the number of form fields must be from 1",), id="fields"
        ),
        pytest.param(("--max-header-size", "lots"), ("not a size",), id="header-size"),
        pytest.param(
            ("--channel-timeout", "-1"), ("the channel timeout must be from 1",), id="timeout"
        ),
        # reverse proxies
        pytest.param(
            ("--trusted-proxy", "example.com"),
            ("not an IP address or network: 'example.com'",),
            id="proxy-name",
        ),
        pytest.param(("--trusted-proxy", "*,10.0.0.1"), ("'*' must be given alone",), id="proxy-*"),
        pytest.param(("--server-base-url", "pypi"), ("must start with '/'",), id="base-relative"),
        pytest.param(
            ("--server-base-url", "https://host/pypi"),
            ("give the path only, not a URL",),
            id="base-url",
        ),
        pytest.param(
            ("--server-base-url", "/a/../b"), ("not a usable path prefix",), id="base-dots"
        ),
    ],
)
def test_bad_option(packages: Path, args: tuple[str, ...], fragments: tuple[str, ...]) -> None:
    # The packages directory comes first so that a missing option value swallows nothing.
    assert_usage_error(run_cli("run", packages, *args), *fragments)


def test_bad_option_console_script(packages: Path) -> None:
    assert_usage_error(run_cli("run", "-p", "abc", packages, script=True), "abc")


def test_bad_option_before_subcommand(packages: Path) -> None:
    assert_usage_error(run_cli("--port", "70000", "run", packages), "70000")


def test_bad_option_legacy_form(packages: Path) -> None:
    assert_usage_error(run_cli("-p", "abc", packages), "abc")


def test_log_file_in_missing_directory(packages: Path, tmp_path: Path) -> None:
    log_file = tmp_path / "no-such-dir" / "packyard.log"
    assert_usage_error(run_cli("run", "--log-file", log_file, packages), str(log_file))


# --- the environment ------------------------------------------------------------------


def test_bad_port_in_environment(packages: Path) -> None:
    result = run_cli("run", packages, env={"PYPISERVER_PORT": "abc"})
    assert_usage_error(result, "PYPISERVER_PORT", "abc")


def test_bad_flag_in_environment(packages: Path) -> None:
    result = run_cli("run", packages, env={"PYPISERVER_DISABLE_FALLBACK": "maybe"})
    assert_usage_error(result, "PYPISERVER_DISABLE_FALLBACK", "maybe")


def test_bad_hash_algo_in_environment(packages: Path) -> None:
    result = run_cli("run", packages, env={"PYPISERVER_HASH_ALGO": "nope"})
    assert_usage_error(result, "PYPISERVER_HASH_ALGO")


def test_missing_packages_dir_from_environment(tmp_path: Path) -> None:
    missing = tmp_path / "from-env"
    result = run_cli("run", env={"PYPISERVER_PACKAGES_DIR": str(missing)})
    assert_usage_error(result, str(missing), "does not exist")


# --- help and version -----------------------------------------------------------------


def _version() -> str:
    from packyard import __version__

    return __version__


@pytest.mark.parametrize("script", [False, True], ids=["module", "console-script"])
def test_version(script: bool) -> None:
    result = run_cli("--version", script=script)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == _version()
    assert result.stderr == ""


def test_version_after_subcommand() -> None:
    result = run_cli("run", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == _version()


@pytest.mark.parametrize(
    "args",
    [("-h",), ("--help",), ("run", "-h"), ("run", "--help")],
    ids=["h", "help", "run-h", "run-help"],
)
def test_help(args: tuple[str, ...]) -> None:
    result = run_cli(*args, script=True)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "--port" in result.stdout
    assert "PYPISERVER_" in result.stdout
    assert "--hash-algo" in result.stdout

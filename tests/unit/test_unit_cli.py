"""The command line: subcommand detection, option precedence, and start-up errors.

main() runs in-process; every case here fails (or exits) before serving, and a guard
makes sure the server is never started.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from packyard import __version__, cli
from packyard.cli import main, parse_config, split_subcommand


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No PYPISERVER_* from this machine; the root logger restored; no server ever."""
    for key in list(os.environ):
        if key.startswith("PYPISERVER_"):
            monkeypatch.delenv(key)
    from packyard import server

    def no_serving(*args: object, **kwargs: object) -> int:
        raise AssertionError("main() went on to start the server")

    monkeypatch.setattr(server, "run", no_serving)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    watchdog_level = logging.getLogger("watchdog").level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("watchdog").setLevel(watchdog_level)


# --- split_subcommand


@pytest.mark.parametrize(
    ("argv", "command", "rest"),
    [
        (["run", "-p", "8080", "d"], "run", ["-p", "8080", "d"]),
        (["-p", "8080", "run", "d"], "run", ["-p", "8080", "d"]),
        (["-p", "run"], None, ["-p", "run"]),  # "run" is the port value: legacy form
        (["--port", "run"], None, ["--port", "run"]),
        (["--port=8080", "run"], "run", ["--port=8080"]),
        (["-p8080", "run", "d"], "run", ["-p8080", "d"]),
        (["-vv", "run"], "run", ["-vv"]),
        (["-v", "-v", "run", "d"], "run", ["-v", "-v", "d"]),
        (["--fallback-url", "http://x", "run"], "run", ["--fallback-url", "http://x"]),
        (["--fallback", "http://x", "run"], "run", ["--fallback", "http://x"]),  # abbreviated
        (["--disable-fallback", "run", "d"], "run", ["--disable-fallback", "d"]),
        (["-P", ".", "-a", ".", "run", "d"], "run", ["-P", ".", "-a", ".", "d"]),
        (["-i", "run", "run"], "run", ["-i", "run"]),  # host named "run", then the command
        # combined short flags, the last one taking the next argument as its value
        (["-vvp", "8080", "run", "d"], "run", ["-vvp", "8080", "d"]),
        (["./packages"], None, ["./packages"]),
        (["-p", "8080", "./packages"], None, ["-p", "8080", "./packages"]),
        (["d", "run"], None, ["d", "run"]),  # a directory first: legacy form
        (["--", "run"], None, ["--", "run"]),
        ([], None, []),
    ],
)
def test_split_subcommand(argv: list[str], command: str | None, rest: list[str]) -> None:
    assert split_subcommand(argv) == (command, rest)


# --- parse_config


def test_options_before_and_after_the_subcommand() -> None:
    config, legacy = parse_config(["-v", "--hash-algo", "md5", "run", "-p", "1234", "d"], {})
    assert legacy is False
    assert config.verbose == 1
    assert config.hash_algo == "md5"
    assert config.port == 1234
    assert config.roots == (Path("d"),)


def test_legacy_form() -> None:
    config, legacy = parse_config(["-p", "1234", "d"], {})
    assert legacy is True
    assert config.port == 1234
    assert config.roots == (Path("d"),)


def test_directories_intermixed_with_options() -> None:
    config, _ = parse_config(["run", "a", "-p", "1", "b", "-v", "c"], {})
    assert config.roots == (Path("a"), Path("b"), Path("c"))
    assert (config.port, config.verbose) == (1, 1)


@pytest.mark.parametrize(
    ("argv", "environ", "port"),
    [
        (["run", "d"], {}, 8080),
        (["run", "d"], {"PYPISERVER_PORT": "9000"}, 9000),
        (["run", "-p", "1234", "d"], {"PYPISERVER_PORT": "9000"}, 1234),
        (["-p", "1234", "run", "d"], {"PYPISERVER_PORT": "9000"}, 1234),
        (["run", "--port=0", "d"], {"PYPISERVER_PORT": "9000"}, 0),
    ],
)
def test_environment_below_command_line(
    argv: list[str], environ: dict[str, str], port: int
) -> None:
    config, _ = parse_config(argv, environ)
    assert config.port == port


@pytest.mark.parametrize(
    ("argv", "environ", "roots"),
    [
        (["run"], {"PYPISERVER_PACKAGES_DIR": "a:b"}, (Path("a"), Path("b"))),
        (["run", "c"], {"PYPISERVER_PACKAGES_DIR": "a:b"}, (Path("c"),)),
    ],
)
def test_packages_dir_from_environment(
    argv: list[str], environ: dict[str, str], roots: tuple[Path, ...]
) -> None:
    assert parse_config(argv, environ)[0].roots == roots


def test_flags_from_environment_and_command_line() -> None:
    env = {
        "PYPISERVER_DISABLE_FALLBACK": "yes",
        "PYPISERVER_VERBOSE": "2",
        "PYPISERVER_HASH_ALGO": "off",
    }
    config, _ = parse_config(["run", "d"], env)
    assert (config.disable_fallback, config.verbose, config.hash_algo) == (True, 2, None)
    config, _ = parse_config(["run", "-v", "--hash-algo", "sha1", "d"], env)
    assert (config.verbose, config.hash_algo) == (1, "sha1")


def test_open_server_from_the_command_line() -> None:
    config, _ = parse_config(["run", "-P", ".", "-a", ".", "d"], {})
    assert config.password_file is None
    assert config.authenticate == frozenset()


def test_open_server_from_the_environment() -> None:
    env = {"PYPISERVER_PASSWORDS": ".", "PYPISERVER_AUTHENTICATE": "."}
    config, _ = parse_config(["run", "d"], env)
    assert config.authenticate == frozenset()


# --- main(): start-up errors


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("pypi-server: error:"), err
    return lines[0]


@pytest.fixture
def start_up_files(tmp_path: Path) -> dict[str, str]:
    """Paths for the error cases: a packages directory, a plain file, a non-UTF-8 file."""
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "file.txt").write_text("x")
    (tmp_path / "latin1.html").write_bytes(b"\xff\xfe<html>\x80\x81</html>")
    return {"tmp": str(tmp_path), "pkgs": str(tmp_path / "pkgs")}


# argv ({tmp} and {pkgs} are filled in), a word the one-line message must contain
ERROR_CASES = [
    pytest.param(["run", "{tmp}/nope"], "does not exist", id="missing directory"),
    pytest.param(["run", "{tmp}/file.txt"], "not a directory", id="file as directory"),
    pytest.param(["run", "-p", "abc", "{pkgs}"], "port", id="bad port"),
    pytest.param(["run", "-p", "70000", "{pkgs}"], "port", id="port out of range"),
    pytest.param(["run", "--port=-1", "{pkgs}"], "port", id="negative port"),
    pytest.param(["run", "--hash-algo", "nope", "{pkgs}"], "hash", id="bad hash algo"),
    pytest.param(["run", "-P", ".", "{pkgs}"], "-a .", id="-P . alone"),
    pytest.param(["run", "-a", ".", "{pkgs}"], "-P .", id="-a . alone"),
    pytest.param(["run", "--no-such-option", "{pkgs}"], "--no-such-option", id="unknown option"),
    pytest.param(["--bogus", "run", "{pkgs}"], "--bogus", id="unknown option before run"),
    pytest.param(["run", "{pkgs}", "-p"], "-p", id="missing value"),
    pytest.param(["run", "-a", "upload", "{pkgs}"], "upload", id="bad authenticate"),
    pytest.param(
        ["run", "--health-endpoint", "/simple", "{pkgs}"], "/simple", id="bad health endpoint"
    ),
    pytest.param(
        ["run", "-P", "{tmp}/no-htpasswd", "{pkgs}"], "no-htpasswd", id="unreadable -P file"
    ),
    pytest.param(
        ["run", "--welcome", "{tmp}/no.html", "{pkgs}"], "no.html", id="missing welcome file"
    ),
    pytest.param(
        ["run", "--welcome", "{tmp}/latin1.html", "{pkgs}"], "UTF-8", id="non-UTF-8 welcome"
    ),
    pytest.param(["run", "--log-stream", "file", "{pkgs}"], "stdout", id="bad log stream"),
    pytest.param(["run", "--log-frmt", "%(nope)s", "{pkgs}"], "format", id="bad log format"),
    pytest.param(
        ["run", "--log-file", "{tmp}/no/dir/x.log", "{pkgs}"], "x.log", id="unwritable log file"
    ),
]


@pytest.mark.parametrize(("argv", "word"), ERROR_CASES)
def test_main_start_up_error_is_one_line_and_exit_2(
    argv: list[str],
    word: str,
    start_up_files: dict[str, str],
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = [
        a.replace("{tmp}", start_up_files["tmp"]).replace("{pkgs}", start_up_files["pkgs"])
        for a in argv
    ]
    assert main(args) == 2
    line = _one_line_error(capsys)
    assert word in line


@pytest.mark.parametrize(
    ("environ", "word"),
    [
        ({"PYPISERVER_PORT": "abc"}, "PYPISERVER_PORT"),
        ({"PYPISERVER_HASH_ALGO": "nope"}, "PYPISERVER_HASH_ALGO"),
        ({"PYPISERVER_PASSWORDS": "."}, "-a ."),
    ],
)
def test_main_environment_error_is_one_line_and_exit_2(
    environ: dict[str, str],
    word: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    assert main(["run", str(tmp_path)]) == 2
    assert word in _one_line_error(capsys)


def test_main_legacy_form_error_ends_with_the_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[-1].startswith("pypi-server: error:")
    assert "does not exist" in lines[-1]
    assert all(line.startswith("pypi-server: ") for line in lines)


def test_main_nothing_on_stdout_for_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", "-p", "abc", str(tmp_path)]) == 2
    assert capsys.readouterr().out == ""


# --- main(): --version and help


def _exit_code(argv: list[str]) -> int:
    try:
        code = main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return code


@pytest.mark.parametrize("argv", [["--version"], ["run", "--version"]])
def test_main_version(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code in (0, None)
    assert capsys.readouterr().out.strip() == __version__


@pytest.mark.parametrize("argv", [["-h"], ["--help"], ["-p", "1", "-h"]])
def test_main_top_level_help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(argv) == 0
    out = capsys.readouterr().out
    assert "run" in out
    assert "--port" in out
    assert "--hash-algo" in out


def test_main_run_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit_code(["run", "-h"]) == 0
    out = capsys.readouterr().out
    assert "pypi-server run" in out
    for flag in ("--port", "--passwords", "--authenticate", "--health-endpoint"):
        assert flag in out


def test_prog_name() -> None:
    assert cli.PROG == "pypi-server"


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--server", "gunicorn", "d"],
        ["--server", "gunicorn", "run", "d"],
        ["--server=gunicorn", "d"],
    ],
)
def test_pypiservers_server_option_is_accepted_and_ignored(argv: list[str]) -> None:
    warnings: list[str] = []
    config, _ = parse_config(argv, {}, warnings)
    assert [str(r) for r in config.roots] == ["d"]
    assert warnings == [
        "--server gunicorn is ignored: packyard always serves with waitress; for several "
        "processes run gunicorn with packyard.wsgi (docs/serving.md)"
    ]


def test_every_ignored_pypiserver_option_warns_once() -> None:
    warnings: list[str] = []
    argv = ["run", "--backend", "cached-dir", "--log-req-frmt", "%(x)s", "--log-res-frmt", "a"]
    config, _ = parse_config([*argv, "--log-err-frmt", "b", "-p", "9"], {}, warnings)
    assert config.port == 9
    assert [w.split(" ", 1)[0] for w in warnings] == [
        "--backend",
        "--log-req-frmt",
        "--log-res-frmt",
        "--log-err-frmt",
    ]
    assert all(" is ignored: " in w for w in warnings)


def test_legacy_dash_u_runs_update(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["-U", "--help"])
    assert exit_info.value.code == 0
    captured = capsys.readouterr()
    assert "usage: pypi-server update" in captured.out
    assert "-U is deprecated; use 'pypi-server update'" in captured.err

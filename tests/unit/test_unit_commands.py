"""The commands package: each command's options come from the option table (with their
environment variables), and the commands build their storage through the composition
root (packyard.services)."""

from __future__ import annotations

import argparse
import os
from dataclasses import fields
from pathlib import Path

import pytest
from helpers.dists import make_wheel

from packyard import cli, services
from packyard.commands import update as update_command
from packyard.commands import yank as yank_command
from packyard.commands.run import build_run_parser
from packyard.config import IGNORED_OPTIONS, OPTIONS, UPDATE_OPTIONS, YANK_OPTIONS, Config, Option


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("PYPISERVER_"):
            monkeypatch.delenv(key)


def _flags(parser: argparse.ArgumentParser) -> set[str]:
    return {
        flag
        for action in parser._actions
        for flag in action.option_strings
        if flag not in ("-h", "--help", "--version")
    }


def _table_flags(options: tuple[Option, ...]) -> set[str]:
    return {flag for option in options for flag in option.flags}


def test_update_options_all_come_from_the_table() -> None:
    assert _flags(update_command.build_update_parser()) == _table_flags(UPDATE_OPTIONS)


def test_yank_options_all_come_from_the_table() -> None:
    assert _flags(yank_command.build_yank_parser(undo=False)) == _table_flags(YANK_OPTIONS)
    assert _flags(yank_command.build_yank_parser(undo=True)) == set()


def test_run_options_are_the_config_fields() -> None:
    # Every Config field but the directories is declared with its option, and the
    # option's default is the field's default.
    declared = [f for f in fields(Config) if f.name != "roots"]
    assert all("option" in f.metadata for f in declared)
    for item in declared:
        option = item.metadata["option"]
        if option.to_field is None:
            assert item.default == option.default, item.name
    ignored = {item.flag for item in IGNORED_OPTIONS}
    assert _flags(build_run_parser()) - ignored == _table_flags(OPTIONS)


def test_fallback_is_one_decision() -> None:
    assert Config.from_values({"disable_fallback": True}, ["d"]).fallback_url is None
    config = Config.from_values({"fallback_url": "https://mirror/simple/"}, ["d"])
    assert config.fallback_url == "https://mirror/simple/"
    # no second field for the same decision: --disable-fallback is fallback_url None
    assert "disable_fallback" not in {f.name for f in fields(Config)}
    assert config.disable_fallback is False


def _settings(argv: list[str], environ: dict[str, str]) -> object:
    namespace = update_command.build_update_parser().parse_args(argv)
    return update_command.settings_from(namespace, environ)


def test_update_options_from_the_environment(tmp_path: Path) -> None:
    other = tmp_path / "other"
    other.mkdir()
    environ = {
        "PYPISERVER_PACKAGES_DIR": str(tmp_path),
        "PYPISERVER_EXECUTE": "yes",
        "PYPISERVER_ALLOW_UNSTABLE": "1",
        "PYPISERVER_INDEX_URL": "https://mirror.example/simple/",
        "PYPISERVER_TIMEOUT": "5",
        "PYPISERVER_DOWNLOAD_DIRECTORY": str(other),
        "PYPISERVER_VERBOSE": "1",
    }
    settings = _settings([], environ)
    assert settings == _settings(
        [
            "-x",
            "-u",
            "--index-url",
            "https://mirror.example/simple/",
            "--timeout",
            "5",
            "-d",
            str(other),
            "-v",
            str(tmp_path),
        ],
        {},
    )
    assert settings.roots == (str(tmp_path),)  # type: ignore[attr-defined]
    assert settings.execute is True  # type: ignore[attr-defined]
    assert settings.index.timeout == 5.0  # type: ignore[attr-defined]


def test_update_command_line_wins_over_the_environment(tmp_path: Path) -> None:
    environ = {"PYPISERVER_TIMEOUT": "5", "PYPISERVER_PACKAGES_DIR": "/nonexistent"}
    settings = _settings(["--timeout", "7", str(tmp_path)], environ)
    assert settings.index.timeout == 7.0  # type: ignore[attr-defined]
    assert settings.roots == (str(tmp_path),)  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "variable", ["PYPISERVER_TIMEOUT", "PYPISERVER_INDEX_URL", "PYPISERVER_EXECUTE"]
)
def test_update_bad_environment_is_a_usage_error(
    variable: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(variable, "ftp://nope" if variable.endswith("URL") else "nope")
    assert cli.main(["update", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert captured.err == "" or captured.err.count("\n") == 1
    assert captured.err.startswith(f"pypi-server: error: environment variable {variable}: ")
    assert captured.out == ""


@pytest.fixture
def packages(tmp_path: Path) -> Path:
    directory = tmp_path / "packages"
    directory.mkdir()
    make_wheel(directory, "cmdyank", "1.0")
    return directory


def test_yank_reason_from_the_environment(
    packages: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PYPISERVER_YANK_REASON", "broken build")
    assert cli.main(["yank", str(packages), "cmdyank", "1.0"]) == 0
    assert capsys.readouterr().out.strip().endswith(": broken build")
    assert cli.main(["yank", "--reason", "given", str(packages), "cmdyank", "1.0"]) == 0
    assert capsys.readouterr().out.strip().endswith(": given")


def test_yank_builds_its_storage_through_the_composition_root(
    packages: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    opened: list[list[str]] = []
    real = services.open_storage

    def spy(roots: list[str]) -> object:
        opened.append([str(r) for r in roots])
        return real(roots)

    monkeypatch.setattr(services, "open_storage", spy)
    assert cli.main(["yank", str(packages), "cmdyank-1.0-py3-none-any.whl"]) == 0
    assert cli.main(["unyank", str(packages), "cmdyank", "1.0"]) == 0
    assert opened == [[str(packages)], [str(packages)]]
    assert capsys.readouterr().out.count("OK") == 2

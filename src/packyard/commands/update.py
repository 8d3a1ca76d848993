"""``pypi-server update`` (and pypiserver's ``-U``): the command line of the update use
case in ``packyard.update``: options from the option table (``config.UPDATE_OPTIONS``,
each with its PYPISERVER_* variable), checked into ``update.Settings``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from packyard import update
from packyard.commands.common import (
    PROG,
    USAGE_ERROR,
    Parser,
    UsageError,
    add_options,
    fail,
)
from packyard.config import (
    DEFAULT_PACKAGES_DIR,
    PACKAGES_ENV,
    UPDATE_OPTIONS,
    values_from_environment,
)
from packyard.errors import ConfigError, read_text_file
from packyard.values import parse_dirs

INTERRUPTED = 130


def build_update_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=f"{PROG} update",
        description=(
            "Look for newer releases of the projects in PACKAGES_DIR on an upstream index "
            "and, with -x, download them next to the files they update. Without -x it is "
            "a dry run. See docs/update.md."
        ),
    )
    add_options(parser, UPDATE_OPTIONS, show_env=True)
    parser.add_argument(
        "packages_dirs",
        nargs="*",
        metavar="PACKAGES_DIR",
        help=f"directories to check (default {DEFAULT_PACKAGES_DIR}; environment "
        f"variable {PACKAGES_ENV}, several separated by ':')",
    )
    return parser


def _values(namespace: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, Any]:
    """The table's defaults, under the environment, under the command line."""
    try:
        values = {o.dest: o.default for o in UPDATE_OPTIONS}
        values.update(values_from_environment(environ, UPDATE_OPTIONS))
        env_dirs = environ.get(PACKAGES_ENV)
        values["packages_dirs"] = parse_dirs(env_dirs) if env_dirs else ()
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(f"environment variable {PACKAGES_ENV}: {exc}") from None
    given = vars(namespace)
    if not given.get("packages_dirs"):
        given.pop("packages_dirs", None)
    values.update(given)
    return values


def _directory(given: str, what: str) -> str:
    path = os.path.abspath(os.path.expanduser(given))
    if not os.path.isdir(path):
        raise UsageError(f"{what} {given} does not exist or is not a directory")
    return path


def settings_from(
    namespace: argparse.Namespace, environ: Mapping[str, str] = os.environ
) -> update.Settings:
    """Check the arguments; raises UsageError with a one-line message."""
    values = _values(namespace, environ)
    dirs = values["packages_dirs"] or [DEFAULT_PACKAGES_DIR]
    roots = [_directory(given, "packages directory") for given in dirs]
    try:
        index = update.Index.from_url(
            values["index_url"], values["timeout"], values["download_deadline"]
        )
    except ValueError as exc:
        raise UsageError(f"--index-url: {exc}") from None
    download_dir = None
    if values["download_directory"] is not None:
        download_dir = _directory(values["download_directory"], "download directory")
    ignored: frozenset[str] = frozenset()
    if values["ignorelist_file"] is not None:
        try:
            text = read_text_file(values["ignorelist_file"], "ignore list")
        except ConfigError as exc:
            raise UsageError(str(exc)) from None
        ignored = update.read_ignore_list(text)
    return update.Settings(
        roots=tuple(roots),
        index=index,
        execute=values["execute"],
        allow_unstable=values["allow_unstable"],
        download_dir=download_dir,
        ignored=ignored,
        verbose=bool(values["verbose"]),
        max_size=values["max_upload_size"],
    )


def main(argv: Sequence[str]) -> int:
    try:
        namespace = build_update_parser().parse_args(argv)
    except UsageError as exc:
        return fail(f"{exc} (see '{PROG} update --help')", USAGE_ERROR)
    try:
        settings = settings_from(namespace)
    except UsageError as exc:
        return fail(str(exc), USAGE_ERROR)
    try:
        return update.execute(settings)
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        sys.stdout.flush()
        return fail("interrupted", INTERRUPTED)

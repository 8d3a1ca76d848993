"""``pypi-server yank`` and ``unyank``: mark a release or a file as yanked (PEP 592),
or take the yank back, in a packages directory a server may be serving (it sees the
change on its next request, through the ledger)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence

from packyard.commands.common import (
    FAILURE,
    PROG,
    USAGE_ERROR,
    Parser,
    UsageError,
    add_options,
    fail,
)
from packyard.config import YANK_OPTIONS, values_from_environment
from packyard.errors import ConfigError


def build_yank_parser(undo: bool) -> argparse.ArgumentParser:
    command = "unyank" if undo else "yank"
    parser = Parser(
        prog=f"{PROG} {command}",
        description=(
            "Take back the yank of a release or a file."
            if undo
            else "Yank a release (every file of PROJECT VERSION) or one file (FILENAME): "
            "installers skip it unless it is pinned with == or ===. It stays listed "
            "and downloadable. A running server sees the change on its next request."
        ),
    )
    if not undo:
        add_options(parser, YANK_OPTIONS, show_env=True)
    parser.add_argument("packages_dir", metavar="PACKAGES_DIR", help="the packages directory")
    parser.add_argument(
        "target", nargs="+", metavar="PROJECT VERSION | FILENAME", help="what to " + command
    )
    return parser


def main(argv: Sequence[str], *, undo: bool = False) -> int:
    command = "unyank" if undo else "yank"
    try:
        namespace = build_yank_parser(undo).parse_args(argv)
        values = {} if undo else values_from_environment(os.environ, YANK_OPTIONS)
    except UsageError as exc:
        return fail(f"{exc} (see '{PROG} {command} --help')", USAGE_ERROR)
    except ConfigError as exc:
        return fail(str(exc), USAGE_ERROR)
    values.update(vars(namespace))
    if len(namespace.target) > 2:
        return fail(
            f"give PROJECT VERSION or one FILENAME (see '{PROG} {command} --help')", USAGE_ERROR
        )
    directory = os.path.abspath(namespace.packages_dir)
    if not os.path.isdir(directory):
        return fail(f"packages directory {namespace.packages_dir!r} does not exist", USAGE_ERROR)

    from packyard import services, yanking
    from packyard.storage.local import DirectoryRepository

    target_args = namespace.target
    try:
        if len(target_args) == 1:
            target = yanking.target_from(None, None, target_args[0])
        else:
            target = yanking.target_from(target_args[0], target_args[1], None)
        reason = yanking.check_reason(values.get("yank_reason", ""))
    except yanking.YankError as exc:
        return fail(exc.message, USAGE_ERROR)
    cache = services.open_storage([directory])
    try:
        if cache.ledger.parts[0].path is None:
            return fail(f"cannot write the ledger in {directory}/.packyard", FAILURE)
        cache.rescan()
        repo = DirectoryRepository(cache)
        message = yanking.unyank(repo, target) if undo else yanking.yank(repo, target, reason)
    except yanking.YankError as exc:
        return fail(exc.message, FAILURE)
    finally:
        cache.ledger.close()
    print(message)
    return 0


def unyank_main(argv: Sequence[str]) -> int:
    return main(argv, undo=True)

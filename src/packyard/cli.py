"""Command line: dispatch ``pypi-server [COMMAND] ...`` to the command's module.

Each command lives in ``packyard.commands`` with ``main(argv) -> int``. Without a
command (pypiserver's form), the arguments are ``run``'s; ``-U``/``--update-packages``
(pypiserver 1.x) is ``update``. ``-h`` without a command lists the commands.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence

from packyard import __version__
from packyard.commands import run
from packyard.commands.common import PROG, UsageError, fail, warn
from packyard.commands.run import build_run_parser, parse_config, split_subcommand

__all__ = ["PROG", "UsageError", "fail", "main", "parse_config", "split_subcommand"]

# pypiserver 1.x's spelling of update, still accepted by 2.x (with a warning here)
LEGACY_UPDATE = ("-U", "--update-packages")


def _yank(argv: Sequence[str]) -> int:
    from packyard.commands import yank

    return yank.main(argv)


def _unyank(argv: Sequence[str]) -> int:
    from packyard.commands import yank

    return yank.main(argv, undo=True)


def _update(argv: Sequence[str]) -> int:
    from packyard.commands import update  # imported late: the run command does not need it

    return update.main(argv)


# The commands named first on the command line; `run` is found among its options.
COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "yank": _yank,
    "unyank": _unyank,
    "update": _update,
}


def _top_level_help() -> str:
    text = build_run_parser(prog=f"{PROG} [run]").format_help()
    return (
        f"{PROG}: a Python package index (packyard {__version__}).\n\n"
        "commands:\n"
        "  run      serve packages directories (the default)\n"
        "  yank     mark a release or a file as yanked (PEP 592)\n"
        "  unyank   take a yank back\n"
        "  update   look for newer releases on an upstream index (-x downloads them)\n\n" + text
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]](args[1:])
    if args and args[0] in LEGACY_UPDATE:
        warn(f"{args[0]} is deprecated; use '{PROG} update'")
        return _update(args[1:])
    command, _rest = split_subcommand(args)
    if command is None and any(a in ("-h", "--help") for a in args):
        sys.stdout.write(_top_level_help())
        return 0
    return run.main(args)

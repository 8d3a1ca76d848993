"""``pypi-server run``: serve packages directories (the default command).

The run options may stand before or after the word ``run``, and the pypiserver form
without it (``pypi-server -p 8080 ./packages``) still works, with a warning; so this
module also finds the word among the options (``split_subcommand``).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import Any

from packyard import __version__
from packyard.commands.common import (
    FAILURE,
    PROG,
    USAGE_ERROR,
    Parser,
    UsageError,
    add_options,
    fail,
    warn,
)
from packyard.config import IGNORED_OPTIONS, OPTIONS, PACKAGES_ENV, Config, from_environment
from packyard.errors import ConfigError

SUBCOMMANDS = ("run",)


def build_run_parser(prog: str = f"{PROG} run") -> argparse.ArgumentParser:
    parser = Parser(
        prog=prog,
        description="Serve the distributions in PACKAGES_DIR as a Python package index.",
        epilog=(
            "Every option can also be set with an environment variable, "
            f"e.g. PYPISERVER_PORT=8080; directories with {PACKAGES_ENV}. "
            "See docs/configuration.md."
        ),
        argument_default=argparse.SUPPRESS,
    )
    add_options(parser, OPTIONS)
    ignored = parser.add_argument_group("pypiserver options accepted and ignored")
    for item in IGNORED_OPTIONS:
        ignored.add_argument(
            item.flag,
            dest="ignored_" + item.flag.lstrip("-").replace("-", "_"),
            metavar=item.metavar,
            help=f"ignored: {item.why}",
        )
    parser.add_argument(
        "packages_dirs",
        nargs="*",
        metavar="PACKAGES_DIR",
        help="directories to serve (default ~/packages); uploads go to the first",
    )
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def _value_flags() -> tuple[set[str], list[str]]:
    takes = {flag for o in OPTIONS if o.takes_value for flag in o.flags}
    takes.update(o.flag for o in IGNORED_OPTIONS)
    longs = [flag for o in OPTIONS for flag in o.flags if flag.startswith("--")]
    longs += [o.flag for o in IGNORED_OPTIONS]
    return takes, longs


def split_subcommand(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Find the subcommand wherever it stands among the options.

    Returns (subcommand or None for the legacy form, the arguments without it).
    """
    takes, longs = _value_flags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            break
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            matches = [f for f in longs if f == flag] or [f for f in longs if f.startswith(flag)]
            if "=" not in arg and len(matches) == 1 and matches[0] in takes:
                i += 1
        elif arg.startswith("-") and arg != "-":
            # Grouped short flags (-vvp 8080): a value flag takes the rest of the
            # group, or the next argument when it is the group's last letter.
            for pos, letter in enumerate(arg[1:], start=1):
                if "-" + letter in takes:
                    if pos == len(arg) - 1:
                        i += 1
                    break
        else:
            if arg in SUBCOMMANDS:
                return arg, [*argv[:i], *argv[i + 1 :]]
            return None, list(argv)
        i += 1
    return None, list(argv)


def parse_config(
    argv: Sequence[str], environ: dict[str, str], warnings: list[str] | None = None
) -> tuple[Config, bool]:
    """(Config, whether the deprecated form without subcommand was used). A warning
    for each ignored pypiserver option is added to ``warnings``."""
    command, rest = split_subcommand(argv)
    parser = build_run_parser()
    namespace = parser.parse_intermixed_args(rest)
    given = vars(namespace)
    for item in IGNORED_OPTIONS:
        value = given.pop("ignored_" + item.flag.lstrip("-").replace("-", "_"), None)
        if value is not None and warnings is not None:
            warnings.append(f"{item.flag} {value} is ignored: {item.why}")
    env_values, env_dirs = from_environment(environ)
    values: dict[str, Any] = {**env_values}
    values.update({k: v for k, v in given.items() if k != "packages_dirs"})
    dirs = given.get("packages_dirs") or list(env_dirs)
    return Config.from_values(values, dirs), command is None


def main(argv: Sequence[str]) -> int:
    """Serve; ``argv`` may hold the word ``run`` among the options, or not (legacy)."""
    try:
        notes: list[str] = []
        config, legacy = parse_config(argv, dict(os.environ), notes)
        for note in notes:
            warn(note)
        if legacy and argv:
            warn(
                "options without a command are deprecated; "
                f"use '{PROG} run [OPTIONS] [PACKAGES_DIR ...]'"
            )
        from packyard import services  # imported late: the app is not needed above

        welcome = services.prepare(config)
    except UsageError as exc:
        return fail(f"{exc} (see '{PROG} run --help')", USAGE_ERROR)
    except ConfigError as exc:
        return fail(str(exc), USAGE_ERROR)

    from packyard import server  # imported late: waitress and watchdog are not needed above

    try:
        return server.run(config, welcome)
    except ConfigError as exc:
        return fail(str(exc), USAGE_ERROR)
    except OSError as exc:
        return fail(f"cannot serve on {config.host}:{config.port}: {exc.strerror or exc}", FAILURE)

"""What every command shares: the program name, an argparse parser that raises
instead of exiting, options added from the option table (``packyard.config``), the
one-line error on stderr, and the exit codes.

A bad option, value or directory is one line and USAGE_ERROR; a failure while
running is one line and FAILURE. Never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from typing import Any, NoReturn

from packyard.config import Option

PROG = "pypi-server"
FAILURE = 1
USAGE_ERROR = 2


class UsageError(Exception):
    """A bad command line; the message is one line for the user."""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser that raises UsageError instead of printing and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def converter(option: Option) -> Any:
    """argparse ``type=`` for an option: its parser, with argparse's error type."""

    def convert(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.dest  # argparse names the type in some messages
    return convert


def add_options(
    parser: argparse.ArgumentParser, options: Iterable[Option], *, show_env: bool = False
) -> None:
    """Add options from the table. Nothing given leaves the value out of the namespace
    (``argument_default=SUPPRESS`` is not needed): the caller layers the environment
    and the table's defaults under what was given (``given_values``)."""
    for option in options:
        kwargs: dict[str, Any] = {"dest": option.dest, "default": argparse.SUPPRESS}
        kwargs["help"] = option.help
        if show_env:
            kwargs["help"] += (
                f" (default {option.shown_default}; environment variable {option.env})"
            )
        if option.kind == "flag":
            kwargs["action"] = "store_true"
        elif option.kind == "count":
            kwargs["action"] = "count"
        else:
            kwargs["type"] = converter(option)
            kwargs["metavar"] = option.metavar
        parser.add_argument(*option.flags, **kwargs)


def fail(message: str, code: int) -> int:
    """Print ``pypi-server: error: MESSAGE`` on stderr and return ``code``."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)

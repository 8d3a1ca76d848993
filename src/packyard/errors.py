"""Domain errors, free of HTTP and of the command line."""

from __future__ import annotations

import os


class PackyardError(Exception):
    """Base of every error packyard raises on purpose."""


class ConfigError(PackyardError):
    """A bad option value or combination; the message is one line for the user."""


def read_text_file(path: str | os.PathLike[str], what: str) -> str:
    """A UTF-8 text file given on the command line; ConfigError with one line that
    names ``what`` (e.g. "welcome file") when it cannot be read or is not UTF-8."""
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise ConfigError(f"{what} {path} cannot be read: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None

"""Domain errors, free of HTTP and of the command line."""

from __future__ import annotations


class PackyardError(Exception):
    """Base of every error packyard raises on purpose."""


class ConfigError(PackyardError):
    """A bad option value or combination; the message is one line for the user."""

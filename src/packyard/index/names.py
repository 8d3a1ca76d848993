"""Project names (PEP 503 normalization and the PyPA name rules)."""

from __future__ import annotations

import re

from packaging.utils import canonicalize_name

# The valid-name rule of the "Names and normalization" specification, case-insensitive.
_VALID_NAME = re.compile(r"^([A-Z0-9]|[A-Z0-9][A-Z0-9._-]*[A-Z0-9])\Z", re.IGNORECASE)


def normalize(name: str) -> str:
    """PEP 503 normalized form: runs of ``-``, ``_`` and ``.`` become ``-``, lower case."""
    return str(canonicalize_name(name))


def is_valid_name(name: str) -> bool:
    """True for a name that the packaging specifications allow as a project name."""
    return _VALID_NAME.match(name) is not None


def is_normalized(name: str) -> bool:
    return is_valid_name(name) and normalize(name) == name

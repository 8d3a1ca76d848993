"""Release identity and the PEP 700 time format: index concepts used by the ledger, the
read side, upload and yank alike (so they live here, not in the storage layer)."""

from __future__ import annotations

from datetime import UTC, datetime

from packaging.utils import canonicalize_version
from packaging.version import Version


def format_time(timestamp: float) -> str:
    """PEP 700's upload-time format: yyyy-mm-ddThh:mm:ss.ffffffZ, UTC."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def version_key(version: str) -> str:
    """Release identity: the PEP 440 canonical form without trailing zeros when valid
    (1.0, 1.0.0 and 1 are one release, as ``==`` says), else the text as written."""
    try:
        Version(version)
    except ValueError:  # InvalidVersion, or more digits than int() takes
        return version
    return canonicalize_version(version, strip_trailing_zero=True)

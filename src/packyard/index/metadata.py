"""Core metadata read from distribution files (PEP 658) and parsed for the pages.

For a wheel the metadata is ``<name>-<version>.dist-info/METADATA``, served byte for
byte at ``<file URL>.metadata``; for an sdist it is ``<top>/PKG-INFO`` and for an egg
``EGG-INFO/PKG-INFO`` (used for Requires-Python and the JSON API, never served as a
``.metadata`` file: PEP 658 metadata must be what the installed distribution will
have, and an sdist's build may change it).

Archives come from anyone who can upload, so reading is bounded whatever they hold:
``archives.py`` (zip) and ``tarballs.py`` (tar, plain or compressed) check each size
before they read or allocate; a metadata file larger than ``MAX_METADATA_BYTES`` or an
archive that needs more than ``MAX_MEMBERS`` members to find it is treated as "no
readable metadata", never read whole. docs/security.md lists every bound.
"""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO

from packyard.index import archives, tarballs
from packyard.index.filenames import Kind
from packyard.index.names import normalize

MAX_METADATA_BYTES = 8 << 20
MAX_MEMBERS = 100_000  # tar members walked; zip entries: archives.MAX_ENTRIES


class MetadataError(ValueError):
    """The distribution has no core metadata we can read; the message says why."""


@dataclass(frozen=True, slots=True)
class Extracted:
    """The core metadata file of a distribution, as stored in it."""

    body: bytes
    servable: bool  # True for a wheel's METADATA (PEP 658); False for PKG-INFO


def _dist_info_project(name: str) -> str:
    return normalize(name.split("/")[0][: -len(".dist-info")].rpartition("-")[0])


def _wheel_metadata(fh: IO[bytes], project: str) -> bytes:
    candidates = archives.zip_entries(
        fh, lambda name: name.count("/") == 1 and name.endswith(".dist-info/METADATA")
    )
    if len(candidates) > 1:
        # PEP 427: the .dist-info directory is named after the project.
        candidates = [c for c in candidates if _dist_info_project(c.name) == project]
    if len(candidates) != 1:
        raise MetadataError("the wheel has no single .dist-info/METADATA")
    return archives.zip_read(fh, candidates[0], MAX_METADATA_BYTES)


def _zip_pkg_info(fh: IO[bytes], egg: bool) -> bytes:
    def wanted(name: str) -> bool:
        parts = name.split("/")
        return (
            parts == ["EGG-INFO", "PKG-INFO"] if egg else len(parts) == 2 and parts[1] == "PKG-INFO"
        )

    candidates = archives.zip_entries(fh, wanted)
    if not candidates:
        raise MetadataError("no PKG-INFO at the top of the archive")
    return archives.zip_read(fh, candidates[0], MAX_METADATA_BYTES)


def _is_top_pkg_info(name: str) -> bool:
    parts = name.lstrip("./").split("/")
    return len(parts) == 2 and parts[1] == "PKG-INFO"


def _tar_pkg_info(fh: IO[bytes]) -> bytes:
    body = tarballs.tar_member(fh, _is_top_pkg_info, MAX_METADATA_BYTES, MAX_MEMBERS)
    if body is None:
        raise MetadataError(
            f"no PKG-INFO at the top of the archive (in its first {MAX_MEMBERS:,} members)"
        )
    return body


def extract(fh: IO[bytes], filename: str, kind: Kind, project: str) -> Extracted:
    """The core metadata file inside an open distribution file; MetadataError if none.

    ``project`` is the normalized project name (it picks the right .dist-info when a
    wheel holds several).
    """
    try:
        if kind is Kind.WHEEL:
            return Extracted(_wheel_metadata(fh, project), servable=True)
        if kind is Kind.EGG:
            return Extracted(_zip_pkg_info(fh, egg=True), servable=False)
        if filename.endswith(".zip"):
            return Extracted(_zip_pkg_info(fh, egg=False), servable=False)
        return Extracted(_tar_pkg_info(fh), servable=False)
    except MetadataError:
        raise
    except archives.ArchiveError as exc:
        raise MetadataError(str(exc)) from None
    except (OSError, ValueError, EOFError) as exc:
        raise MetadataError(f"unreadable archive: {exc}") from None


# --- parsing ---------------------------------------------------------------------

# Fields that may appear more than once (core metadata specification).
MULTIPLE_USE = frozenset(
    {
        "classifier",
        "platform",
        "supported-platform",
        "requires-dist",
        "provides-dist",
        "obsoletes-dist",
        "requires-external",
        "project-url",
        "provides-extra",
        "dynamic",
        "license-file",
        "requires",
        "provides",
        "obsoletes",
        "import-name",
        "import-namespace",
    }
)


@dataclass(frozen=True, slots=True)
class CoreMetadata:
    """Parsed core metadata: field name (lowercase) -> value(s); body as description."""

    fields: Mapping[str, str | tuple[str, ...]]
    description: str | None

    def get(self, name: str) -> str | None:
        value = self.fields.get(name)
        if isinstance(value, tuple):
            return value[0] if value else None
        return value

    def get_all(self, name: str) -> tuple[str, ...]:
        value = self.fields.get(name)
        if value is None:
            return ()
        return value if isinstance(value, tuple) else (value,)


def parse(body: bytes) -> CoreMetadata:
    """Parse a METADATA / PKG-INFO file (RFC 822 style headers, optional body).

    Never raises: undecodable bytes are replaced. As in the email format it is based
    on, a header line without a colon ends the headers (the rest is the body).
    """
    text = body.decode("utf-8", errors="replace")
    message = email.parser.Parser(policy=email.policy.compat32).parsestr(text)
    fields: dict[str, str | tuple[str, ...]] = {}
    for key, value in message.items():
        name = key.strip().lower()
        # Continuation lines of folded headers keep their indentation; unfold them.
        value = str(value).replace("\r\n", "\n")
        if name != "description":
            value = " ".join(line.strip() for line in value.split("\n")).strip()
        if name in MULTIPLE_USE:
            previous = fields.get(name, ())
            fields[name] = (*(previous if isinstance(previous, tuple) else (previous,)), value)
        elif name not in fields:
            fields[name] = value
    payload = message.get_payload()
    description: str | None = payload if isinstance(payload, str) and payload.strip() else None
    if description is None:
        legacy = fields.get("description")
        if isinstance(legacy, str):
            description = _unindent_description(legacy)
    return CoreMetadata(fields=fields, description=description)


def _unindent_description(value: str) -> str:
    # Metadata 1.x put the description in a folded header: continuation lines start
    # with 8 spaces or with "       |".
    lines = value.split("\n")
    out = [lines[0]]
    for line in lines[1:]:
        if line.startswith(("       |", "        ")):
            out.append(line[8:])
        else:
            out.append(line.lstrip())
    return "\n".join(out)


def requires_python(body: bytes) -> str | None:
    """The Requires-Python field of a metadata file, or None."""
    value = parse(body).get("requires-python")
    return value.strip() or None if value is not None else None

"""What an upload must be before it is stored, and the answers when the disk says no.

The upload API (``packyard.upload``) streams a file in and commits it; this module holds
the rules it applies on the way, so that what is stored is what is listed:

- the filename must be listed under the project and version the form named, whatever
  other projects the index holds (the index reads names from filenames only);
- the file must be a readable archive whose core metadata names that same project and
  version (sdists and eggs without a PKG-INFO are still taken, as pypiserver took them);
- a release cannot gain a second file that differs from one it has only in the
  spelling of its name, and a removed filename cannot come back with other bytes
  (both unless ``--overwrite``);
- a full disk is a 507 and a directory that cannot be written is a 503, with one line
  saying so.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import sqlite3
import tarfile
import zipfile
from collections.abc import Collection, Iterable
from typing import IO

from packaging.utils import parse_wheel_filename
from packaging.version import Version

from packyard.index import metadata
from packyard.index.filenames import (
    SDIST_EXTENSIONS,
    Kind,
    NotADistribution,
    ParsedFilename,
    parse_filename,
)
from packyard.index.model import Distribution
from packyard.index.names import normalize
from packyard.index.versions import version_key
from packyard.storage.repository import StorageError


class UploadError(Exception):
    """A refused upload: the HTTP status and a one-line message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# --- the disk saying no ----------------------------------------------------------------


def storage_error(exc: OSError | sqlite3.Error | StorageError, doing: str = "") -> UploadError:
    """507 for a full disk or quota, else 503 (read-only, permissions, I/O): the server
    cannot keep files now; the client may try again later."""
    if not isinstance(exc, StorageError):
        exc = StorageError.of(exc, doing)
    if exc.full:
        return UploadError(507, f"Insufficient Storage: {exc.detail}")
    return UploadError(503, f"Service Unavailable: {exc.detail}")


# --- the name the index will list -------------------------------------------------------


def _suggested_name(filename: str, parsed: ParsedFilename) -> str:
    ext = next((e for e in SDIST_EXTENSIONS if filename.endswith(e)), ".tar.gz")
    return f"{parsed.project.replace('-', '_')}-{parsed.version}{ext}"


def check_listed_as(filename: str, parsed: ParsedFilename, known: Collection[str]) -> None:
    """The index reads a file's project and version from its name alone, with the
    projects it knows as hints: refuse a name it would list as another release (now,
    or after a restart when it knows fewer projects)."""
    for hints in ((), known):
        try:
            seen: ParsedFilename | None = parse_filename(filename, hints)
        except NotADistribution:
            seen = None
        if seen is None or (seen.project, seen.version) != (parsed.project, parsed.version):
            listed = f"{seen.project} {seen.version}" if seen else "nothing"
            raise UploadError(
                400,
                f"The filename {filename!r} would be listed as {listed}, not as "
                f"{parsed.project} {parsed.version}: name it "
                f"{_suggested_name(filename, parsed)!r}",
            )


# --- one file per release and type ------------------------------------------------------


def _file_key(filename: str, project: str, version: str, kind: Kind) -> tuple[object, ...]:
    """What a file is, whatever the spelling of its name: release and file type."""
    release = (project, version_key(version), str(kind))
    if kind is Kind.WHEEL:
        try:
            _, _, build, tags = parse_wheel_filename(filename)
        except ValueError:
            return (*release, filename)
        return (*release, build, tuple(sorted(str(t) for t in tags)))
    if kind is Kind.SDIST:
        return (*release, next((e for e in SDIST_EXTENSIONS if filename.endswith(e)), ""))
    return (*release, tuple(p.lower() for p in filename[: -len(".egg")].split("-")[2:]))


def spelling_twin(
    filename: str, parsed: ParsedFilename, dists: Iterable[Distribution]
) -> Distribution | None:
    """A file of the project that is this file under another spelling of its name
    (``Victim_Lib-1.0.tar.gz`` for ``victim_lib-1.0.tar.gz``), if there is one."""
    key = _file_key(filename, parsed.project, parsed.version, parsed.kind)
    for dist in dists:
        if dist.filename != filename and (
            _file_key(dist.filename, dist.project, dist.version, dist.kind) == key
        ):
            return dist
    return None


# --- the contents -----------------------------------------------------------------------


def _same_version(text: str, expected: str) -> bool:
    try:
        return Version(text) == Version(expected)
    except ValueError:  # not PEP 440: compared as written
        return text.strip() == expected


def _first_tar_block(path: str | IO[bytes], filename: str) -> bytes:
    """The first 512 bytes of a compressed tar, decompressed (no more are read)."""
    if filename.endswith(".tar.bz2"):
        with bz2.open(path, "rb") as bz:
            return bz.read(tarfile.BLOCKSIZE)
    if filename.endswith(".tar.xz"):
        with lzma.open(path, "rb") as xz:
            return xz.read(tarfile.BLOCKSIZE)
    with gzip.open(path, "rb") as gz:
        return gz.read(tarfile.BLOCKSIZE)


def is_readable_archive(path: str | IO[bytes], filename: str) -> bool:
    """Whether the file is the archive its name says: a zip with its end record, or a
    compressed tar whose first header checks out. ``path`` may be a seekable binary
    file object (read from its start)."""
    if not isinstance(path, str):
        path.seek(0)
    if filename.endswith((".zip", ".egg", ".whl")):
        return zipfile.is_zipfile(path)
    try:
        tarfile.TarInfo.frombuf(_first_tar_block(path, filename), "utf-8", "surrogateescape")
    except (OSError, EOFError, ValueError, tarfile.TarError, lzma.LZMAError):
        return False
    return True


def check_contents(
    fh: IO[bytes], filename: str, parsed: ParsedFilename
) -> metadata.Extracted | None:
    """The core metadata of the file (a seekable binary stream, read from its start),
    checked against its name; raises UploadError(400).

    A wheel must have it. An sdist or egg without a PKG-INFO is taken (pypiserver took
    any bytes) if it is at least a readable archive; None is returned then."""
    try:
        fh.seek(0)
        extracted = metadata.extract(fh, filename, parsed.kind, parsed.project)
    except metadata.MetadataError as exc:
        if parsed.kind is Kind.WHEEL:
            raise UploadError(400, f"{filename} is not a valid wheel: {exc}") from None
        if not is_readable_archive(fh, filename):
            raise UploadError(400, f"{filename} is not a readable {parsed.kind} archive") from None
        return None
    core = metadata.parse(extracted.body)
    name, version = core.get("name"), core.get("version")
    if parsed.kind is Kind.WHEEL and not (name and version):
        raise UploadError(400, f"{filename}: its METADATA has no Name or no Version")
    if name is not None and normalize(name.strip()) != parsed.project:
        raise UploadError(
            400, f"{filename}: its core metadata names the project {name!r}, not {parsed.project}"
        )
    if version is not None and not _same_version(version, parsed.version):
        raise UploadError(
            400,
            f"{filename}: its core metadata names the version {version!r}, not {parsed.version}",
        )
    return extracted

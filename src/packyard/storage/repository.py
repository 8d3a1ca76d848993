"""The storage façade: ``Repository``, the only storage object the app, upload, yank,
``update`` and the commands hold.

A Repository is an index of distribution files plus the facts the files themselves do
not hold (upload time, digests, core metadata, yanks, tombstones). Callers see a
snapshot (``packyard.index.model.IndexSnapshot``), ask for a file's facts, open a file
as a stream, and change the index with a few verbs: stage + publish, remove, yank. Each
change is one ledger transaction; the snapshot shows it before the verb returns.

Two implementations today: ``packyard.storage.local.DirectoryRepository`` (packages
directories + one SQLite ledger per directory) and ``packyard.storage.memory.
MemoryRepository`` (bytes in a dict, for component tests). The seams for the next
backends: files move as streams (``stage`` returns a writable stream, ``open`` a
readable one), so an object store needs no paths; the facts and metadata come from the
ledger, so a PostgreSQL ledger can take the SQLite one's place; a mirror cache is a
Repository whose ``publish`` is fed from upstream. Nothing here uses ``os.path``.

Failures of the store itself (a full disk, a read-only file system, a ledger that
cannot be written) are ``StorageError``: ``full`` tells "no space" (HTTP 507) from
"cannot write now" (503). Nothing is left half-done when one is raised.
"""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import IO, Protocol

from packyard.index.model import Distribution, IndexSnapshot
from packyard.storage.ledger import BASE_ALGOS, FileFacts, Recorded, YankState

_NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


class StorageError(Exception):
    """The store cannot do what was asked now. ``detail`` says what and why."""

    def __init__(self, detail: str, *, full: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.full = full

    @classmethod
    def of(cls, exc: OSError | sqlite3.Error, doing: str) -> StorageError:
        """From the error of a file system or of SQLite: ``doing`` and its reason."""
        if isinstance(exc, sqlite3.Error):
            full = getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
            reason = str(exc) or type(exc).__name__
        else:
            full = exc.errno in _NO_SPACE
            reason = exc.strerror or str(exc)
        return cls(f"{doing}: {reason}", full=full)


class Staging(Protocol):
    """A file on its way in, written as a stream; not listed until published."""

    def write(self, data: bytes) -> None:
        """Append; StorageError when the store cannot take it."""

    def finish(self) -> None:
        """Everything written is durable (before the file is published)."""

    def reader(self) -> IO[bytes]:
        """The bytes written, from the start, as a new binary file object."""

    def discard(self) -> None:
        """Forget the staged bytes (a published file keeps its own); idempotent."""


@dataclass(frozen=True, slots=True)
class Existing:
    """A stored file with the name an upload wants."""

    filename: str
    in_place: bool  # at the very name ``publish`` writes: ``replace=True`` may take it
    key: str  # the backend's reference to it (a path, an object key)


@dataclass(frozen=True, slots=True)
class SearchRow:
    """What a search hit shows of one file, from the ledger (no archive is read)."""

    name: str | None  # the Name of its core metadata, as written; None: unknown
    summary: str | None  # its Summary ('' when it has none); None: unknown


class Repository(Protocol):
    """The storage façade (see the module docstring)."""

    # --- reading -----------------------------------------------------------------------

    @property
    def snapshot(self) -> IndexSnapshot:
        """Every listed file, immutable; take it once per request."""

    @property
    def unavailable(self) -> Mapping[int, str]:
        """Parts of the store that cannot be served now (index -> why); empty when all
        are well. Read-only."""

    def sync(self) -> None:
        """Take in what other processes sharing the store changed (cheap when nothing)."""

    def relist(self, dist: Distribution) -> IndexSnapshot:
        """Look at one listed file again now (it changed or went before we were told)."""

    def facts(self, dist: Distribution, algos: Collection[str] = BASE_ALGOS) -> FileFacts | None:
        """The file's facts with at least ``algos`` digests; None if it is unreadable."""

    def metadata_body(self, dist: Distribution, facts: FileFacts) -> bytes | None:
        """The core metadata file described by ``facts``, from the ledger."""

    def search_row(self, dist: Distribution) -> SearchRow | None:
        """Name and Summary of the file's metadata; None if the file is unreadable."""

    @property
    def yanks(self) -> YankState:
        """Every yank, immutable (``serial`` changes with it; ``of(dist)`` is a reason)."""

    def open(self, dist: Distribution) -> IO[bytes]:
        """The listed file's bytes, from the start. Raises ``Unservable`` (``Gone``)
        when what is stored is not the file listed any more."""

    # --- writing -----------------------------------------------------------------------

    def stage(self) -> Staging:
        """A new staged file for an upload; StorageError when none can be made."""

    def existing(self, filename: str, project: str) -> Existing | None:
        """A stored file of this name: at the upload name, else anywhere in the project."""

    def same_bytes(self, existing: Existing, size: int, sha256: str) -> bool:
        """Whether ``existing`` holds exactly the bytes of that size and sha256."""

    def removed_sha256(self, filename: str) -> str | None:
        """The sha256 of a file removed under the upload name ``filename`` (tombstone)."""

    def publish(
        self, staged: Staging, filename: str, recorded: Recorded, *, replace: bool = False
    ) -> bool:
        """List the staged file as ``filename`` with its facts, in one ledger
        transaction with the change note; the snapshot has it on return. A new name
        only (False when it is taken: nothing done), or with ``replace`` in place of
        the file there. StorageError leaves the store as it was."""

    def remove(self, dists: Iterable[Distribution]) -> None:
        """Remove the files and every shadowed copy of them, leaving tombstones: all or
        (StorageError) none."""

    def yank_file(self, dist: Distribution, reason: str | None) -> None:
        """Yank (a reason, maybe '') or un-yank (None) one file."""

    def yank_release(
        self, project: str, version: str, reason: str | None, files: Iterable[Distribution]
    ) -> None:
        """Yank or un-yank a release; un-yanking also clears its ``files``' own yanks."""

    def close(self) -> None:
        """Release what the store holds open."""

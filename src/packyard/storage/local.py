"""The directory backend of the Repository: packages directories on a local file system
and one SQLite ledger per directory (``IndexCache`` + ``Ledger`` + ``Root``).

Uploads go to the first directory. A new name is published with ``os.link`` from a
staged file beside it (exactly one of two racing uploads wins, also across processes);
``replace`` keeps the old file under a hidden, locked name until the ledger has the new
facts, and puts it back if it cannot. The facts and the change note go to the ledger in
one transaction, then the snapshot lists the file: a file is stored and listed, or
neither. The only module besides ``directory``/``staging``/``cache`` that knows paths.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING

from packyard.index.model import Distribution, IndexSnapshot
from packyard.storage.cache import IndexCache
from packyard.storage.directory import Root, Unservable, file_identity, open_listed, probe
from packyard.storage.ledger import BASE_ALGOS, FileFacts, Ledger, Recorded, YankState
from packyard.storage.repository import Existing, Repository, SearchRow, Staging, StorageError
from packyard.storage.staging import link_new, open_staging, staging_name


class Changed(Unservable):
    """The file at the listed path is not the one listed (changed since)."""


class DirectoryStaging:
    """A hidden temporary file in the upload directory. It stays open (and so locked
    against clean-up) until ``discard``, after the commit."""

    def __init__(self, directory: str) -> None:
        try:
            self.path, fh = open_staging(directory)
        except OSError as exc:
            raise StorageError.of(exc, "cannot write to the packages directory") from None
        self._fh: IO[bytes] | None = fh

    def write(self, data: bytes) -> None:
        assert self._fh is not None
        try:
            self._fh.write(data)
        except OSError as exc:
            raise StorageError.of(exc, "cannot write the upload to disk") from None

    def finish(self) -> None:
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise StorageError.of(exc, "cannot write the upload to disk") from None

    def reader(self) -> IO[bytes]:
        return open(self.path, "rb")

    def discard(self) -> None:
        """Remove the temporary name, then close (a write that failed for lack of space
        leaves data in the buffer: dropped)."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None


class DirectoryRepository:
    """``Repository`` over packages directories (see the module docstring)."""

    def __init__(self, cache: IndexCache) -> None:
        self._cache = cache
        self._ledger = cache.ledger
        self._upload_root = cache.roots[0]

    @classmethod
    def over(cls, roots: Sequence[Root], *, persistent: bool = True) -> DirectoryRepository:
        """Over these directories with their ledgers (not scanned yet: ``rescan``)."""
        return cls(IndexCache(roots, Ledger(roots, persistent=persistent)))

    @property
    def cache(self) -> IndexCache:
        """The snapshot cache, for the watcher and start-up (storage's own business)."""
        return self._cache

    # --- reading -----------------------------------------------------------------------

    @property
    def snapshot(self) -> IndexSnapshot:
        return self._cache.snapshot

    @property
    def unavailable(self) -> Mapping[int, str]:
        return self._cache.unavailable

    def sync(self) -> None:
        self._cache.sync()

    def rescan(self) -> IndexSnapshot:
        return self._cache.rescan()

    def relist(self, dist: Distribution) -> IndexSnapshot:
        return self._cache.refresh(self._ledger.root_index(dist), (dist.relpath,))

    def facts(self, dist: Distribution, algos: Collection[str] = BASE_ALGOS) -> FileFacts | None:
        return self._ledger.facts(dist, algos)

    def metadata_body(self, dist: Distribution, facts: FileFacts) -> bytes | None:
        return self._ledger.metadata_body(dist, facts)

    def search_row(self, dist: Distribution) -> SearchRow | None:
        facts = self._ledger.facts(dist)
        return None if facts is None else SearchRow(facts.meta_name, facts.summary)

    @property
    def yanks(self) -> YankState:
        return self._ledger.yanks

    def open(self, dist: Distribution) -> IO[bytes]:
        fh, st = open_listed(dist)
        if file_identity(st) != dist.identity:
            fh.close()
            raise Changed(f"{dist.relpath} changed since it was listed")
        return fh

    # --- writing -----------------------------------------------------------------------

    def stage(self) -> DirectoryStaging:
        return DirectoryStaging(self._upload_root.path)

    def _target(self, filename: str) -> str:
        return os.path.join(self._upload_root.path, filename)

    def existing(self, filename: str, project: str) -> Existing | None:
        target = self._target(filename)
        if os.path.lexists(target):
            return Existing(filename, in_place=True, key=target)
        for dist in self._cache.snapshot.projects.get(project, ()):
            if dist.filename == filename:
                return Existing(filename, in_place=dist.path == target, key=dist.path)
        return None

    def same_bytes(self, existing: Existing, size: int, sha256: str) -> bool:
        try:
            if os.path.getsize(existing.key) != size:
                return False
            with open(existing.key, "rb") as fh:
                found = hashlib.file_digest(fh, "sha256").hexdigest()
        except OSError:
            return False
        return hmac.compare_digest(found, sha256)

    def removed_sha256(self, filename: str) -> str | None:
        try:
            return self._ledger.parts[0].removed_sha256(filename)
        except sqlite3.Error as exc:
            raise StorageError.of(exc, "cannot read the ledger") from None

    def publish(
        self, staged: Staging, filename: str, recorded: Recorded, *, replace: bool = False
    ) -> bool:
        if not isinstance(staged, DirectoryStaging):
            raise TypeError("a DirectoryRepository publishes its own staged files only")
        target = self._target(filename)
        if replace:
            self._replace(staged, filename, recorded)
            return True
        try:
            if not link_new(staged.path, target):
                return False
        except OSError as exc:
            raise StorageError.of(exc, f"could not store {filename}") from None
        self._record(filename, recorded, lambda: os.unlink(target))
        return True

    def _replace(self, staged: DirectoryStaging, filename: str, recorded: Recorded) -> None:
        """The new file takes the name; the old one is kept under a hidden name (locked
        against clean-up) until the ledger has the new facts, and put back if it cannot."""
        target = self._target(filename)
        keep = staging_name(self._upload_root.path)
        fd = -1
        try:
            try:
                os.link(target, keep)
                fd = os.open(keep, os.O_RDONLY | os.O_NOFOLLOW)
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.replace(staged.path, target)
            except OSError as exc:
                raise StorageError.of(exc, f"could not replace {filename}") from None
            self._record(filename, recorded, lambda: os.replace(keep, target))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(keep)
            if fd >= 0:
                os.close(fd)

    def _record(self, filename: str, recorded: Recorded, undo: Callable[[], None]) -> None:
        """The facts and the change note in one ledger transaction, then the listing.
        If the ledger cannot be written, ``undo`` takes the file back."""
        try:
            dist = probe(self._upload_root, filename, self._cache.snapshot.projects)
            if dist is not None:
                self._ledger.parts[0].record_upload(dist, recorded)
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(OSError):
                undo()
            self._cache.refresh(0, [filename])
            raise StorageError.of(exc, f"could not record {filename} in the ledger") from None
        if dist is None:
            self._cache.refresh(0, [filename])
        else:
            self._cache.publish(0, dist)

    def remove(self, dists: Iterable[Distribution]) -> None:
        victims = list(dists)
        copies = [copy for dist in victims for copy in self._cache.copies(dist.relpath)]
        for copy in copies:
            if not os.access(os.path.dirname(copy.path), os.W_OK | os.X_OK):
                raise StorageError(
                    f"cannot remove {copy.relpath} from {copy.root} (not writable); "
                    "nothing was removed"
                )
        try:
            tombstones = {}
            for dist in victims:
                facts = self._ledger.facts(dist)
                if facts is not None:
                    tombstones[dist.relpath] = facts.digests["sha256"]
            self._ledger.parts[0].record_removed(tombstones)
        except sqlite3.Error as exc:
            raise StorageError.of(exc, "could not record the removal in the ledger") from None
        failed: OSError | None = None
        for copy in copies:
            try:
                os.unlink(copy.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed = failed or exc
        for index, root in enumerate(self._cache.roots):
            relpaths = [d.relpath for d in copies if d.root == root.path]
            self._cache.refresh(index, relpaths)
            with contextlib.suppress(sqlite3.Error):
                self._ledger.parts[index].note_changes(relpaths)
        if failed is not None:
            raise StorageError.of(failed, "could not remove every file")

    def yank_file(self, dist: Distribution, reason: str | None) -> None:
        try:
            self._ledger.yank_file(dist, reason)
        except sqlite3.Error as exc:
            raise StorageError.of(exc, "could not record the yank in the ledger") from None

    def yank_release(
        self, project: str, version: str, reason: str | None, files: Iterable[Distribution]
    ) -> None:
        try:
            self._ledger.yank_release(project, version, reason, files)
        except sqlite3.Error as exc:
            raise StorageError.of(exc, "could not record the yank in the ledger") from None

    def close(self) -> None:
        self._ledger.close()


if TYPE_CHECKING:  # both backends are checked against the protocol
    _DIRECTORY: type[Repository] = DirectoryRepository

"""The in-memory backend of the Repository: files as bytes in a dict, facts, metadata,
tombstones and yanks in dicts. For component tests (the whole app in-process, no disk)
and as the smallest example of what a backend must do; the contract test
(tests/unit/test_unit_repository.py) runs the same operations on it and on the
directory backend and expects the same results.

Files are flat (relpath == filename). Each stored version of a file gets a new
identity (size, a counter as mtime, a counter as inode), as a rewrite on disk would.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import IO, TYPE_CHECKING

from packyard.index import metadata
from packyard.index.filenames import NotADistribution, parse_filename
from packyard.index.model import Distribution, IndexSnapshot
from packyard.index.versions import version_key
from packyard.storage.directory import Gone
from packyard.storage.ledger import BASE_ALGOS, FileFacts, Recorded, YankState, compute_digests
from packyard.storage.repository import Existing, Repository, SearchRow, Staging, StorageError

ROOT = "memory:"


class MemoryStaging:
    """Bytes on their way in."""

    def __init__(self) -> None:
        self._data = bytearray()

    def write(self, data: bytes) -> None:
        self._data += data

    def finish(self) -> None:
        """Nothing to make durable."""

    def reader(self) -> IO[bytes]:
        return io.BytesIO(bytes(self._data))

    def discard(self) -> None:
        self._data = bytearray()

    @property
    def data(self) -> bytes:
        return bytes(self._data)


def _facts(dist: Distribution, data: bytes, upload_time: float, recorded: Recorded) -> FileFacts:
    extracted = recorded.metadata
    body = extracted.body if extracted is not None else None
    core = metadata.parse(body) if body is not None else None
    return FileFacts(
        identity=dist.identity,
        upload_time=upload_time,
        digests={**recorded.digests, "sha256": hashlib.sha256(data).hexdigest()},
        metadata_sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
        metadata_servable=extracted is not None and extracted.servable,
        requires_python=metadata.requires_python(body) if body is not None else None,
        summary=(core.get("summary") or "") if core is not None else None,
        meta_name=core.get("name") if core is not None else None,
    )


class MemoryRepository:
    """``Repository`` in memory (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._blobs: dict[str, bytes] = {}
        self._facts: dict[str, FileFacts] = {}
        self._metadata: dict[str, bytes] = {}  # sha256 -> body
        self._removed: dict[str, str] = {}  # tombstones: relpath -> sha256
        self._file_yanks: dict[str, str] = {}
        self._release_yanks: dict[tuple[str, str], str] = {}
        self._snapshot = IndexSnapshot()
        self._yanks = YankState(serial=1, files={}, releases={})
        self._stamps = itertools.count(1)
        self._unavailable: Mapping[int, str] = MappingProxyType({})

    # --- test helpers ------------------------------------------------------------------

    def add(self, filename: str, data: bytes) -> Distribution:
        """Store a file as if uploaded, its metadata read from it (for setting up tests)."""
        staged = MemoryStaging()
        staged.write(data)
        dist = self._dist(filename, len(data))
        try:
            extracted: metadata.Extracted | None = metadata.extract(
                io.BytesIO(data), filename, dist.kind, dist.project
            )
        except metadata.MetadataError:
            extracted = None
        self.publish(staged, filename, Recorded({}, extracted), replace=True)
        return self._snapshot.files[filename]

    def _dist(self, filename: str, size: int) -> Distribution:
        try:
            parsed = parse_filename(filename, self._snapshot.projects)
        except NotADistribution:
            raise StorageError(f"{filename} is not a distribution filename") from None
        stamp = next(self._stamps)
        return Distribution(
            root=ROOT,
            relpath=filename,
            project=parsed.project,
            version=parsed.version,
            kind=parsed.kind,
            sort_key=(*parsed.sort_key, filename, filename),
            size=size,
            mtime_ns=stamp,
            inode=stamp,
        )

    # --- reading -----------------------------------------------------------------------

    @property
    def snapshot(self) -> IndexSnapshot:
        return self._snapshot

    @property
    def unavailable(self) -> Mapping[int, str]:
        return self._unavailable

    def sync(self) -> None:
        """One process only: nothing to take in."""

    def relist(self, dist: Distribution) -> IndexSnapshot:
        return self._snapshot

    def _current(self, dist: Distribution) -> FileFacts | None:
        facts = self._facts.get(dist.relpath)
        return facts if facts is not None and facts.identity == dist.identity else None

    def facts(self, dist: Distribution, algos: Collection[str] = BASE_ALGOS) -> FileFacts | None:
        with self._lock:
            facts = self._current(dist)
            if facts is None:
                return None
            missing = [a for a in algos if a not in facts.digests]
            if missing:
                more = compute_digests(io.BytesIO(self._blobs[dist.relpath]), missing)
                facts = replace(facts, digests={**facts.digests, **more})
                self._facts[dist.relpath] = facts
            return facts

    def metadata_body(self, dist: Distribution, facts: FileFacts) -> bytes | None:
        if facts.metadata_sha256 is None:
            return None
        return self._metadata.get(facts.metadata_sha256)

    def search_row(self, dist: Distribution) -> SearchRow | None:
        facts = self.facts(dist)
        return None if facts is None else SearchRow(facts.meta_name, facts.summary)

    @property
    def yanks(self) -> YankState:
        return self._yanks

    def open(self, dist: Distribution) -> IO[bytes]:
        with self._lock:
            if self._current(dist) is None:
                raise Gone(f"{dist.relpath} is no longer available")
            return io.BytesIO(self._blobs[dist.relpath])

    # --- writing -----------------------------------------------------------------------

    def stage(self) -> MemoryStaging:
        return MemoryStaging()

    def existing(self, filename: str, project: str) -> Existing | None:
        if filename in self._blobs:
            return Existing(filename, in_place=True, key=filename)
        return None

    def same_bytes(self, existing: Existing, size: int, sha256: str) -> bool:
        data = self._blobs.get(existing.key)
        if data is None or len(data) != size:
            return False
        return hmac.compare_digest(hashlib.sha256(data).hexdigest(), sha256)

    def removed_sha256(self, filename: str) -> str | None:
        return self._removed.get(filename)

    def publish(
        self, staged: Staging, filename: str, recorded: Recorded, *, replace: bool = False
    ) -> bool:
        if not isinstance(staged, MemoryStaging):
            raise TypeError("a MemoryRepository publishes its own staged files only")
        data = staged.data
        with self._lock:
            if filename in self._blobs and not replace:
                return False
            dist = self._dist(filename, len(data))
            facts = _facts(dist, data, time.time(), recorded)
            if recorded.metadata is not None and facts.metadata_sha256 is not None:
                self._metadata[facts.metadata_sha256] = recorded.metadata.body
            self._blobs[filename] = data
            self._facts[filename] = facts
            self._snapshot = self._snapshot.evolve({filename: dist})
        return True

    def remove(self, dists: Iterable[Distribution]) -> None:
        with self._lock:
            victims = [d for d in dists if d.relpath in self._blobs]
            for dist in victims:
                facts = self._facts.pop(dist.relpath)
                self._removed[dist.relpath] = facts.digests["sha256"]
                del self._blobs[dist.relpath]
                self._file_yanks.pop(dist.relpath, None)
            self._snapshot = self._snapshot.evolve({d.relpath: None for d in victims})
            self._reload_yanks()

    def yank_file(self, dist: Distribution, reason: str | None) -> None:
        with self._lock:
            if reason is None:
                self._file_yanks.pop(dist.relpath, None)
            else:
                self._file_yanks[dist.relpath] = reason
            self._reload_yanks()

    def yank_release(
        self, project: str, version: str, reason: str | None, files: Iterable[Distribution]
    ) -> None:
        key = (project, version_key(version))
        with self._lock:
            if reason is None:
                self._release_yanks.pop(key, None)
                for dist in files:
                    self._file_yanks.pop(dist.relpath, None)
            else:
                self._release_yanks[key] = reason
            self._reload_yanks()

    def _reload_yanks(self) -> None:
        files = {(0, r): reason for r, reason in self._file_yanks.items()}
        old = self._yanks
        if old.files == files and old.releases == self._release_yanks:
            return  # unchanged: pages made from it stay valid
        self._yanks = YankState(
            serial=old.serial + 1, files=files, releases=dict(self._release_yanks)
        )

    def close(self) -> None:
        """Nothing held open."""


if TYPE_CHECKING:  # both backends are checked against the protocol
    _MEMORY: type[Repository] = MemoryRepository

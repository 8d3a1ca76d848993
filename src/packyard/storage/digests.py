"""Digests of distribution files, computed at most once per file content."""

from __future__ import annotations

import hashlib
import threading

from packyard.index.model import Distribution


def file_digest(path: str, algo: str) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, algo).hexdigest()


class DigestCache:
    """path + algorithm -> hex digest, valid while the file's identity is unchanged.

    A file replaced on disk gets a new identity (size, mtime, inode) in the snapshot and
    is hashed again. Two requests for the same file wait for one computation.
    """

    def __init__(self) -> None:
        self._digests: dict[tuple[str, str], tuple[tuple[int, int, int], str]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def peek(self, dist: Distribution, algo: str) -> str | None:
        cached = self._digests.get((dist.path, algo))
        if cached is not None and cached[0] == dist.identity:
            return cached[1]
        return None

    def get(self, dist: Distribution, algo: str) -> str | None:
        """The digest, or None when the file cannot be read (it vanished meanwhile)."""
        found = self.peek(dist, algo)
        if found is not None:
            return found
        key = (dist.path, algo)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            found = self.peek(dist, algo)
            if found is not None:
                return found
            try:
                digest = file_digest(dist.path, algo)
            except OSError:
                return None
            self._digests[key] = (dist.identity, digest)
        with self._guard:
            self._locks.pop(key, None)
        return digest

    def remember(self, dist: Distribution, algo: str, digest: str) -> None:
        """Record a digest computed elsewhere (for instance while streaming an upload)."""
        self._digests[(dist.path, algo)] = (dist.identity, digest)

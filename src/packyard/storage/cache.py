"""The snapshot cache: the one place that knows every served file.

It keeps, per root, relpath -> Distribution, and publishes an immutable
IndexSnapshot of the effective view: for a relpath found in several roots, the first
root's file wins (it is listed once, never twice with different hashes). Updates come
from our own writes (immediately, so a request after an upload sees it) and from the
watcher (for files changed by hand); each update touches only the paths it names.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence

from packyard.index.model import Distribution, IndexSnapshot
from packyard.storage.directory import Root, probe, scan
from packyard.storage.ledger import Ledger

log = logging.getLogger(__name__)


SYNC_INTERVAL = 0.001  # seconds between two checks for other processes' changes


class IndexCache:
    def __init__(self, roots: Sequence[Root], ledger: Ledger | None = None) -> None:
        self.roots = tuple(roots)
        # Told of every file seen and gone, so upload times are those of first sight.
        self.ledger = ledger if ledger is not None else Ledger.in_memory(self.roots)
        self._per_root: list[dict[str, Distribution]] = [{} for _ in self.roots]
        self._lock = threading.Lock()
        self._snapshot = IndexSnapshot()
        self._last_sync = -SYNC_INTERVAL

    @property
    def snapshot(self) -> IndexSnapshot:
        return self._snapshot

    def rescan(self) -> IndexSnapshot:
        """Scan every root from scratch and publish the result."""
        started = time.monotonic()
        known: set[str] = set()
        per_root: list[dict[str, Distribution]] = []
        for root in self.roots:
            dists = scan(root, known=known)
            known.update(d.project for d in dists)
            per_root.append({d.relpath: d for d in dists})
        with self._lock:
            self._per_root = per_root
            effective: dict[str, Distribution] = {}
            for files in reversed(per_root):
                effective.update(files)
            self._snapshot = IndexSnapshot.build(
                effective, generation=self._snapshot.generation + 1
            )
            snap = self._snapshot
        for index, files in enumerate(per_root):
            self.ledger.parts[index].observe_all(files.values())
        log.info(
            "indexed %d files of %d projects in %.3f s",
            len(snap.files),
            len(snap.project_names),
            time.monotonic() - started,
        )
        return snap

    def sync(self) -> None:
        """Take in what other processes serving the same directories changed (files
        they uploaded or removed, yanks): called before each request, so a file
        uploaded through one worker is listed by every worker on the next request.
        Costs two stat() calls per directory when nothing changed, and under load at
        most one such check per SYNC_INTERVAL: a change is then taken in by a request
        at most that much later (or by the file watcher)."""
        now = time.monotonic()
        if now - self._last_sync < SYNC_INTERVAL:
            return
        self._last_sync = now
        try:
            news = self.ledger.poll()
        except sqlite3.Error as exc:
            log.warning("cannot read the ledger for changes by other processes: %s", exc)
            return
        for root_index, relpaths in news.items():
            self.refresh(root_index, relpaths)

    def _effective(self, relpath: str) -> Distribution | None:
        for files in self._per_root:
            dist = files.get(relpath)
            if dist is not None:
                return dist
        return None

    def refresh(self, root_index: int, relpaths: Iterable[str]) -> IndexSnapshot:
        """Re-read the named files of one root from disk (added, replaced or removed)."""
        root = self.roots[root_index]
        known = self._snapshot.projects
        found = {relpath: probe(root, relpath, known) for relpath in set(relpaths)}
        return self._apply(root_index, found, prefix=None)

    def refresh_tree(self, root_index: int, rel_dir: str) -> IndexSnapshot:
        """Re-read a whole subdirectory (created, moved in, moved away or deleted)."""
        root = self.roots[root_index]
        found: dict[str, Distribution | None] = {
            d.relpath: d for d in scan(root, rel_dir, known=self._snapshot.projects)
        }
        return self._apply(root_index, found, prefix=rel_dir.rstrip("/") + "/")

    def _apply(
        self, root_index: int, found: dict[str, Distribution | None], prefix: str | None
    ) -> IndexSnapshot:
        with self._lock:
            files = self._per_root[root_index]
            if prefix is not None:
                for relpath in [r for r in files if r.startswith(prefix)]:
                    found.setdefault(relpath, None)
            changes: dict[str, Distribution | None] = {}
            seen: list[Distribution] = []
            gone: list[str] = []
            for relpath, dist in found.items():
                old = files.get(relpath)
                if dist is None:
                    if old is None:
                        continue
                    del files[relpath]
                    gone.append(relpath)
                else:
                    if old is not None and old.identity == dist.identity:
                        continue
                    files[relpath] = dist
                    seen.append(dist)
                changes[relpath] = self._effective(relpath)
            if changes:
                self.ledger.parts[root_index].observe(seen, gone)
                self._snapshot = self._snapshot.evolve(changes)
            return self._snapshot

"""The snapshot cache: the one place that knows every served file.

It keeps, per root, relpath -> Distribution, and publishes an immutable
IndexSnapshot of the effective view: for a relpath found in several roots, the first
root's file wins (it is listed once, never twice with different hashes). Updates come
from our own writes (immediately, so a request after an upload sees it) and from the
watcher (for files changed by hand); each update touches only the paths it names.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType

from packyard.index.model import Distribution, IndexSnapshot
from packyard.storage.directory import Root, first_root_wins, probe, scan
from packyard.storage.ledger import Ledger

log = logging.getLogger(__name__)


SYNC_INTERVAL = 0.001  # seconds between two checks for other processes' changes
ROOT_CHECK_INTERVAL = 1.0  # seconds between two checks that every root is still there


def root_problem(path: str) -> str | None:
    """Why a packages directory cannot be served now (gone, not a directory,
    unreadable), or None."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "it no longer exists"
    except OSError as exc:
        return f"it cannot be examined: {exc.strerror or exc}"
    if not stat.S_ISDIR(st.st_mode):
        return "it is no longer a directory"
    if not os.access(path, os.R_OK | os.X_OK):
        return "it cannot be read (permissions)"
    return None


class IndexCache:
    def __init__(self, roots: Sequence[Root], ledger: Ledger | None = None) -> None:
        self._roots = tuple(roots)
        # Told of every file seen and gone, so upload times are those of first sight.
        self._ledger = ledger if ledger is not None else Ledger.in_memory(self._roots)
        self._per_root: list[dict[str, Distribution]] = [{} for _ in self._roots]
        self._lock = threading.Lock()
        self._snapshot = IndexSnapshot()
        self._last_sync = -SYNC_INTERVAL
        # Roots that cannot be served now (index -> why); requests get a 503 meanwhile.
        self._unavailable: dict[int, str] = {}
        self._unavailable_view = MappingProxyType(self._unavailable)
        self._last_root_check = time.monotonic()
        self._roots_lock = threading.Lock()
        # Called with a root's index when it is back (the watcher watches it again).
        self.on_root_back: list[Callable[[int], None]] = []

    @property
    def snapshot(self) -> IndexSnapshot:
        return self._snapshot

    @property
    def roots(self) -> tuple[Root, ...]:
        return self._roots

    @property
    def ledger(self) -> Ledger:
        return self._ledger

    @property
    def unavailable(self) -> Mapping[int, str]:
        """Roots that cannot be served now (index -> why); a read-only view."""
        return self._unavailable_view

    def rescan(self) -> IndexSnapshot:
        """Scan every root from scratch and publish the result."""
        started = time.monotonic()
        known: set[str] = set()
        per_root: list[dict[str, Distribution]] = []
        for index, root in enumerate(self._roots):
            if self._unavailable_now(index):
                per_root.append(dict(self._per_root[index]))  # kept until it is back
                continue
            dists = scan(root, known=known)
            known.update(d.project for d in dists)
            per_root.append({d.relpath: d for d in dists})
        with self._lock:
            self._per_root = per_root
            effective = first_root_wins(files.values() for files in per_root)
            self._snapshot = IndexSnapshot.build(
                effective, generation=self._snapshot.generation + 1
            )
            snap = self._snapshot
        for index, files in enumerate(per_root):
            if index not in self._unavailable:
                self._ledger.parts[index].observe_all(files.values())
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
        if now - self._last_root_check >= ROOT_CHECK_INTERVAL:
            self._last_root_check = now
            self.check_roots()
        try:
            news = self._ledger.poll()
        except sqlite3.Error as exc:
            log.warning("cannot read the ledger for changes by other processes: %s", exc)
            return
        for root_index, relpaths in news.items():
            self.refresh(root_index, relpaths)

    def check_roots(self) -> None:
        """Notice a packages directory that disappeared or became unreadable (logged
        as an error; the index then answers 503), and one that is back (rescanned)."""
        for index in range(len(self._roots)):
            if self._unavailable_now(index) or index not in self._unavailable:
                continue
            with self._roots_lock:
                if self._unavailable.pop(index, None) is None:
                    continue
            log.warning(
                "packages directory %s is available again; reading it afresh",
                self._roots[index].path,
            )
            found: dict[str, Distribution | None] = {
                d.relpath: d for d in scan(self._roots[index], known=self._snapshot.projects)
            }
            self._apply(index, found, prefix="")
            for callback in self.on_root_back:
                callback(index)

    def _unavailable_now(self, index: int) -> bool:
        """Whether the root cannot be served now; logs (once) when it stops being."""
        problem = root_problem(self._roots[index].path)
        if problem is None:
            return False
        with self._roots_lock:
            known = index in self._unavailable
            self._unavailable[index] = problem
        if not known:
            log.error(
                "packages directory %s is unavailable: %s. Its files are kept in the index "
                "but every request is answered 503 until it is back",
                self._roots[index].path,
                problem,
            )
        return True

    def _effective(self, relpath: str) -> Distribution | None:
        for files in self._per_root:
            dist = files.get(relpath)
            if dist is not None:
                return dist
        return None

    def refresh(self, root_index: int, relpaths: Iterable[str]) -> IndexSnapshot:
        """Re-read the named files of one root from disk (added, replaced or removed)."""
        if self._unavailable_now(root_index):
            return self._snapshot  # its files vanished with it: nothing to forget yet
        root = self._roots[root_index]
        known = self._snapshot.projects
        found = {relpath: probe(root, relpath, known) for relpath in set(relpaths)}
        return self._apply(root_index, found, prefix=None)

    def refresh_tree(self, root_index: int, rel_dir: str) -> IndexSnapshot:
        """Re-read a whole subdirectory (created, moved in, moved away or deleted)."""
        if self._unavailable_now(root_index):
            return self._snapshot
        root = self._roots[root_index]
        found: dict[str, Distribution | None] = {
            d.relpath: d for d in scan(root, rel_dir, known=self._snapshot.projects)
        }
        return self._apply(root_index, found, prefix=rel_dir.rstrip("/") + "/")

    def publish(self, root_index: int, dist: Distribution) -> IndexSnapshot:
        """List a file whose ledger row the caller has just written (with its facts, in
        the same transaction as its change note): no second ledger write."""
        if self._unavailable_now(root_index):
            return self._snapshot
        return self._apply(root_index, {dist.relpath: dist}, prefix=None, observe=False)

    def _apply(
        self,
        root_index: int,
        found: dict[str, Distribution | None],
        prefix: str | None,
        *,
        observe: bool = True,
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
            if changes and not observe:
                self._snapshot = self._snapshot.evolve(changes)
            elif changes:
                # The snapshot first: it must follow the disk even when the ledger
                # cannot be written (a full disk), or a file would be stored but not
                # listed. A file without a row gets one when its facts are computed.
                self._snapshot = self._snapshot.evolve(changes)
                try:
                    self._ledger.parts[root_index].observe(seen, gone)
                except sqlite3.Error as exc:
                    log.warning("cannot note file changes in the ledger: %s", exc)
            return self._snapshot

    def copies(self, relpath: str) -> list[Distribution]:
        """Every root's file at ``relpath``, the served one first (later ones are
        shadowed: they would be served under the same URL if the first went)."""
        with self._lock:
            return [files[relpath] for files in self._per_root if relpath in files]

"""Keeps the snapshot current when files are added, replaced or removed by hand.

watchdog reports events per path; they are queued, gathered for a short moment and
applied per path (or per directory for a tree moved in or out), never as a full
rescan. Only the events that can change the listing are asked for: on Linux that is
create, close-after-write, move and delete, so reading a file (a download, a hash) never
touches the index (pypiserver's cache is reset by every read, its issue #502). Where
inotify is unavailable, a polling observer is used. When the kernel's event queue
overflows, events are lost, so the whole index is rescanned once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import threading
from collections.abc import Sequence
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirModifiedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from packyard.storage.cache import IndexCache
from packyard.storage.directory import is_hidden_relpath

log = logging.getLogger(__name__)

_INOTIFY_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileClosedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]
_POLLING_EVENTS: list[type[FileSystemEvent]] = [
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileDeletedEvent,
    DirCreatedEvent,
    DirMovedEvent,
    DirDeletedEvent,
]
_RESCAN = (-1, "", True)
_RESCAN_QUIET = (-2, "", True)  # a rescan that is expected, not a sign of lost events
_SETTLE_SECONDS = 0.05


def _text(path: bytes | str) -> str:
    return os.fsdecode(path)


class _Handler(FileSystemEventHandler):
    def __init__(self, root_index: int, root_path: str, sink: queue.Queue[Any]) -> None:
        self._index = root_index
        self._root = root_path
        self._sink = sink

    def _put(self, path: bytes | str, is_dir: bool) -> None:
        rel = os.path.relpath(_text(path), self._root)
        if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
            return
        rel = rel.replace(os.sep, "/")
        if is_hidden_relpath(rel):
            return
        self._sink.put((self._index, rel, is_dir))

    def on_any_event(self, event: FileSystemEvent) -> None:
        if isinstance(event, DirModifiedEvent):
            return
        self._put(event.src_path, event.is_directory)
        if isinstance(event, FileMovedEvent | DirMovedEvent):
            self._put(event.dest_path, event.is_directory)


class _OverflowDetector(logging.Filter):
    """watchdog only logs a lost-events overflow; turn that into a rescan request."""

    def __init__(self, sink: queue.Queue[Any]) -> None:
        super().__init__()
        self._sink = sink

    def filter(self, record: logging.LogRecord) -> bool:
        if "overflow" in record.getMessage().lower():
            self._sink.put(_RESCAN)
        return True


class Watcher:
    def __init__(self, cache: IndexCache, *, force_polling: bool = False) -> None:
        self._cache = cache
        self._queue: queue.Queue[Any] = queue.Queue()
        self._observer: Any = None
        self._force_polling = force_polling
        self._thread = threading.Thread(target=self._run, name="packyard-watcher", daemon=True)
        self._stopping = threading.Event()
        self._overflow = _OverflowDetector(self._queue)
        self._rewatch_lock = threading.Lock()
        self.mode = "none"

    def _start_observer(self, polling: bool) -> Any:
        observer: Any = PollingObserver(timeout=1) if polling else Observer()
        events = _POLLING_EVENTS if polling else _INOTIFY_EVENTS
        for index, root in enumerate(self._cache.roots):
            observer.schedule(
                _Handler(index, root.path, self._queue),
                root.path,
                recursive=True,
                event_filter=events,
            )
        observer.daemon = True
        observer.start()
        return observer

    def start(self) -> None:
        if not self._force_polling:
            try:
                self._observer = self._start_observer(polling=False)
                self.mode = "native"
            except OSError as exc:
                log.warning("file events unavailable (%s); polling the directories instead", exc)
        if self._observer is None:
            self._observer = self._start_observer(polling=True)
            self.mode = "polling"
        logging.getLogger("watchdog.observers.inotify_c").addFilter(self._overflow)
        self._cache.on_root_back.append(self._root_back)
        self._thread.start()

    def _root_back(self, root_index: int) -> None:
        """A packages directory came back (remounted, moved back): the old watches
        died with it, so watch every root afresh (in the background)."""
        threading.Thread(target=self._rewatch, name="packyard-rewatch", daemon=True).start()

    def _rewatch(self) -> None:
        with self._rewatch_lock:
            if self._stopping.is_set():
                return
            old = self._observer
            try:
                self._observer = self._start_observer(polling=self.mode == "polling")
            except OSError as exc:
                log.error("cannot watch the packages directories again: %s", exc)
                return
            if old is not None:
                old.stop()
                old.join(timeout=5)
            # Files added between the return and the new watches: read the roots again.
            self._queue.put(_RESCAN_QUIET)

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)
        with contextlib.suppress(ValueError):
            self._cache.on_root_back.remove(self._root_back)
        logging.getLogger("watchdog.observers.inotify_c").removeFilter(self._overflow)
        with self._rewatch_lock:
            observer = self._observer
        if observer is not None:
            observer.stop()
            observer.join(timeout=5)
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _drain(self, first: Any) -> list[Any] | None:
        items = [first]
        self._stopping.wait(_SETTLE_SECONDS)
        while True:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if any(item is None for item in items):
            return None
        return items

    def _run(self) -> None:
        while not self._stopping.is_set():
            first = self._queue.get()
            if first is None:
                return
            items = self._drain(first)
            if items is None:
                return
            try:
                self._apply(items)
            except Exception:
                log.exception("could not apply file events; rescanning")
                self._cache.rescan()

    def _apply(self, items: Sequence[tuple[int, str, bool]]) -> None:
        if _RESCAN in items:
            log.warning("file events were lost; rescanning the packages directories")
            self._cache.rescan()
            return
        if _RESCAN_QUIET in items:
            self._cache.rescan()
            return
        trees: dict[int, set[str]] = {}
        files: dict[int, set[str]] = {}
        for root_index, relpath, is_dir in items:
            (trees if is_dir else files).setdefault(root_index, set()).add(relpath)
        for root_index, dirs in trees.items():
            for rel_dir in sorted(dirs):
                self._cache.refresh_tree(root_index, rel_dir)
        for root_index, relpaths in files.items():
            self._cache.refresh(root_index, relpaths)

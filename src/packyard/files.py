"""Distribution files as the read side answers them, free of bottle.

The headers of a whole file (validators, ``Cache-Control``), the generator that streams
a byte range of an open file when the WSGI server has no ``wsgi.file_wrapper``, and
``SmallFiles``, the memory cache of small whole answers (files and wheels' ``.metadata``)
that lets the fast path answer the commonest downloads without a file system call.
Used by the routes and the fast path in ``app.py`` alike, so both send the same headers.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import IO

from packyard.config import Config
from packyard.httputil import http_date
from packyard.index.model import Distribution
from packyard.storage.directory import Unservable, file_identity, open_listed

CHUNK = 1 << 16


def file_range(fh: IO[bytes], first: int, length: int) -> Iterator[bytes]:
    try:
        fh.seek(first)
        while length > 0:
            chunk = fh.read(min(CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        fh.close()


def file_headers(st: os.stat_result, cache_control: str | None) -> dict[str, str]:
    """The headers of a whole distribution file (no Content-Length)."""
    return headers_of(st.st_size, st.st_mtime_ns, cache_control)


def headers_of(size: int, mtime_ns: int, cache_control: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/octet-stream",
        "ETag": f'"{size:x}-{mtime_ns:x}"',
        "Last-Modified": http_date(mtime_ns / 1e9),
        "Accept-Ranges": "bytes",
    }
    if cache_control is not None:
        headers["Cache-Control"] = cache_control
    return headers


class SmallFiles:
    """Whole small answers kept in memory (the bytes of small distribution files and
    of wheels' .metadata files, with their headers), so the most common downloads need
    no file system call. Bounded in total; an entry is used only while the snapshot
    shows the file with the same identity (size, mtime, inode) it was made from. Files
    larger than ``max_file`` are never held: they are streamed with wsgi.file_wrapper."""

    def __init__(self, max_file: int = 64 << 10, max_total: int = 32 << 20) -> None:
        self.max_file = max_file
        self._max_total = max_total
        self._total = 0
        self._entries: OrderedDict[str, tuple[object, tuple[tuple[str, str], ...], bytes]] = (
            OrderedDict()
        )
        self._lock = threading.Lock()

    def get(self, key: str, identity: object) -> tuple[list[tuple[str, str]], bytes] | None:
        """The headers (a new list each time) and body kept under ``key``, if they were
        made from the file as it is now (``identity``)."""
        hit = self._entries.get(key)
        if hit is None or hit[0] != identity:
            return None
        return list(hit[1]), hit[2]

    def put(self, key: str, identity: object, headers: dict[str, str], body: bytes) -> None:
        if len(body) > self.max_file:
            return
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self._total -= len(old[2])
            self._entries[key] = (identity, tuple(headers.items()), body)
            self._total += len(body)
            while self._total > self._max_total:
                _, (_, _, evicted) = self._entries.popitem(last=False)
                self._total -= len(evicted)

    def read(self, dist: Distribution) -> bytes | None:
        """A small file's bytes; None if it is not there, too big or not as listed."""
        try:
            fh, st = open_listed(dist)
        except Unservable:
            return None  # the route answers, with the reason
        try:
            with fh:
                if st.st_size > self.max_file or file_identity(st) != dist.identity:
                    return None  # changed on disk: the route re-reads the entry
                data = fh.read(self.max_file + 1)
        except OSError:
            return None
        if len(data) != dist.size:
            return None
        return data


YEAR = 365 * 24 * 3600


def file_cache_control(config: Config) -> str | None:
    """Cache-Control for distribution files and their .metadata.

    A file never changes under its name unless --overwrite is on, so by default it is
    cacheable for a year and ``immutable`` (clients skip revalidation). --cache-control
    sets the age (pypiserver's option); with --overwrite there is no default header.
    """
    scope = "private" if "download" in config.authenticate else "public"
    immutable = "" if config.overwrite else ", immutable"
    if config.cache_control is not None:
        return f"{scope}, max-age={config.cache_control}{immutable}"
    if config.overwrite:
        return None
    return f"{scope}, max-age={YEAR}{immutable}"

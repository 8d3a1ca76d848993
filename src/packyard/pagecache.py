"""Rendered pages kept in memory, bounded in bytes, never keyed by what a client sends.

Index pages and PyPI JSON documents are rendered once and kept while the part of the
snapshot they were made from is the same object (the snapshot is copy-on-write, so
identity means "unchanged") and the yank state has the same serial number.

Two rules keep a client from growing them (issue 12):

- Keys are made of what the index holds (a project that exists, a format, a release
  that exists), never of a request header. The PyPI JSON document holds absolute URLs
  built from the request's base URL (its ``Host``); it is kept once, split where the
  base URL goes (``JsonDoc``), and each answer joins the parts with its own base.
- Every cache has a budget in bytes (the bodies and their gzip forms, counted when they
  are made); the least recently used entries go first, and an entry larger than the
  whole budget is served but not kept.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

PAGES_BUDGET = 64 << 20  # bytes: /simple/ pages (HTML and JSON) and /packages/
JSON_BUDGET = 32 << 20  # bytes: PyPI JSON documents
GZIP_ON_DEMAND = 256 << 10  # bytes: larger JSON documents are gzipped for one base only


def _json_text(base: str) -> bytes:
    """``base`` as it appears inside a JSON string (as json.dumps writes it)."""
    if base.isprintable() and '"' not in base and "\\" not in base:
        return base.encode()
    return json.dumps(base, ensure_ascii=False)[1:-1].encode()


def _gzip(body: bytes) -> bytes:
    return gzip.compress(body, compresslevel=6, mtime=0)


class Entry(Protocol):
    """What a ByteCache holds: something that knows its size, and can tell the cache
    when it grows (a gzip form made later)."""

    owner: ByteCache[Any] | None

    @property
    def nbytes(self) -> int: ...


E = TypeVar("E", bound=Entry)


class ByteCache(Generic[E]):
    """Entries by key, valid while made from the same ``source`` object and ``serial``;
    at most ``budget`` bytes together, the least recently used evicted first."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: OrderedDict[object, tuple[object, int, E, int]] = OrderedDict()
        self._keys: dict[int, object] = {}  # id(entry) -> its key, for grew()
        self._total = 0
        self._lock = threading.Lock()

    @property
    def total(self) -> int:
        """Bytes held now."""
        return self._total

    def __len__(self) -> int:
        return len(self._entries)

    def get(
        self, key: object, source: object, make: Callable[[], tuple[E, bool]], serial: int = 0
    ) -> E:
        """The entry for ``key`` made from ``source``; ``make`` says if it may be kept."""
        hit = self._entries.get(key)
        if hit is not None and hit[0] is source and hit[1] == serial:
            with self._lock:
                if key in self._entries:
                    self._entries.move_to_end(key)
            return hit[2]
        entry, keep = make()
        if keep:
            self._put(key, source, serial, entry)
        elif hit is not None:
            with self._lock:
                if self._entries.get(key) is hit:  # out of date, its successor not kept
                    self._drop(key)
        return entry

    def _put(self, key: object, source: object, serial: int, entry: E) -> None:
        size = entry.nbytes
        with self._lock:
            self._drop(key)
            if size > self.budget:
                return  # served, not kept
            entry.owner = self
            self._entries[key] = (source, serial, entry, size)
            self._keys[id(entry)] = key
            self._total += size
            self._evict()

    def grew(self, entry: E) -> None:
        """``entry`` made a gzip form: count it, and evict if over budget."""
        with self._lock:
            key = self._keys.get(id(entry))
            found = self._entries.get(key) if key is not None else None
            if found is None or found[2] is not entry:
                return  # evicted meanwhile
            source, serial, _, size = found
            now = entry.nbytes
            self._entries[key] = (source, serial, entry, now)
            self._total += now - size
            self._evict()

    def _drop(self, key: object) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self._total -= old[3]
            self._keys.pop(id(old[2]), None)
            old[2].owner = None

    def _evict(self) -> None:
        while self._total > self.budget and self._entries:
            key = next(iter(self._entries))
            self._drop(key)


class Page:
    """A rendered index page with its validator, and its gzip form made on demand."""

    __slots__ = ("_gzipped", "body", "etag", "owner")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        self._gzipped: bytes | None = None
        self.owner: ByteCache[Any] | None = None

    @property
    def nbytes(self) -> int:
        return len(self.body) + len(self._gzipped or b"")

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = _gzip(self.body)
            owner = self.owner
            if owner is not None:
                owner.grew(self)
        return self._gzipped


class JsonDoc:
    """A JSON document for every base URL: rendered once with a random token where the
    base URL goes, and kept as the parts between the tokens. ``body(base)`` joins them
    with the JSON-escaped base (one ``bytes.join``); the validator is a hash of the
    document's digest and the base. One gzip form is kept, for the first base that asks
    for one; other bases get theirs made per request when the document is small
    (``GZIP_ON_DEMAND``), else no gzip (``gzipped`` returns None)."""

    __slots__ = ("_digest", "_kept", "_last", "empty", "owner", "parts")

    def __init__(self, parts: tuple[bytes, ...]) -> None:
        self.parts = parts
        self.empty = parts == (b"",)
        digest = hashlib.blake2b(digest_size=16)
        for part in parts:
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)
        self._digest = digest.digest()
        self._kept: tuple[str, bytes] | None = None  # (base, gzip form), set once
        self._last: tuple[str, bytes, str] = ("", b"", "")  # base, its JSON text, its ETag
        self.owner: ByteCache[Any] | None = None

    @classmethod
    def render(cls, make: Callable[[str], bytes]) -> JsonDoc:
        """``make(base)`` renders the document for a base URL; it is called once, with a
        token no input can contain (random, never shown), and split at the token."""
        token = "http://" + secrets.token_hex(16) + ".invalid/"
        return cls(tuple(make(token).split(token.encode())))

    @property
    def nbytes(self) -> int:
        kept = self._kept
        return sum(len(p) for p in self.parts) + (len(kept[1]) if kept else 0)

    def _for(self, base: str) -> tuple[str, bytes, str]:
        last = self._last  # one small tuple: the base most requests use, remembered
        if last[0] == base:
            return last
        tag = hashlib.blake2b(self._digest + base.encode(), digest_size=12).hexdigest()
        last = (base, _json_text(base), tag)
        self._last = last
        return last

    def body(self, base: str) -> bytes:
        if len(self.parts) == 1:
            return self.parts[0]
        return self._for(base)[1].join(self.parts)

    def etag(self, base: str, suffix: str = "") -> str:
        return f'"{self._for(base)[2]}{suffix}"'

    def gzipped(self, base: str) -> bytes | None:
        """The gzip form for ``base``, or None when it is not worth making now."""
        kept = self._kept
        if kept is not None and kept[0] == base:
            return kept[1]
        body = self.body(base)
        if kept is None:
            made = _gzip(body)
            if self._kept is None:  # two racing first requests: one is kept
                self._kept = (base, made)
                owner = self.owner
                if owner is not None:
                    owner.grew(self)
            return made
        if len(body) <= GZIP_ON_DEMAND:
            return _gzip(body)
        return None

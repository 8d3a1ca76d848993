"""The ledger: per-file facts that the packages directory itself does not hold.

For every distribution file it keeps when the server first saw it (PEP 700
``upload-time``), its digests, its core metadata (PEP 658) with that metadata's sha256
and Requires-Python, and whether it is yanked (PEP 592), plus release-wide yanks.

Where: one SQLite database per packages directory, ``<root>/.packyard/ledger.sqlite3``.
The name starts with a dot, so it is never listed or served. SQLite makes every write a
transaction: a crash mid-write leaves the previous state, never a torn file, and several
processes (workers, the ``yank`` command) can share it. If the directory is read-only
the ledger lives in memory and says so in the log.

How facts stay true:
- Rows are keyed by relpath. The scan and the watcher report what they see (``observe``);
  a new file gets a row with the time it was first seen; a deleted file loses its row.
- Facts are computed at first need (a page that lists the file) and describe one file
  identity (size, mtime, inode). When the identity changes, the facts are recomputed;
  if the sha256 is unchanged (the file was copied or touched) the upload time is kept,
  otherwise the new content's upload time is when the change was first seen.
- Uploads record their facts directly (digests computed while streaming), together
  with the change note for other processes, in one transaction.
- Files taken away by ``remove_pkg`` leave a tombstone (relpath and sha256): their URLs
  were served as immutable, so an upload may bring back the same bytes only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Protocol

from packyard.index import metadata
from packyard.index.model import Distribution
from packyard.index.versions import version_key
from packyard.logsafe import shown
from packyard.storage.directory import Root, Unservable, file_identity, open_listed

log = logging.getLogger(__name__)

LEDGER_DIR = ".packyard"
LEDGER_FILE = "ledger.sqlite3"
_SCHEMA_VERSION = 2  # 2: files.summary and files.meta_name (XML-RPC search)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    relpath TEXT PRIMARY KEY,
    size INTEGER NOT NULL,          -- the identity last observed ...
    mtime_ns INTEGER NOT NULL,
    inode INTEGER NOT NULL,
    seen_at REAL NOT NULL,          -- ... and when it was first observed
    f_size INTEGER,                 -- the identity the facts below describe (NULL: none yet)
    f_mtime_ns INTEGER,
    f_inode INTEGER,
    upload_time REAL,
    sha256 TEXT,
    digests TEXT,                   -- JSON: algorithm -> hex digest
    meta_sha256 TEXT,               -- sha256 of the core metadata file, NULL if unreadable
    meta_servable INTEGER,          -- 1: a wheel's METADATA, served as <file>.metadata
    requires_python TEXT,
    summary TEXT,                   -- Summary of the core metadata ('' none), NULL if unreadable
    meta_name TEXT,                 -- Name of the core metadata, as written
    yanked TEXT                     -- NULL: not yanked; else the reason ('' for none given)
);
CREATE TABLE IF NOT EXISTS metadata (
    sha256 TEXT PRIMARY KEY,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS changes (   -- files written or removed, for other processes
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    relpath TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS removed (  -- tombstones: files taken away by remove_pkg
    relpath TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    removed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS releases (
    project TEXT NOT NULL,
    version TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (project, version)
);
"""

CHANGES_KEPT = 3600.0  # seconds a change note is kept for other processes

# Digests every file gets when it is first looked at; others are computed on demand.
BASE_ALGOS = ("sha256",)
PYPI_ALGOS = ("md5", "sha256", "blake2b_256")


class _Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


def _hasher(algo: str) -> _Hasher:
    if algo == "blake2b_256":
        return hashlib.blake2b(digest_size=32)
    if algo == "md5":
        return hashlib.md5(usedforsecurity=False)
    return hashlib.new(algo)


def compute_digests(fh: IO[bytes], algos: Collection[str]) -> dict[str, str]:
    """Hex digests of an open file, from its current position, in a single read."""
    hashers = {algo: _hasher(algo) for algo in algos}
    while chunk := fh.read(1 << 20):
        for hasher in hashers.values():
            hasher.update(chunk)
    return {algo: hasher.hexdigest() for algo, hasher in hashers.items()}


def open_as_listed(dist: Distribution) -> IO[bytes] | None:
    """The listed file, open for reading, if it is still the file listed (a regular
    file inside its root with the listed size, mtime and inode: see ``open_listed``);
    else None, logged. Facts are never computed from other bytes than the listed ones."""
    try:
        fh, st = open_listed(dist)
    except Unservable as exc:
        log.warning("cannot read %s", exc)  # a file removed meanwhile included, as before
        return None
    if file_identity(st) != dist.identity:
        fh.close()
        log.info("%s changed on disk since it was listed; read when re-listed", dist.relpath)
        return None
    return fh


@dataclass(frozen=True, slots=True)
class FileFacts:
    """What the ledger knows about one file identity."""

    identity: tuple[int, int, int]
    upload_time: float
    digests: Mapping[str, str]
    metadata_sha256: str | None  # None: no readable core metadata
    metadata_servable: bool  # a wheel's METADATA: offered as <file>.metadata (PEP 658)
    requires_python: str | None
    summary: str | None = None  # the metadata's Summary ('' when it has none)
    meta_name: str | None = None  # the metadata's Name, as its author wrote it

    @property
    def core_metadata(self) -> str | None:
        """sha256 of the ``.metadata`` file, when one is served."""
        return self.metadata_sha256 if self.metadata_servable else None


@dataclass(frozen=True, slots=True)
class Recorded:
    """Facts of a file just written by an upload."""

    digests: Mapping[str, str]
    metadata: metadata.Extracted | None


@dataclass
class _Row:
    identity: tuple[int, int, int]
    seen_at: float
    facts_identity: tuple[int, int, int] | None
    upload_time: float | None
    digests: dict[str, str] = field(default_factory=dict)
    meta_sha256: str | None = None
    meta_servable: bool = False
    requires_python: str | None = None
    summary: str | None = None
    meta_name: str | None = None


_COLUMNS = (
    "size, mtime_ns, inode, seen_at, f_size, f_mtime_ns, f_inode, upload_time, digests, "
    "meta_sha256, meta_servable, requires_python, summary, meta_name"
)


def _row(values: Sequence[object]) -> _Row:
    size, mtime_ns, inode, seen_at, f_size, f_mtime_ns, f_inode = values[:7]
    upload_time, digests, meta_sha256, meta_servable, requires_python = values[7:12]
    summary, meta_name = values[12:14]
    facts_identity = (
        (int(str(f_size)), int(str(f_mtime_ns)), int(str(f_inode))) if f_size is not None else None
    )
    try:
        parsed = json.loads(str(digests)) if digests else {}
    except ValueError:
        parsed = {}
    return _Row(
        identity=(int(str(size)), int(str(mtime_ns)), int(str(inode))),
        seen_at=float(str(seen_at)),
        facts_identity=facts_identity,
        upload_time=float(str(upload_time)) if upload_time is not None else None,
        digests={str(k): str(v) for k, v in parsed.items()} if isinstance(parsed, dict) else {},
        meta_sha256=str(meta_sha256) if meta_sha256 is not None else None,
        meta_servable=bool(meta_servable),
        requires_python=str(requires_python) if requires_python is not None else None,
        summary=str(summary) if summary is not None else None,
        meta_name=str(meta_name) if meta_name is not None else None,
    )


def _check_schema(conn: sqlite3.Connection) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > _SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"written by a newer packyard (schema {version}, this one knows {_SCHEMA_VERSION})"
        )


def _headline(body: bytes) -> tuple[str, str | None]:
    """The Summary ('' when there is none) and the Name of a core metadata file."""
    parsed = metadata.parse(body)
    return parsed.get("summary") or "", parsed.get("name") or None


_ADDED_IN_2 = ("summary", "meta_name")


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a ledger written by an older packyard up to this schema, in one
    transaction (several processes may open the same ledger at once)."""
    if conn.execute("PRAGMA user_version").fetchone()[0] == _SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        have = {str(row[1]) for row in conn.execute("PRAGMA table_info(files)")}
        missing = [column for column in _ADDED_IN_2 if column not in have]
        for column in missing:
            conn.execute(f"ALTER TABLE files ADD COLUMN {column} TEXT")
        if missing:
            _backfill_headlines(conn)
        conn.execute(f"PRAGMA user_version={_SCHEMA_VERSION}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _backfill_headlines(conn: sqlite3.Connection) -> None:
    """Summary and Name of the files whose metadata a schema-1 ledger already holds,
    read from the stored metadata (one body at a time), never from the archives."""
    digests = [
        str(row[0])
        for row in conn.execute(
            "SELECT DISTINCT meta_sha256 FROM files WHERE meta_sha256 IS NOT NULL"
        )
    ]
    for digest in digests:
        found = conn.execute("SELECT body FROM metadata WHERE sha256=?", (digest,)).fetchone()
        if found is None:
            continue
        summary, name = _headline(bytes(found[0]))
        conn.execute(
            "UPDATE files SET summary=?, meta_name=? WHERE meta_sha256=?", (summary, name, digest)
        )


_SELECT_ROW = f"SELECT {_COLUMNS} FROM files WHERE relpath=?"  # noqa: S608 - constant text


class RootLedger:
    """The ledger of one packages directory."""

    def __init__(self, root: Root, *, writable: bool = True) -> None:
        self.root = root
        self.path: str | None = None
        conn: sqlite3.Connection | None = None
        if writable:
            directory = os.path.join(root.path, LEDGER_DIR)
            path = os.path.join(directory, LEDGER_FILE)
            try:
                os.makedirs(directory, mode=0o755, exist_ok=True)
                conn = self._open(path)
                self.path = path
            except (OSError, sqlite3.Error) as exc:
                log.warning(
                    "cannot keep the ledger in %s (%s): upload times and yanks of its files "
                    "are kept in memory only and are lost at restart",
                    directory,
                    exc,
                )
                conn = None
        if conn is None:
            conn = self._open(":memory:")
        self._conn = conn
        self._lock = threading.RLock()
        self._computing: dict[str, threading.Lock] = {}
        self._computing_guard = threading.Lock()
        self._data_version = self._read_data_version()
        self._signature = self._files_signature()
        self._seen_change = self._last_change()
        self._yank_counter = self._counter("yanks")

    @staticmethod
    def _open(path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False, isolation_level=None)
        try:
            if path != ":memory:":
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            _check_schema(conn)
            conn.executescript(_SCHEMA)
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- transactions ----------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _read_data_version(self) -> int:
        with self._lock:
            return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _last_change(self) -> int:
        with self._lock:
            found = self._conn.execute("SELECT MAX(seq) FROM changes").fetchone()[0]
        return int(found or 0)

    def _counter(self, name: str) -> int:
        with self._lock:
            found = self._conn.execute(
                "SELECT value FROM counters WHERE name=?", (name,)
            ).fetchone()
        return int(found[0]) if found else 0

    @staticmethod
    def _bump(conn: sqlite3.Connection, name: str) -> None:
        conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, 1) "
            "ON CONFLICT(name) DO UPDATE SET value=value+1",
            (name,),
        )

    def note_changes(self, relpaths: Iterable[str]) -> None:
        """Record files we wrote or removed, so other processes serving this
        directory refresh them on their next request (before their watcher would)."""
        now = time.time()
        rows = [(r, now) for r in relpaths]
        if not rows:
            return
        with self._write() as conn:
            conn.executemany("INSERT INTO changes (relpath, at) VALUES (?, ?)", rows)
            conn.execute("DELETE FROM changes WHERE at < ?", (now - CHANGES_KEPT,))

    def _files_signature(self) -> tuple[int, ...] | None:
        """Size and modification time of the database and its WAL: they change with
        every commit, by any process. None for a ledger in memory (no other process
        can write it)."""
        if self.path is None:
            return None
        signature: list[int] = []
        for name in (self.path, self.path + "-wal"):
            try:
                st = os.stat(name)
            except OSError:
                signature += [-1, -1]
            else:
                signature += [st.st_size, st.st_mtime_ns]
        return tuple(signature)

    def poll(self) -> tuple[list[str], bool] | None:
        """What other processes changed since the last poll: (relpaths written or
        removed, whether yanks changed); None when nothing was committed elsewhere.

        Called before every request, so the usual case costs two stat() calls and no
        lock: SQLite is asked (``data_version``) only when the files changed. A change
        that the files' timestamps cannot show (two commits within one clock tick, the
        WAL not growing) is still found by the next commit or by the file watcher.
        """
        signature = self._files_signature()
        if signature is None or signature == self._signature:
            return None
        self._signature = signature
        with self._lock:
            current = int(self._conn.execute("PRAGMA data_version").fetchone()[0])
            if current == self._data_version:
                return None
            self._data_version = current
            rows = self._conn.execute(
                "SELECT seq, relpath FROM changes WHERE seq > ? ORDER BY seq",
                (self._seen_change,),
            ).fetchall()
            if rows:
                self._seen_change = int(rows[-1][0])
            counter = self._counter("yanks")
            yanks_changed = counter != self._yank_counter
            self._yank_counter = counter
        return [str(r) for _, r in rows], yanks_changed

    # --- observations from the scan and the watcher ---------------------------------

    def observe_all(self, dists: Iterable[Distribution], now: float | None = None) -> None:
        """After a full scan: rows for new or changed files; rows of files gone removed
        (unless the scan found nothing at all: an unmounted volume must not wipe the
        ledger)."""
        now = time.time() if now is None else now
        current = {d.relpath: d.identity for d in dists}
        with self._lock:
            known = {
                str(relpath): (int(size), int(mtime), int(inode))
                for relpath, size, mtime, inode in self._conn.execute(
                    "SELECT relpath, size, mtime_ns, inode FROM files"
                )
            }
        new = [(r, *i, now) for r, i in current.items() if r not in known]
        changed = [(*i, now, r) for r, i in current.items() if r in known and known[r] != i]
        gone = [(r,) for r in known if r not in current] if current else []
        if not (new or changed or gone):
            return
        with self._write() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO files (relpath, size, mtime_ns, inode, seen_at) "
                "VALUES (?, ?, ?, ?, ?)",
                new,
            )
            conn.executemany(
                "UPDATE files SET size=?, mtime_ns=?, inode=?, seen_at=? WHERE relpath=?",
                changed,
            )
            conn.executemany("DELETE FROM files WHERE relpath=?", gone)
            if gone:
                self._collect_metadata(conn)

    def observe(
        self, seen: Iterable[Distribution], gone: Iterable[str], now: float | None = None
    ) -> None:
        """Files seen (new or changed) and files gone, from the watcher or our writes."""
        now = time.time() if now is None else now
        seen = list(seen)
        gone_rows = [(r,) for r in gone]
        if not seen and not gone_rows:
            return
        with self._write() as conn:
            for dist in seen:
                size, mtime, inode = dist.identity
                conn.execute(
                    "INSERT INTO files (relpath, size, mtime_ns, inode, seen_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT(relpath) DO UPDATE SET "
                    "size=excluded.size, mtime_ns=excluded.mtime_ns, inode=excluded.inode, "
                    "seen_at=excluded.seen_at WHERE size!=excluded.size "
                    "OR mtime_ns!=excluded.mtime_ns OR inode!=excluded.inode",
                    (dist.relpath, size, mtime, inode, now),
                )
            conn.executemany("DELETE FROM files WHERE relpath=?", gone_rows)
            if gone_rows:
                self._collect_metadata(conn)

    @staticmethod
    def _collect_metadata(conn: sqlite3.Connection) -> None:
        conn.execute(
            "DELETE FROM metadata WHERE sha256 NOT IN "
            "(SELECT meta_sha256 FROM files WHERE meta_sha256 IS NOT NULL)"
        )

    # --- facts -----------------------------------------------------------------------

    def _load(self, relpath: str) -> _Row | None:
        with self._lock:
            found = self._conn.execute(_SELECT_ROW, (relpath,)).fetchone()
        return _row(found) if found is not None else None

    @staticmethod
    def _valid(row: _Row | None, dist: Distribution, algos: Collection[str]) -> FileFacts | None:
        if row is None or row.facts_identity != dist.identity or row.upload_time is None:
            return None
        if any(algo not in row.digests for algo in algos):
            return None
        return FileFacts(
            identity=dist.identity,
            upload_time=row.upload_time,
            digests=dict(row.digests),
            metadata_sha256=row.meta_sha256,
            metadata_servable=row.meta_servable,
            requires_python=row.requires_python,
            summary=row.summary,
            meta_name=row.meta_name,
        )

    def peek(self, dist: Distribution, algos: Collection[str] = BASE_ALGOS) -> FileFacts | None:
        """The facts if already known; never reads the file."""
        return self._valid(self._load(dist.relpath), dist, algos)

    def facts(self, dist: Distribution, algos: Collection[str] = BASE_ALGOS) -> FileFacts | None:
        """The facts of ``dist``, computed now if needed; None if the file is unreadable."""
        found = self.peek(dist, algos)
        if found is not None:
            return found
        with self._computing_guard:
            lock = self._computing.setdefault(dist.relpath, threading.Lock())
        try:
            with lock:
                row = self._load(dist.relpath)
                found = self._valid(row, dist, algos)
                if found is not None:
                    return found
                return self._compute(dist, row, algos)
        finally:
            with self._computing_guard:
                self._computing.pop(dist.relpath, None)

    def _compute(
        self, dist: Distribution, row: _Row | None, algos: Collection[str]
    ) -> FileFacts | None:
        same_content = row is not None and row.facts_identity == dist.identity
        # Only digests are missing: the metadata of this identity is known.
        only_digests = same_content and row is not None and row.upload_time is not None
        wanted = set(algos) | set(BASE_ALGOS)
        if same_content and row is not None:
            wanted -= set(row.digests)
        fh = open_as_listed(dist)
        if fh is None:
            return None
        with fh:
            try:
                digests = compute_digests(fh, wanted)
            except OSError as exc:
                log.warning("cannot read %s: %s", dist.path, exc.strerror or exc)
                return None
            extracted = None if only_digests else self._extract(dist, fh)
        now = time.time()
        if only_digests and row is not None and row.upload_time is not None:
            digests = {**row.digests, **digests}
            with self._write() as conn:
                conn.execute(
                    "UPDATE files SET digests=? WHERE relpath=?",
                    (json.dumps(digests, sort_keys=True), dist.relpath),
                )
            return FileFacts(
                identity=dist.identity,
                upload_time=row.upload_time,
                digests=digests,
                metadata_sha256=row.meta_sha256,
                metadata_servable=row.meta_servable,
                requires_python=row.requires_python,
                summary=row.summary,
                meta_name=row.meta_name,
            )
        if row is None:
            upload_time = now
        elif row.facts_identity is not None and row.digests.get("sha256") == digests["sha256"]:
            upload_time = row.upload_time if row.upload_time is not None else row.seen_at
        elif row.identity == dist.identity:
            upload_time = row.seen_at
        else:
            upload_time = now  # seen by us before the scan or watcher reported it
        return self._store(dist, upload_time, digests, extracted)

    @staticmethod
    def _extract(dist: Distribution, fh: IO[bytes]) -> metadata.Extracted | None:
        try:
            fh.seek(0)
            return metadata.extract(fh, dist.filename, dist.kind, dist.project)
        except metadata.MetadataError as exc:
            log.warning("%s: no core metadata (%s)", shown(dist.relpath), shown(exc))
        except OSError as exc:
            log.warning("cannot read %s: %s", dist.path, exc.strerror or exc)
        return None

    def _store(
        self,
        dist: Distribution,
        upload_time: float,
        digests: Mapping[str, str],
        extracted: metadata.Extracted | None,
        *,
        note_change: bool = False,
    ) -> FileFacts:
        meta_sha256 = None
        requires_python = summary = meta_name = None
        if extracted is not None:
            meta_sha256 = hashlib.sha256(extracted.body).hexdigest()
            requires_python = metadata.requires_python(extracted.body)
            summary, meta_name = _headline(extracted.body)
        size, mtime, inode = dist.identity
        with self._write() as conn:
            if extracted is not None:
                conn.execute(
                    "INSERT OR IGNORE INTO metadata (sha256, body) VALUES (?, ?)",
                    (meta_sha256, extracted.body),
                )
            conn.execute(
                "INSERT INTO files (relpath, size, mtime_ns, inode, seen_at, f_size, f_mtime_ns, "
                "f_inode, upload_time, sha256, digests, meta_sha256, meta_servable, "
                "requires_python, summary, meta_name) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(relpath) DO UPDATE SET size=excluded.size, "
                "mtime_ns=excluded.mtime_ns, inode=excluded.inode, f_size=excluded.f_size, "
                "f_mtime_ns=excluded.f_mtime_ns, f_inode=excluded.f_inode, "
                "upload_time=excluded.upload_time, sha256=excluded.sha256, "
                "digests=excluded.digests, meta_sha256=excluded.meta_sha256, "
                "meta_servable=excluded.meta_servable, requires_python=excluded.requires_python, "
                "summary=excluded.summary, meta_name=excluded.meta_name",
                (
                    dist.relpath,
                    size,
                    mtime,
                    inode,
                    upload_time,
                    size,
                    mtime,
                    inode,
                    upload_time,
                    digests.get("sha256"),
                    json.dumps(dict(digests), sort_keys=True),
                    meta_sha256,
                    int(extracted is not None and extracted.servable),
                    requires_python,
                    summary,
                    meta_name,
                ),
            )
            if note_change:
                conn.execute(
                    "INSERT INTO changes (relpath, at) VALUES (?, ?)", (dist.relpath, time.time())
                )
        return FileFacts(
            identity=dist.identity,
            upload_time=upload_time,
            digests=dict(digests),
            metadata_sha256=meta_sha256,
            metadata_servable=extracted is not None and extracted.servable,
            requires_python=requires_python,
            summary=summary,
            meta_name=meta_name,
        )

    def record_upload(self, dist: Distribution, recorded: Recorded) -> FileFacts:
        """Facts of a file we just wrote: upload time now, digests from the stream, and
        the change note for other processes, in one transaction (all or nothing)."""
        return self._store(dist, time.time(), recorded.digests, recorded.metadata, note_change=True)

    def record_removed(self, removed: Mapping[str, str]) -> None:
        """Tombstones (relpath -> sha256) of files about to be removed by remove_pkg."""
        now = time.time()
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO removed (relpath, sha256, removed_at) VALUES (?, ?, ?) "
                "ON CONFLICT(relpath) DO UPDATE SET sha256=excluded.sha256, "
                "removed_at=excluded.removed_at",
                [(relpath, sha256, now) for relpath, sha256 in removed.items()],
            )

    def removed_sha256(self, relpath: str) -> str | None:
        """The sha256 of the file that was removed under ``relpath``, if one was."""
        with self._lock:
            found = self._conn.execute(
                "SELECT sha256 FROM removed WHERE relpath=?", (relpath,)
            ).fetchone()
        return str(found[0]) if found is not None else None

    def metadata_body(self, sha256: str) -> bytes | None:
        with self._lock:
            found = self._conn.execute(
                "SELECT body FROM metadata WHERE sha256=?", (sha256,)
            ).fetchone()
        return bytes(found[0]) if found is not None else None

    # --- yanks -----------------------------------------------------------------------

    def file_yanks(self) -> dict[str, str]:
        with self._lock:
            return {
                str(r): str(y)
                for r, y in self._conn.execute(
                    "SELECT relpath, yanked FROM files WHERE yanked IS NOT NULL"
                )
            }

    def release_yanks(self) -> dict[tuple[str, str], str]:
        with self._lock:
            return {
                (str(p), str(v)): str(reason)
                for p, v, reason in self._conn.execute(
                    "SELECT project, version, reason FROM releases"
                )
            }

    def set_file_yank(self, dist: Distribution, reason: str | None) -> None:
        """Yank (reason is a string, maybe empty) or un-yank (None) one file."""
        size, mtime, inode = dist.identity
        with self._write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO files (relpath, size, mtime_ns, inode, seen_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (dist.relpath, size, mtime, inode, time.time()),
            )
            conn.execute("UPDATE files SET yanked=? WHERE relpath=?", (reason, dist.relpath))
            self._bump(conn, "yanks")

    def set_release_yank(
        self, project: str, version: str, reason: str | None, relpaths: Collection[str] = ()
    ) -> None:
        """Yank or un-yank a release; un-yanking also clears its files' own yanks."""
        key = version_key(version)
        with self._write() as conn:
            if reason is None:
                conn.execute("DELETE FROM releases WHERE project=? AND version=?", (project, key))
                conn.executemany(
                    "UPDATE files SET yanked=NULL WHERE relpath=?", [(r,) for r in relpaths]
                )
            else:
                conn.execute(
                    "INSERT INTO releases (project, version, reason) VALUES (?, ?, ?) "
                    "ON CONFLICT(project, version) DO UPDATE SET reason=excluded.reason",
                    (project, key, reason),
                )
            self._bump(conn, "yanks")


@dataclass(frozen=True)
class YankState:
    """Every yank, merged over the packages directories; immutable."""

    serial: int
    files: Mapping[tuple[int, str], str]  # (root index, relpath) -> reason
    releases: Mapping[tuple[str, str], str]  # (project, version key) -> reason
    roots: Mapping[str, int] = field(default_factory=dict)  # root path -> root index

    def reason(self, root_index: int, dist: Distribution) -> str | None:
        """None when not yanked, else the reason ('' when none was given)."""
        found = self.releases.get((dist.project, version_key(dist.version)))
        if found is not None:
            return found
        return self.files.get((root_index, dist.relpath))

    def of(self, dist: Distribution) -> str | None:
        """``reason`` of a file of any root."""
        return self.reason(self.roots.get(dist.root, 0), dist)


class Ledger:
    """The ledgers of all packages directories, with the merged yank state."""

    def __init__(self, roots: Sequence[Root], *, persistent: bool = True) -> None:
        self.roots = tuple(roots)
        self._index = {root.path: i for i, root in enumerate(self.roots)}
        self.parts = [RootLedger(root, writable=persistent) for root in self.roots]
        self._serial = 0
        self._yank_lock = threading.Lock()
        self._yanks = self._load_yanks()

    @classmethod
    def in_memory(cls, roots: Sequence[Root]) -> Ledger:
        return cls(roots, persistent=False)

    def close(self) -> None:
        for part in self.parts:
            part.close()

    def part(self, dist: Distribution) -> RootLedger:
        return self.parts[self._index.get(dist.root, 0)]

    def root_index(self, dist: Distribution) -> int:
        return self._index.get(dist.root, 0)

    # --- facts -----------------------------------------------------------------------

    def facts(self, dist: Distribution, algos: Collection[str] = BASE_ALGOS) -> FileFacts | None:
        return self.part(dist).facts(dist, algos)

    def metadata_body(self, dist: Distribution, facts: FileFacts) -> bytes | None:
        if facts.metadata_sha256 is None:
            return None
        return self.part(dist).metadata_body(facts.metadata_sha256)

    # --- yanks -----------------------------------------------------------------------

    def _load_yanks(self, previous: YankState | None = None) -> YankState:
        files: dict[tuple[int, str], str] = {}
        releases: dict[tuple[str, str], str] = {}
        for index, part in enumerate(self.parts):
            files.update({(index, r): reason for r, reason in part.file_yanks().items()})
            for key, reason in part.release_yanks().items():
                releases.setdefault(key, reason)
        if previous is not None and previous.files == files and previous.releases == releases:
            return previous  # unchanged: pages made from it stay valid
        self._serial += 1
        return YankState(serial=self._serial, files=files, releases=releases, roots=self._index)

    @property
    def yanks(self) -> YankState:
        """The current yank state (``poll`` brings in other processes' changes)."""
        return self._yanks

    def reload_yanks(self) -> YankState:
        with self._yank_lock:
            self._yanks = self._load_yanks(self._yanks)
            return self._yanks

    def poll(self) -> dict[int, list[str]]:
        """Changes other processes committed: relpaths to refresh, per root index.
        Yank changes are loaded here."""
        found: dict[int, list[str]] = {}
        yanks_changed = False
        for index, part in enumerate(self.parts):
            news = part.poll()
            if news is not None:
                relpaths, changed = news
                if relpaths:
                    found[index] = relpaths
                yanks_changed = yanks_changed or changed
        if yanks_changed:
            self.reload_yanks()
        return found

    def yank_file(self, dist: Distribution, reason: str | None) -> None:
        self.part(dist).set_file_yank(dist, reason)
        self.reload_yanks()

    def yank_release(
        self, project: str, version: str, reason: str | None, files: Iterable[Distribution]
    ) -> None:
        files = list(files)
        if reason is None:
            for index, part in enumerate(self.parts):
                part.set_release_yank(
                    project,
                    version,
                    None,
                    [d.relpath for d in files if self._index.get(d.root, 0) == index],
                )
        else:
            self.parts[0].set_release_yank(project, version, reason)
        self.reload_yanks()

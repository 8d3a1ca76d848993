"""Scanning packages directories into Distributions.

Rules (the same for the start-up scan and for single paths reported by the watcher):
- names starting with "." (files and directories) are never listed: they are ours
  (temporary uploads, the metadata store) or the user's hidden files;
- symlinked directories are not followed; a symlinked file is listed only when its
  real target lies inside the same root and not under a hidden name (so a link to
  ``.packyard/`` or to an htpasswd file kept in a dot-directory is never listed);
- only recognized distribution filenames are listed.

Serving and hashing open a listed file with ``open_listed``: never following a symlink
that the rules above would not list, never blocking on a FIFO or device, and only a
regular file; the caller then compares its identity with the listed one.
"""

from __future__ import annotations

import errno
import io
import logging
import os
import stat
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass

from packyard.index.filenames import Kind, NotADistribution, parse_filename
from packyard.index.model import Distribution
from packyard.index.names import normalize

log = logging.getLogger(__name__)

# How every listed file is opened for reading: a symlink as the last component is not
# followed (ELOOP; see open_listed), a FIFO or device does not block the open, and the
# descriptor does not leak into child processes.
OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


@dataclass(frozen=True, slots=True)
class Root:
    """A packages directory: the path as served, and its real path for containment."""

    path: str
    real: str

    @classmethod
    def of(cls, path: str) -> Root:
        absolute = os.path.abspath(path)
        return cls(path=absolute, real=os.path.realpath(absolute))

    def holds(self, target: str) -> bool:
        """Whether ``target`` (a path, symlinks resolved here) is a file this root may
        serve: inside it, and no part of its path below the root starts with "."."""
        real = os.path.realpath(target)
        prefix = self.real.rstrip(os.sep) + os.sep
        if not real.startswith(prefix):
            return False
        return not any(part.startswith(".") for part in real[len(prefix) :].split(os.sep))


def is_hidden_relpath(relpath: str) -> bool:
    return any(part.startswith(".") or not part for part in relpath.split("/"))


def _walk(root: Root, rel_dir: str) -> Iterator[tuple[str, os.DirEntry[str]]]:
    start = os.path.join(root.path, *rel_dir.split("/")) if rel_dir else root.path
    stack = [(start, rel_dir)]
    while stack:
        directory, rel = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except FileNotFoundError:
            continue  # removed meanwhile (or a deleted directory being re-read)
        except OSError as exc:
            log.warning("cannot list %s: %s", directory, exc.strerror or exc)
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relpath = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append((entry.path, relpath))
                    continue
            except OSError:
                continue
            yield relpath, entry


def _stat_file(root: Root, path: str, is_symlink: bool) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # vanished, dangling symlink, no permission
    if not stat.S_ISREG(st.st_mode):
        return None
    if is_symlink and not root.holds(path):
        log.warning("not serving %s: symlink leads outside %s or to a hidden path", path, root.path)
        return None
    return st


def file_identity(st: os.stat_result) -> tuple[int, int, int]:
    """The identity of an open file, to compare with ``Distribution.identity``."""
    return (st.st_size, st.st_mtime_ns, st.st_ino)


class Unservable(Exception):
    """The path of a listed file holds no file that may be served now: it is gone, not
    a regular file (a FIFO, socket, device or directory), or a symlink that leads out of
    its root or to a hidden path. The message says which, for the log and the client."""


class Gone(Unservable):
    """Nothing is at the path (removed meanwhile): not worth a warning."""


def open_listed(dist: Distribution) -> tuple[io.BufferedReader, os.stat_result]:
    """The file listed as ``dist``, open for reading, and its fstat. Never blocks and
    never follows a symlink that ``scan`` would not list. The caller compares
    ``(st_size, st_mtime_ns, st_ino)`` with ``dist.identity`` before using the bytes."""
    try:
        fd = os.open(dist.path, OPEN_FLAGS)
    except FileNotFoundError as exc:
        raise Gone(f"{dist.relpath} is no longer available") from exc
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.EMLINK):  # EMLINK: BSDs' O_NOFOLLOW
            raise Unservable(f"{dist.relpath} cannot be opened: {exc.strerror}") from exc
        fd = _open_link_target(dist)
    try:
        st = os.fstat(fd)
    except OSError as exc:
        os.close(fd)
        raise Unservable(f"{dist.relpath} cannot be examined: {exc.strerror}") from exc
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise Unservable(f"{dist.relpath} is not a regular file")
    return open(fd, "rb"), st


def _open_link_target(dist: Distribution) -> int:
    """The real file behind a symlinked listed file, if its root may serve it (the
    rare path: a symlink costs a realpath per open). A directory on the resolved path
    swapped for a symlink meanwhile yields another inode, which the caller refuses."""
    real = os.path.realpath(dist.path)
    if not Root.of(dist.root).holds(real):
        raise Unservable(f"{dist.relpath} is a symlink to a file this index does not serve")
    try:
        return os.open(real, OPEN_FLAGS)
    except OSError as exc:
        raise Unservable(f"{dist.relpath} cannot be opened: {exc.strerror}") from exc


class _Hints(Collection[str]):
    """Known project names plus the name of the file's own directory, without copying."""

    def __init__(self, relpath: str, known: Collection[str]) -> None:
        self._known = known
        parent = relpath.rpartition("/")[0]
        self._extra = normalize(parent.rpartition("/")[2]) if parent else None

    def __contains__(self, name: object) -> bool:
        return name == self._extra or name in self._known

    def __iter__(self) -> Iterator[str]:
        if self._extra is not None:
            yield self._extra
        yield from self._known

    def __len__(self) -> int:
        return len(self._known) + (self._extra is not None)


def _hints(relpath: str, known: Collection[str]) -> Collection[str]:
    return _Hints(relpath, known)


def scan(root: Root, rel_dir: str = "", known: Collection[str] = ()) -> list[Distribution]:
    """Every distribution under ``root`` (or one of its subdirectories).

    Wheels are parsed first; their project names then serve as hints for legacy sdists
    whose name/version split is ambiguous.
    """
    found: list[tuple[str, os.DirEntry[str]]] = []
    for relpath, entry in _walk(root, rel_dir):
        found.append((relpath, entry))
    found.sort(key=lambda item: not item[0].endswith(".whl"))
    names = set(known)
    result: list[Distribution] = []
    for relpath, entry in found:
        try:
            parsed = parse_filename(entry.name, _hints(relpath, names))
        except NotADistribution:
            continue
        try:
            is_link = entry.is_symlink()
        except OSError:
            continue
        st = _stat_file(root, entry.path, is_link)
        if st is None:
            continue
        if parsed.kind is Kind.WHEEL:
            names.add(parsed.project)
        result.append(Distribution.from_parsed(root.path, relpath, parsed, st))
    return result


def probe(root: Root, relpath: str, known: Collection[str] = ()) -> Distribution | None:
    """The distribution at ``relpath`` as it is on disk now, or None if there is none."""
    if is_hidden_relpath(relpath):
        return None
    name = relpath.rpartition("/")[2]
    try:
        parsed = parse_filename(name, _hints(relpath, known))
    except NotADistribution:
        return None
    path = os.path.join(root.path, *relpath.split("/"))
    # Every directory on the way must be a real directory (symlinked ones are not served).
    parent = root.path
    for part in relpath.split("/")[:-1]:
        parent = os.path.join(parent, part)
        if os.path.islink(parent):
            return None
    st = _stat_file(root, path, os.path.islink(path))
    if st is None:
        return None
    return Distribution.from_parsed(root.path, relpath, parsed, st)


def first_root_wins(per_root: Iterable[Iterable[Distribution]]) -> dict[str, Distribution]:
    """The effective view of several packages directories, in their order: for a
    relpath found in several, the first directory's file (the server and ``update``
    both see the directories this way)."""
    effective: dict[str, Distribution] = {}
    for files in reversed(list(per_root)):
        effective.update((d.relpath, d) for d in files)
    return effective

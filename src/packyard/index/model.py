"""The in-memory picture of the index: frozen distributions and snapshots.

A snapshot is never mutated. A change produces a new snapshot that shares every
unchanged part with the old one (copy-on-write): a project whose files did not change
keeps the very same tuple object, so anything cached per project stays valid by
identity. Readers take ``cache.snapshot`` once per request and need no lock.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from packyard.index.filenames import Kind, ParsedFilename


@dataclass(frozen=True, slots=True)
class Distribution:
    """One distribution file as found in a packages directory."""

    root: str  # absolute path of the packages directory that holds it
    relpath: str  # POSIX path relative to that root; also its URL under /packages/
    project: str  # normalized project name
    version: str
    kind: Kind
    sort_key: tuple[object, ...]
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def from_parsed(
        cls, root: str, relpath: str, parsed: ParsedFilename, st: os.stat_result
    ) -> Distribution:
        return cls(
            root=root,
            relpath=relpath,
            project=parsed.project,
            version=parsed.version,
            kind=parsed.kind,
            sort_key=(*parsed.sort_key, relpath.rpartition("/")[2], relpath),
            size=st.st_size,
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
        )

    @property
    def filename(self) -> str:
        return self.relpath.rpartition("/")[2]

    @property
    def path(self) -> str:
        return os.path.join(self.root, *self.relpath.split("/"))

    @property
    def identity(self) -> tuple[int, int, int]:
        """Changes whenever the file's content may have changed."""
        return (self.size, self.mtime_ns, self.inode)


def _sorted(files: Iterable[Distribution]) -> tuple[Distribution, ...]:
    return tuple(sorted(files, key=lambda d: d.sort_key))


@dataclass(frozen=True, slots=True)
class IndexSnapshot:
    """Every served file, by relpath and by project; immutable."""

    generation: int = 0
    files: Mapping[str, Distribution] = field(default_factory=lambda: MappingProxyType({}))
    projects: Mapping[str, tuple[Distribution, ...]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    project_names: tuple[str, ...] = ()

    @classmethod
    def build(cls, files: Mapping[str, Distribution], generation: int = 1) -> IndexSnapshot:
        by_project: dict[str, list[Distribution]] = {}
        for dist in files.values():
            by_project.setdefault(dist.project, []).append(dist)
        projects = {name: _sorted(dists) for name, dists in by_project.items()}
        return cls(
            generation=generation,
            files=MappingProxyType(dict(files)),
            projects=MappingProxyType(projects),
            project_names=tuple(sorted(projects)),
        )

    def evolve(self, changes: Mapping[str, Distribution | None]) -> IndexSnapshot:
        """A new snapshot with ``changes`` applied: relpath -> new file, or None to drop.

        Costs one shallow copy of the maps plus a re-sort of the touched projects only.
        """
        files = dict(self.files)
        touched: set[str] = set()
        for relpath, new in changes.items():
            old = files.pop(relpath, None)
            if old is not None:
                touched.add(old.project)
            if new is not None:
                files[relpath] = new
                touched.add(new.project)
        if not touched:
            return self
        projects = dict(self.projects)
        for name in touched:
            keep = [d for d in projects.get(name, ()) if files.get(d.relpath) is d]
            keep.extend(
                new
                for relpath, new in changes.items()
                if new is not None and new.project == name and files.get(relpath) is new
            )
            if keep:
                projects[name] = _sorted(keep)
            else:
                projects.pop(name, None)
        names = self.project_names
        if touched - set(self.projects) or any(n not in projects for n in touched):
            names = tuple(sorted(projects))
        return IndexSnapshot(
            generation=self.generation + 1,
            files=MappingProxyType(files),
            projects=MappingProxyType(projects),
            project_names=names,
        )

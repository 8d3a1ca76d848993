"""Yanking (PEP 592): marking a release or a single file as "do not pick unless pinned".

Used by the ``yank``/``unyank`` form actions over HTTP and by the ``pypi-server yank``
command on a packages directory. A yanked file stays listed and downloadable; the pages
carry ``data-yanked`` / ``"yanked"`` so installers skip it unless it is pinned with
``==`` or ``===``.

A release yank covers every file of that version, including files added later; a file
yank covers one file. Un-yanking a release also clears the yanks of its files.
"""

from __future__ import annotations

from dataclasses import dataclass

from packyard.errors import PackyardError
from packyard.index.filenames import NotADistribution, parse_filename
from packyard.index.model import Distribution
from packyard.index.names import is_valid_name, normalize
from packyard.index.versions import version_key
from packyard.storage.repository import Repository

MAX_REASON = 1000


class YankError(PackyardError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Target:
    """A release (project + version) or one file (filename)."""

    project: str | None = None
    version: str | None = None
    filename: str | None = None

    def describe(self) -> str:
        if self.filename:
            return self.filename
        return f"{self.project} {self.version}"


def target_from(name: str | None, version: str | None, filename: str | None) -> Target:
    """Check what a caller named; YankError(400) if it is not a release or a file."""
    if filename:
        if "/" in filename or "\\" in filename:
            raise YankError(400, f"Invalid filename {filename!r}: give the file's name only")
        return Target(project=normalize(name) if name else None, filename=filename)
    if not name or not version:
        raise YankError(400, "Name a release (name and version) or a file (filename) to yank")
    if not is_valid_name(name):
        raise YankError(400, f"Invalid project name {name!r}")
    return Target(project=normalize(name), version=version.strip())


def check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if len(reason) > MAX_REASON:
        raise YankError(400, f"The reason is longer than {MAX_REASON} characters")
    if any(ord(c) < 32 and c not in "\t" for c in reason):
        raise YankError(400, "The reason must be one line of text")
    return reason


def _release_files(repo: Repository, project: str, version: str) -> list[Distribution]:
    key = version_key(version)
    return [d for d in repo.snapshot.projects.get(project, ()) if version_key(d.version) == key]


def _file(repo: Repository, target: Target) -> Distribution:
    filename = target.filename or ""
    snapshot = repo.snapshot
    project = target.project
    if project is None:
        try:
            project = parse_filename(filename).project
        except NotADistribution:
            raise YankError(404, f"Not Found: {filename} is not a file of this index") from None
    for dist in snapshot.projects.get(project, ()):
        if dist.filename == filename:
            return dist
    for dist in snapshot.files.values():  # a legacy name split another way
        if dist.filename == filename:
            return dist
    raise YankError(404, f"Not Found: {filename} is not a file of this index")


def yank(repo: Repository, target: Target, reason: str | None) -> str:
    """Yank; returns the message for the user. YankError for an unknown target,
    StorageError when the yank cannot be recorded."""
    text = check_reason(reason)
    if target.filename:
        dist = _file(repo, target)
        repo.yank_file(dist, text)
        return f"OK: yanked {dist.filename}" + (f" ({text})" if text else "")
    assert target.project is not None
    assert target.version is not None
    files = _release_files(repo, target.project, target.version)
    if not files:
        raise YankError(404, f"Not Found: {target.describe()} is not on this index")
    repo.yank_release(target.project, target.version, text, files)
    return f"OK: yanked {target.describe()} ({len(files)} file(s))" + (f": {text}" if text else "")


def unyank(repo: Repository, target: Target) -> str:
    if target.filename:
        dist = _file(repo, target)
        yanks = repo.yanks
        if (dist.project, version_key(dist.version)) in yanks.releases:
            raise YankError(
                409,
                f"{dist.project} {dist.version} is yanked as a whole release; un-yank the "
                "release (then yank single files again if needed)",
            )
        if yanks.of(dist) is None:
            return f"OK: {dist.filename} was not yanked"
        repo.yank_file(dist, None)
        return f"OK: {dist.filename} is no longer yanked"
    assert target.project is not None
    assert target.version is not None
    files = _release_files(repo, target.project, target.version)
    if not files:
        raise YankError(404, f"Not Found: {target.describe()} is not on this index")
    yanks = repo.yanks
    if all(yanks.of(d) is None for d in files):
        return f"OK: {target.describe()} was not yanked"
    repo.yank_release(target.project, target.version, None, files)
    return f"OK: {target.describe()} is no longer yanked"

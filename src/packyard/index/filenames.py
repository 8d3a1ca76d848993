"""Recognize distribution filenames and split them into project name and version.

Wheels and the standard sdists (``.tar.gz``, ``.zip``) are parsed by ``packaging``.
Legacy formats (``.tar.bz2``, ``.tgz``, ``.tar.xz``, ``.egg``) and sdists whose split
``packaging`` cannot decide are handled by a small rule set that can take the project
name as a hint, the way pip does when it reads a project page.

Anything else (signatures, text files, unknown archives) is not a distribution.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from packaging.utils import (
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import Version

from packyard.index.names import is_valid_name


class Kind(StrEnum):
    WHEEL = "wheel"
    SDIST = "sdist"
    EGG = "egg"


# Extensions are matched case-sensitively, as pip does: pip ignores "FOO-1.0.ZIP".
SDIST_EXTENSIONS = (".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz")
_STANDARD_SDIST = (".tar.gz", ".zip")


@dataclass(frozen=True, slots=True)
class ParsedFilename:
    project: str  # normalized (PEP 503)
    version: str  # normalized PEP 440 form when valid, else as written
    kind: Kind
    parsed_version: Version | None

    @property
    def sort_key(self) -> tuple[int, Version | str]:
        """Orders valid versions by PEP 440, after any invalid ones (ordered as text)."""
        if self.parsed_version is None:
            return (0, self.version)
        return (1, self.parsed_version)


class NotADistribution(ValueError):
    """The filename is not one of the distribution formats an index serves."""


@lru_cache(maxsize=16384)
def _version(text: str) -> Version | None:
    # Cached: a directory holds the same version strings over and over (a scan of
    # 40,000 files parses far fewer distinct ones). Version objects are immutable.
    try:
        return Version(text)
    except ValueError:  # InvalidVersion, or more digits than int() takes
        return None


@lru_cache(maxsize=16384)
def _canonical(name: str) -> str:
    """canonicalize_name, cached: a project's files repeat its name."""
    return str(canonicalize_name(name))


@lru_cache(maxsize=16384)
def _version_text(version: Version) -> str:
    return str(version)


def _check_name(name: str, filename: str) -> None:
    if not is_valid_name(name):
        raise NotADistribution(f"not a valid project name {name!r} in {filename!r}")


def _make(name: str, version_text: str, kind: Kind) -> ParsedFilename:
    project = _canonical(name)
    parsed = _version(version_text)
    return ParsedFilename(
        project=project,
        version=_version_text(parsed) if parsed is not None else version_text,
        kind=kind,
        parsed_version=parsed,
    )


def _valid_name_part(name: str) -> bool:
    return bool(name) and name[0].isalnum() and name[-1].isalnum()


def _split_with_hints(stem: str, hints: Collection[str]) -> tuple[str, str] | None:
    """The split whose name part normalizes to one of the hinted project names.

    Among several, one whose remainder is a valid version wins, the longest name first
    ("foo-2-1.0" with hints foo and foo-2 is foo-2 1.0, not foo "2-1.0").
    """
    if not hints:
        return None
    found: list[tuple[bool, int]] = []
    for i, ch in enumerate(stem):
        if ch == "-" and stem[i + 1 : i + 2].isdigit() and _canonical(stem[:i]) in hints:
            found.append((_version(stem[i + 1 :]) is not None, i))
    if not found:
        return None
    _, i = max(found)
    return stem[:i], stem[i + 1 :]


def _plausible_name_part(name: str) -> bool:
    """A name part, as split at the last ``-``, that does not hold a version itself.

    "foo-1.0-1" is version "1.0-1" (a post release) of "foo", not version "1" of
    "foo-1.0": a dotted numeric component is a version, never part of a name.
    """
    if not _valid_name_part(name):
        return False
    return not any(
        part[:1].isdigit() and "." in part and _version(part) is not None
        for part in name.split("-")[1:]
    )


def _split_legacy(stem: str) -> tuple[str, str] | None:
    """Best split without a hint.

    First the split at the last ``-`` when what follows is a valid version (the rule of
    ``packaging`` and of every modern sdist) and the name part holds no dotted version;
    else the first ``-`` followed by a digit where the rest is a valid version; else the
    first ``-`` followed by a digit.
    """
    candidates = [i for i, ch in enumerate(stem) if ch == "-" and stem[i + 1 : i + 2].isdigit()]
    name, sep, version = stem.rpartition("-")
    if sep and _plausible_name_part(name) and _version(version) is not None:
        return name, version
    for i in candidates:
        if _valid_name_part(stem[:i]) and _version(stem[i + 1 :]) is not None:
            return stem[:i], stem[i + 1 :]
    for i in candidates:
        if _valid_name_part(stem[:i]):
            return stem[:i], stem[i + 1 :]
    return None


def _parse_sdist(filename: str, ext: str, hints: Collection[str]) -> ParsedFilename:
    stem = filename[: -len(ext)]
    hinted = _split_with_hints(stem, hints)
    if hinted is not None:
        _check_name(hinted[0], filename)
        return _make(hinted[0], hinted[1], Kind.SDIST)
    if ext in _STANDARD_SDIST:
        try:
            name, version = parse_sdist_filename(filename)
        except ValueError:  # InvalidSdistFilename, or a version int() refuses
            pass
        else:
            name_part = stem.rpartition("-")[0]
            if _plausible_name_part(name_part):
                _check_name(name_part, filename)
                return ParsedFilename(str(name), str(version), Kind.SDIST, version)
    split = _split_legacy(stem)
    if split is None:
        raise NotADistribution(f"cannot find a name and a version in {filename!r}")
    _check_name(split[0], filename)
    return _make(split[0], split[1], Kind.SDIST)


def _parse_egg(filename: str) -> ParsedFilename:
    # name-version(-pyX.Y(-platform)?)?.egg, with '-' escaped to '_' inside each part.
    parts = filename[: -len(".egg")].split("-")
    if len(parts) < 2 or not _valid_name_part(parts[0]) or not parts[1][:1].isalnum():
        raise NotADistribution(f"not a valid egg filename: {filename!r}")
    _check_name(parts[0], filename)
    return _make(parts[0], parts[1].replace("_", "-"), Kind.EGG)


def parse_filename(filename: str, hints: Collection[str] = ()) -> ParsedFilename:
    """Parse a distribution's basename.

    ``hints`` are normalized project names that may settle an ambiguous sdist split,
    such as ``foo-bar-1.0-1.tar.bz2`` (project ``foo-bar``, version ``1.0-1``).
    Raises NotADistribution for anything that is not a distribution.
    """
    if not filename or "/" in filename or "\\" in filename or filename.startswith("."):
        raise NotADistribution(f"not a distribution filename: {filename!r}")
    if filename.endswith(".whl"):
        try:
            name, version, _build, _tags = parse_wheel_filename(filename)
        except ValueError as exc:  # InvalidWheelFilename, or a version int() refuses
            raise NotADistribution(str(exc)) from None
        _check_name(filename.partition("-")[0], filename)
        return ParsedFilename(str(name), str(version), Kind.WHEEL, version)
    if filename.endswith(".egg"):
        return _parse_egg(filename)
    for ext in SDIST_EXTENSIONS:
        if filename.endswith(ext):
            return _parse_sdist(filename, ext, hints)
    raise NotADistribution(f"not a recognized distribution format: {filename!r}")


def is_distribution(filename: str) -> bool:
    try:
        parse_filename(filename)
    except NotADistribution:
        return False
    return True

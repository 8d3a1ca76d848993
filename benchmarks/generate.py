"""Generate a deterministic, realistic packages directory for the benchmark.

    python benchmarks/generate.py OUT_DIR [--projects 5000] [--versions 4] [--dirs 50]

Every project gets ``--versions`` releases, each as a small but valid wheel (a zip
with ``.dist-info/METADATA``, ``WHEEL`` and ``RECORD``) and a valid sdist (a
``.tar.gz`` with ``<top>/PKG-INFO`` and ``<top>/pyproject.toml``): 5,000 x 4 x 2 =
40,000 files by default, spread over ``--dirs`` subdirectories (``--dirs 0``: all
at the top level).

Realism that matters to an index server:

* project names are spelled in the ways found in real directories: ``Foo.Bar``,
  ``foo_bar``, ``foo-bar``, ``FooBar`` (the wheel and the sdist of one release may
  spell the name differently, as real uploads do);
* every 7th project's last version is a pre-release (``X.0rc1``);
* the first four projects form a dependency chain ``chain-a -> chain-b -> chain-c ->
  chain-d`` (``Requires-Dist`` in every release's METADATA/PKG-INFO), for resolver
  measurements.

The output is a pure function of the arguments and ``--seed``: archives carry fixed
timestamps, owners and gzip headers, and every file's mtime is fixed, so two runs
produce identical bytes.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import os
import random
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

# 2023-11-14 22:13:20 UTC; zip timestamps are local-time tuples without a zone.
FIXED_EPOCH = 1_700_000_000
ZIP_DATE = (2023, 11, 14, 22, 13, 20)

CHAIN = ("chain-a", "chain-b", "chain-c", "chain-d")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_ADJECTIVES = _words(
    "acme agile amber async atomic azure bold brisk cached clever cobalt cosmic crisp "
    "daily deep delta dense early easy epic fast fine first fluid fresh giant golden "
    "grand green happy hyper iron jolly keen lazy light lucid magic micro mighty modern "
    "neat nimble noble open pixel prime proto quick quiet rapid red remote robust royal "
    "safe sharp silver simple smart snappy solid sonic spare steady swift tidy tiny turbo "
    "ultra urban vivid warm wild wise zen"
)
_NOUNS = _words(
    "api auth bench bridge broker cache cli client codec config core crawler daemon data "
    "db deploy engine events fetch flow forms graph grid hash http index io kit lab lens "
    "loader logger mail mapper meta metrics mock net notify orm parser pipe plugin pool "
    "proxy queue reader render report router rpc schema search server shell sink socket "
    "sql stack store stream sync tasks template test text timer tools tracer utils "
    "validator vault view web widget worker yaml zip"
)


@dataclass(frozen=True)
class Release:
    version: str
    requires: tuple[str, ...]


@dataclass(frozen=True)
class Project:
    """One project: its canonical name and the spellings its files use."""

    canonical: str  # PEP 503 normalized, e.g. "acme-widget-k3"
    words: tuple[str, ...]  # ("acme", "widget", "k3")
    style: int  # which spelling family (see spell())
    releases: tuple[Release, ...] = field(default_factory=tuple)


def spell(words: tuple[str, ...], style: int, *, wheel: bool) -> str:
    """A realistic spelling of a name made of ``words``.

    Wheel filenames cannot contain ``-``, so the ``foo-bar`` style becomes ``foo_bar``
    for wheels (as setuptools does).
    """
    if style == 0:  # Foo.Bar
        return ".".join(w.capitalize() for w in words)
    if style == 1:  # foo_bar
        return "_".join(words)
    if style == 2:  # foo-bar (sdists of old setuptools)
        return ("_" if wheel else "-").join(words)
    if style == 3:  # FooBar: a different project than foo-bar, which is fine here
        return "".join(w.capitalize() for w in words)
    # Mixed: Foo_bar.baz
    first, *rest = words
    return first.capitalize() + "_" + ".".join(rest)


def canonical(words: tuple[str, ...], style: int) -> str:
    name = spell(words, style, wheel=False)
    out = []
    prev_sep = False
    for ch in name.lower():
        if ch in "-_.":
            if not prev_sep:
                out.append("-")
            prev_sep = True
        else:
            out.append(ch)
            prev_sep = False
    return "".join(out)


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def plan(projects: int, versions: int, seed: int, prefix: str = "") -> list[Project]:
    """The deterministic list of projects and releases.

    ``prefix`` makes a disjoint set of names (the watcher test copies in projects that
    the served directory does not have yet).
    """
    rng = random.Random(seed)
    out: list[Project] = []
    seen: set[str] = set()
    for index in range(projects):
        if index < len(CHAIN) and not prefix:
            words = tuple(CHAIN[index].split("-"))
            style = (1, 2, 0, 4)[index]
        else:
            words = (
                *((prefix,) if prefix else ()),
                rng.choice(_ADJECTIVES),
                rng.choice(_NOUNS),
                "k" + _base36(index),
            )
            style = rng.randrange(5)
        name = canonical(words, style)
        if name in seen:  # cannot happen with the index suffix, but stay safe
            raise AssertionError(name)
        seen.add(name)
        major = rng.randrange(0, 5)
        minor = rng.randrange(0, 20)
        releases = []
        for v in range(versions):
            last = v == versions - 1
            if last and index % 7 == 6:
                version = f"{major + 1}.0rc1"
            else:
                version = f"{major}.{minor + v}.{rng.randrange(0, 10)}"
            requires: tuple[str, ...] = ()
            if not prefix and index < len(CHAIN) - 1:
                requires = (f"{CHAIN[index + 1]}>=0.1",)
            releases.append(Release(version, requires))
        out.append(Project(name, words, style, tuple(releases)))
    return out


def _metadata(project: Project, release: Release, display: str) -> str:
    lines = [
        "Metadata-Version: 2.1",
        f"Name: {display}",
        f"Version: {release.version}",
        f"Summary: The {' '.join(project.words)} library, generated for benchmarks",
        f"Home-page: https://example.invalid/{project.canonical}",
        "Author: Packyard Benchmarks",
        "License: MIT",
        "Classifier: Programming Language :: Python :: 3",
        "Requires-Python: >=3.8",
    ]
    lines += [f"Requires-Dist: {req}" for req in release.requires]
    return "\n".join(lines) + "\n\n" + f"# {display}\n\nNothing to see here.\n"


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def wheel_bytes(project: Project, release: Release) -> tuple[str, bytes]:
    dist = spell(project.words, project.style, wheel=True)
    # The .dist-info directory uses the normalized form with underscores.
    info_name = project.canonical.replace("-", "_")
    info = f"{info_name}-{release.version}.dist-info"
    module = info_name.lower()
    members: list[tuple[str, bytes]] = [
        (f"{module}/__init__.py", f'__version__ = "{release.version}"\n'.encode()),
        (f"{info}/METADATA", _metadata(project, release, dist).encode()),
        (
            f"{info}/WHEEL",
            b"Wheel-Version: 1.0\nGenerator: packyard-bench\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n",
        ),
    ]
    record = "".join(f"{name},{_record_hash(data)},{len(data)}\n" for name, data in members)
    record += f"{info}/RECORD,,\n"
    members.append((f"{info}/RECORD", record.encode()))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members:
            zi = zipfile.ZipInfo(name, ZIP_DATE)
            zi.compress_type = zipfile.ZIP_DEFLATED
            zi.external_attr = 0o644 << 16
            zf.writestr(zi, data, compresslevel=6)
    return f"{dist}-{release.version}-py3-none-any.whl", buf.getvalue()


def sdist_bytes(project: Project, release: Release) -> tuple[str, bytes]:
    dist = spell(project.words, project.style, wheel=False)
    top = f"{dist}-{release.version}"
    deps = ", ".join(f'"{r}"' for r in release.requires)
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61"]\n'
        'build-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{dist}"\nversion = "{release.version}"\n'
        f'requires-python = ">=3.8"\ndependencies = [{deps}]\n'
    )
    members = [
        (f"{top}/PKG-INFO", _metadata(project, release, dist).encode()),
        (f"{top}/pyproject.toml", pyproject.encode()),
    ]
    raw = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=FIXED_EPOCH) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.USTAR_FORMAT) as tar,
    ):
        dirinfo = tarfile.TarInfo(top)
        dirinfo.type = tarfile.DIRTYPE
        dirinfo.mode = 0o755
        dirinfo.mtime = FIXED_EPOCH
        tar.addfile(dirinfo)
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = 0o644
            ti.mtime = FIXED_EPOCH
            tar.addfile(ti, io.BytesIO(data))
    return f"{top}.tar.gz", raw.getvalue()


def files(
    projects: list[Project], dirs: int, seed: int
) -> Iterator[tuple[str, str, bytes, Project, Release]]:
    """(subdirectory, filename, bytes, project, release) for every file, in order.

    ``dirs`` 0 puts every file at the top level (subdirectory "").
    """
    rng = random.Random(seed + 1)
    width = len(str(max(dirs - 1, 0)))
    spread = max(dirs, 1)
    for project in projects:
        home = rng.randrange(spread)
        for release in project.releases:
            # Most releases sit with their project; some wander off, as in real trees.
            where = home if rng.random() < 0.8 else rng.randrange(spread)
            sub = f"d{where:0{width}d}" if dirs > 0 else ""
            for make in (wheel_bytes, sdist_bytes):
                name, data = make(project, release)
                yield sub, name, data, project, release


def generate(
    out: Path,
    projects: int = 5000,
    versions: int = 4,
    dirs: int = 50,
    seed: int = 1,
    prefix: str = "",
) -> list[Project]:
    """Write the tree under ``out`` and return the plan."""
    the_plan = plan(projects, versions, seed, prefix)
    out.mkdir(parents=True, exist_ok=True)
    made: set[str] = set()
    for sub, name, data, _project, _release in files(the_plan, dirs, seed):
        folder = out / sub
        if sub not in made:
            folder.mkdir(exist_ok=True)
            made.add(sub)
        path = folder / name
        path.write_bytes(data)
        os.utime(path, (FIXED_EPOCH, FIXED_EPOCH))
    for sub in made:
        os.utime(out / sub, (FIXED_EPOCH, FIXED_EPOCH))
    return the_plan


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path, help="directory to create (may exist)")
    parser.add_argument("--projects", type=int, default=5000)
    parser.add_argument("--versions", type=int, default=4)
    parser.add_argument(
        "--dirs", type=int, default=50, help="number of subdirectories (0: all files at the top)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    the_plan = generate(args.out, args.projects, args.versions, args.dirs, args.seed)
    count = sum(2 * len(p.releases) for p in the_plan)
    print(
        f"wrote {count} files of {len(the_plan)} projects into {args.out} "
        f"in {time.perf_counter() - started:.1f} s",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

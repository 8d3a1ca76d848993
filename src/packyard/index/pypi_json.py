"""PyPI's JSON API shape (``/pypi/<project>/json`` and ``/pypi/<project>/<version>/json``).

Pure: the caller passes each file with its facts and the parsed core metadata of the
release that ``info`` describes. Fields PyPI deprecated but tools still read
(``downloads``, ``has_sig``, ``md5_digest``) are filled with PyPI's own constant values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from packyard.index.filenames import Kind
from packyard.index.metadata import CoreMetadata
from packyard.index.model import Distribution

PACKAGETYPE = {Kind.WHEEL: "bdist_wheel", Kind.SDIST: "sdist", Kind.EGG: "bdist_egg"}


@dataclass(frozen=True, slots=True)
class JsonFile:
    dist: Distribution
    url: str  # absolute
    digests: Mapping[str, str]  # md5, sha256, blake2b_256 (those known)
    requires_python: str | None
    upload_time: str | None  # yyyy-mm-ddThh:mm:ss.ffffffZ
    yanked: str | None  # None: not yanked; else the reason


def python_version(dist: Distribution) -> str:
    """PyPI's python_version: "source" for sdists, the wheel's python tag, the egg's
    Python version."""
    stem = dist.filename
    if dist.kind is Kind.WHEEL:
        parts = stem[: -len(".whl")].split("-")
        return parts[-3] if len(parts) >= 5 else ""
    if dist.kind is Kind.EGG:
        # name-version-pyX.Y[-platform].egg; the platform may itself contain dashes
        parts = stem[: -len(".egg")].split("-")
        return parts[2][2:] if len(parts) > 2 and parts[2].startswith("py") else ""
    return "source"


def _file(item: JsonFile) -> dict[str, object]:
    upload_time = item.upload_time
    return {
        "comment_text": "",
        "digests": {
            "blake2b_256": item.digests.get("blake2b_256"),
            "md5": item.digests.get("md5"),
            "sha256": item.digests.get("sha256"),
        },
        "downloads": -1,
        "filename": item.dist.filename,
        "has_sig": False,
        "md5_digest": item.digests.get("md5"),
        "packagetype": PACKAGETYPE[item.dist.kind],
        "python_version": python_version(item.dist),
        "requires_python": item.requires_python,
        "size": item.dist.size,
        "upload_time": upload_time.split(".")[0] if upload_time else None,
        "upload_time_iso_8601": upload_time,
        "url": item.url,
        "yanked": item.yanked is not None,
        "yanked_reason": item.yanked or None,
    }


def _project_urls(meta: CoreMetadata) -> dict[str, str] | None:
    urls: dict[str, str] = {}
    for entry in meta.get_all("project-url"):
        label, sep, url = entry.partition(",")
        if sep:
            urls[label.strip()] = url.strip()
    home = meta.get("home-page")
    if home and "Homepage" not in urls:
        urls = {"Homepage": home, **urls}
    return urls or None


def info(
    project: str,
    version: str,
    meta: CoreMetadata | None,
    base: str,
    yanked: str | None,
) -> dict[str, object]:
    """The ``info`` object: the release's core metadata in PyPI's field names."""
    m = meta or CoreMetadata(fields={}, description=None)

    def listed(name: str) -> list[str] | None:
        values = m.get_all(name)
        return list(values) if values else None

    return {
        "author": m.get("author"),
        "author_email": m.get("author-email"),
        "bugtrack_url": None,
        "classifiers": list(m.get_all("classifier")),
        "description": m.description,
        "description_content_type": m.get("description-content-type"),
        "docs_url": None,
        "download_url": m.get("download-url"),
        "downloads": {"last_day": -1, "last_month": -1, "last_week": -1},
        "dynamic": listed("dynamic"),
        "home_page": m.get("home-page"),
        "keywords": m.get("keywords"),
        "license": m.get("license"),
        "license_expression": m.get("license-expression"),
        "license_files": listed("license-file"),
        "maintainer": m.get("maintainer"),
        "maintainer_email": m.get("maintainer-email"),
        "name": m.get("name") or project,
        "package_url": f"{base}pypi/{project}/",
        "platform": m.get("platform"),
        "project_url": f"{base}pypi/{project}/",
        "project_urls": _project_urls(m),
        "provides_extra": listed("provides-extra"),
        "release_url": f"{base}pypi/{project}/{version}/",
        "requires_dist": listed("requires-dist"),
        "requires_python": m.get("requires-python"),
        "summary": m.get("summary"),
        "version": version,
        "yanked": yanked is not None,
        "yanked_reason": yanked or None,
    }


def document(
    info_object: Mapping[str, object],
    urls: Sequence[JsonFile],
    releases: Mapping[str, Sequence[JsonFile]] | None,
) -> bytes:
    """The whole answer; ``releases`` is None for the per-version endpoint."""
    doc: dict[str, object] = {"info": dict(info_object)}
    if releases is not None:
        doc["releases"] = {v: [_file(f) for f in files] for v, files in releases.items()}
    doc["urls"] = [_file(f) for f in urls]
    doc["vulnerabilities"] = []
    return (json.dumps(doc, ensure_ascii=False, indent=None) + "\n").encode("utf-8")

"""PyPI's JSON API shape (/pypi/<project>/json), built from files and core metadata."""

from __future__ import annotations

import json
import os

import pytest

from packyard.index.filenames import Kind, parse_filename
from packyard.index.metadata import CoreMetadata, parse
from packyard.index.model import Distribution
from packyard.index.pypi_json import PACKAGETYPE, JsonFile, document, info, python_version

ROOT = os.path.abspath(os.sep + "srv")
BASE = "http://example.test/prefix/"


def make_dist(relpath: str, size: int = 42) -> Distribution:
    parsed = parse_filename(relpath.rpartition("/")[2])
    return Distribution(
        root=ROOT,
        relpath=relpath,
        project=parsed.project,
        version=parsed.version,
        kind=parsed.kind,
        sort_key=(),
        size=size,
        mtime_ns=1,
        inode=1,
    )


def json_file(relpath: str, **kwargs: object) -> JsonFile:
    values: dict[str, object] = {
        "dist": make_dist(relpath),
        "url": BASE + "packages/" + relpath,
        "digests": {},
        "requires_python": None,
        "upload_time": None,
        "yanked": None,
    }
    values.update(kwargs)
    return JsonFile(**values)  # type: ignore[arg-type]


# --- python_version


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("foo-1.0-py3-none-any.whl", "py3"),
        ("foo-1.0-py2.py3-none-any.whl", "py2.py3"),
        ("foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl", "cp311"),
        ("foo-1.0-1build-cp312-abi3-win_amd64.whl", "cp312"),  # with a build tag
        ("foo-1.0.tar.gz", "source"),
        ("foo-1.0.zip", "source"),
        ("foo-1.0.tar.bz2", "source"),
        ("foo-1.0-py3.11.egg", "3.11"),
        ("foo-1.0-py2.7.egg", "2.7"),
        ("foo-1.0.egg", ""),
        # setuptools appends the build platform to the egg name unescaped
        ("foo-1.0-py2.7-win32.egg", "2.7"),
        ("foo-1.0-py2.7-linux-x86_64.egg", "2.7"),
        ("foo-1.0-py3.6-macosx-10.9-x86_64.egg", "3.6"),
    ],
)
def test_python_version(filename: str, expected: str) -> None:
    assert python_version(make_dist(filename)) == expected


def test_packagetype_covers_every_kind() -> None:
    assert PACKAGETYPE == {Kind.WHEEL: "bdist_wheel", Kind.SDIST: "sdist", Kind.EGG: "bdist_egg"}
    assert set(PACKAGETYPE) == set(Kind)


# --- info


META = parse(
    b"""Metadata-Version: 2.4
Name: Foo-Bar
Version: 1.0
Summary: Does foo
Home-page: https://home.example
Download-URL: https://dl.example
Author: A. Author
Author-email: a@example.test
Maintainer: M. Maintainer
Maintainer-email: m@example.test
License: MIT
License-Expression: MIT
License-File: LICENSE
License-File: NOTICE
Keywords: foo,bar
Platform: any
Requires-Python: >=3.8
Requires-Dist: b>=1
Requires-Dist: a; extra == "x"
Provides-Extra: x
Classifier: Programming Language :: Python :: 3
Classifier: License :: OSI Approved :: MIT License
Project-URL: Documentation, https://docs.example
Project-URL: Source Code , https://src.example/a,b
Project-URL: not a label-url pair
Dynamic: Requires-Dist
Description-Content-Type: text/markdown

# Foo

The description.
"""
)


def test_info_maps_fields() -> None:
    got = info("foo-bar", "1.0", META, BASE, None)
    assert got["name"] == "Foo-Bar"
    assert got["version"] == "1.0"
    assert got["summary"] == "Does foo"
    assert got["description"] == "# Foo\n\nThe description.\n"
    assert got["description_content_type"] == "text/markdown"
    assert got["author"] == "A. Author"
    assert got["author_email"] == "a@example.test"
    assert got["maintainer"] == "M. Maintainer"
    assert got["maintainer_email"] == "m@example.test"
    assert got["license"] == "MIT"
    assert got["license_expression"] == "MIT"
    assert got["license_files"] == ["LICENSE", "NOTICE"]
    assert got["keywords"] == "foo,bar"
    assert got["platform"] == "any"
    assert got["home_page"] == "https://home.example"
    assert got["download_url"] == "https://dl.example"
    assert got["requires_python"] == ">=3.8"
    assert got["requires_dist"] == ["b>=1", 'a; extra == "x"']
    assert got["provides_extra"] == ["x"]
    assert got["dynamic"] == ["Requires-Dist"]
    assert got["classifiers"] == [
        "Programming Language :: Python :: 3",
        "License :: OSI Approved :: MIT License",
    ]
    assert got["package_url"] == BASE + "pypi/foo-bar/"
    assert got["project_url"] == BASE + "pypi/foo-bar/"
    assert got["release_url"] == BASE + "pypi/foo-bar/1.0/"
    assert got["bugtrack_url"] is None
    assert got["docs_url"] is None
    assert got["downloads"] == {"last_day": -1, "last_month": -1, "last_week": -1}
    assert got["yanked"] is False
    assert got["yanked_reason"] is None
    json.dumps(got)  # serializable as it is


def test_info_project_urls_from_project_url_and_home_page() -> None:
    got = info("foo-bar", "1.0", META, BASE, None)
    assert got["project_urls"] == {
        "Homepage": "https://home.example",
        "Documentation": "https://docs.example",
        "Source Code": "https://src.example/a,b",  # split at the first comma only
    }
    assert next(iter(got["project_urls"])) == "Homepage"  # type: ignore[call-overload]


def test_info_project_url_homepage_label_wins_over_home_page() -> None:
    meta = parse(b"Name: foo\nHome-page: https://old.example\nProject-URL: Homepage, https://new\n")
    assert info("foo", "1.0", meta, BASE, None)["project_urls"] == {"Homepage": "https://new"}


def test_info_only_home_page() -> None:
    meta = parse(b"Name: foo\nHome-page: https://home.example\n")
    assert info("foo", "1.0", meta, BASE, None)["project_urls"] == {
        "Homepage": "https://home.example"
    }


def test_info_lists_are_none_or_empty_when_absent() -> None:
    got = info("foo", "1.0", parse(b"Name: foo\nVersion: 1.0\n"), BASE, None)
    assert got["requires_dist"] is None
    assert got["provides_extra"] is None
    assert got["license_files"] is None
    assert got["dynamic"] is None
    assert got["project_urls"] is None
    assert got["classifiers"] == []  # PyPI: always a list
    assert got["description"] is None
    assert got["summary"] is None


def test_info_without_metadata() -> None:
    got = info("foo-bar", "2.0", None, BASE, None)
    assert got["name"] == "foo-bar"  # the project name when metadata says nothing
    assert got["version"] == "2.0"
    assert got["requires_dist"] is None
    assert got["classifiers"] == []
    assert got["release_url"] == BASE + "pypi/foo-bar/2.0/"
    json.dumps(got)


def test_info_version_is_the_requested_one() -> None:
    # The release's version as the index knows it, whatever Version: says.
    assert info("foo", "1.0.0", parse(b"Name: foo\nVersion: 1.0\n"), BASE, None)["version"] == (
        "1.0.0"
    )


@pytest.mark.parametrize(
    ("yanked", "flag", "reason"),
    [(None, False, None), ("", True, None), ("broken build", True, "broken build")],
)
def test_info_yanked(yanked: str | None, flag: bool, reason: str | None) -> None:
    got = info("foo", "1.0", META, BASE, yanked)
    assert got["yanked"] is flag
    assert got["yanked_reason"] == reason


def test_info_with_empty_core_metadata_object() -> None:
    got = info("foo", "1.0", CoreMetadata(fields={}, description=None), BASE, None)
    assert got["name"] == "foo"
    assert got["author"] is None


# --- document and files


SDIST = json_file(
    "foo-1.0.tar.gz",
    digests={"md5": "m" * 32, "sha256": "s" * 64, "blake2b_256": "b" * 64},
    requires_python=">=3.8",
    upload_time="2024-01-02T03:04:05.123456Z",
)
WHEEL = json_file(
    "sub/foo-1.0-py3-none-any.whl",
    digests={"sha256": "w" * 64},
    yanked="",
    upload_time="2024-01-02T03:04:06.000000Z",
)
OLD = json_file("foo-0.9-py2.7.egg", yanked="too old", upload_time="2020-05-06T07:08:09.000001Z")


def load(raw: bytes) -> dict[str, object]:
    assert isinstance(raw, bytes)
    assert raw.endswith(b"\n")
    doc = json.loads(raw.decode("utf-8"))
    assert isinstance(doc, dict)
    return doc


def test_document_project_endpoint_has_releases() -> None:
    doc = load(
        document(
            info("foo", "1.0", META, BASE, None),
            [SDIST, WHEEL],
            {"0.9": [OLD], "1.0": [SDIST, WHEEL]},
        )
    )
    assert list(doc) == ["info", "releases", "urls", "vulnerabilities"]
    releases = doc["releases"]
    assert isinstance(releases, dict)
    assert set(releases) == {"0.9", "1.0"}
    assert [f["filename"] for f in releases["1.0"]] == [
        "foo-1.0.tar.gz",
        "foo-1.0-py3-none-any.whl",
    ]
    assert [f["filename"] for f in releases["0.9"]] == ["foo-0.9-py2.7.egg"]
    assert [f["filename"] for f in doc["urls"]] == ["foo-1.0.tar.gz", "foo-1.0-py3-none-any.whl"]  # type: ignore[attr-defined]
    assert doc["vulnerabilities"] == []
    assert doc["info"]["name"] == "Foo-Bar"  # type: ignore[index]


def test_document_release_endpoint_has_no_releases() -> None:
    doc = load(document(info("foo", "1.0", META, BASE, None), [SDIST], None))
    assert "releases" not in doc
    assert list(doc) == ["info", "urls", "vulnerabilities"]
    assert len(doc["urls"]) == 1  # type: ignore[arg-type]


def test_document_empty_releases_is_kept() -> None:
    doc = load(document(info("foo", "1.0", None, BASE, None), [], {}))
    assert doc["releases"] == {}
    assert doc["urls"] == []


def test_file_entry_fields() -> None:
    doc = load(document(info("foo", "1.0", META, BASE, None), [SDIST, WHEEL, OLD], None))
    sdist, wheel, egg = doc["urls"]  # type: ignore[misc]
    assert sdist == {
        "comment_text": "",
        "digests": {"blake2b_256": "b" * 64, "md5": "m" * 32, "sha256": "s" * 64},
        "downloads": -1,
        "filename": "foo-1.0.tar.gz",
        "has_sig": False,
        "md5_digest": "m" * 32,
        "packagetype": "sdist",
        "python_version": "source",
        "requires_python": ">=3.8",
        "size": 42,
        "upload_time": "2024-01-02T03:04:05",
        "upload_time_iso_8601": "2024-01-02T03:04:05.123456Z",
        "url": BASE + "packages/foo-1.0.tar.gz",
        "yanked": False,
        "yanked_reason": None,
    }
    assert wheel["packagetype"] == "bdist_wheel"
    assert wheel["python_version"] == "py3"
    assert wheel["filename"] == "foo-1.0-py3-none-any.whl"
    assert wheel["url"] == BASE + "packages/sub/foo-1.0-py3-none-any.whl"
    assert wheel["digests"] == {"blake2b_256": None, "md5": None, "sha256": "w" * 64}
    assert wheel["md5_digest"] is None
    assert wheel["requires_python"] is None
    assert wheel["yanked"] is True
    assert wheel["yanked_reason"] is None
    assert wheel["upload_time"] == "2024-01-02T03:04:06"
    assert wheel["upload_time_iso_8601"] == "2024-01-02T03:04:06.000000Z"
    assert egg["packagetype"] == "bdist_egg"
    assert egg["python_version"] == "2.7"
    assert egg["yanked"] is True
    assert egg["yanked_reason"] == "too old"
    assert egg["upload_time"] == "2020-05-06T07:08:09"


def test_file_entry_upload_time_unknown() -> None:
    doc = load(document(info("foo", "1.0", None, BASE, None), [json_file("foo-1.0.zip")], None))
    (item,) = doc["urls"]  # type: ignore[misc]
    assert item["upload_time"] is None
    assert item["upload_time_iso_8601"] is None


def test_file_entry_upload_time_has_no_fraction_and_iso_has_it() -> None:
    doc = load(document(info("foo", "1.0", None, BASE, None), [SDIST], None))
    (item,) = doc["urls"]  # type: ignore[misc]
    assert "." not in item["upload_time"]
    assert not item["upload_time"].endswith("Z")
    assert item["upload_time_iso_8601"].startswith(item["upload_time"] + ".")
    assert item["upload_time_iso_8601"].endswith("Z")


def test_document_is_utf8_not_escaped() -> None:
    meta = parse("Name: foo\nSummary: café ☃\n".encode())
    raw = document(info("foo", "1.0", meta, BASE, "raison d'être"), [], None)
    assert "café ☃".encode() in raw
    assert "raison d'être".encode() in raw

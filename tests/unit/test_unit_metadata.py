"""Core metadata: extracted from wheels, sdists and eggs (PEP 658), and parsed."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile

import pytest
from dists import metadata_text, sdist_bytes, wheel_bytes

from packyard.index import metadata
from packyard.index.filenames import Kind
from packyard.index.metadata import CoreMetadata, Extracted, MetadataError, extract, parse


def zip_bytes(files: dict[str, bytes], directories: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name in directories:
            zf.writestr(zipfile.ZipInfo(name.rstrip("/") + "/"), b"")
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def tar_bytes(files: dict[str, bytes], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:  # type: ignore[call-overload]
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def run(data: bytes, filename: str, kind: Kind, project: str = "foo") -> Extracted:
    return extract(io.BytesIO(data), filename, kind, project)


# Unusual but valid bytes: CRLF, non-ASCII, trailing spaces, no final newline.
ODD_METADATA = (
    "Metadata-Version: 2.1\r\nName: foo\r\nVersion: 1.0\r\nSummary: caf\u00e9 \u2603  \r\n\r\n"
    "body \u00fc"
).encode()


# --- wheels


def test_wheel_metadata_is_returned_byte_for_byte() -> None:
    filename, data = wheel_bytes("foo", "1.0", requires=("bar>=1",), requires_python=">=3.8")
    got = run(data, filename, Kind.WHEEL)
    assert got.body == metadata_text("foo", "1.0", ("bar>=1",), ">=3.8").encode()
    assert got.servable is True


def test_wheel_metadata_odd_bytes_are_untouched() -> None:
    data = zip_bytes({"foo-1.0.dist-info/METADATA": ODD_METADATA, "foo/__init__.py": b""})
    assert run(data, "foo-1.0-py3-none-any.whl", Kind.WHEEL).body == ODD_METADATA


def test_wheel_with_two_dist_info_dirs_picks_the_projects() -> None:
    ours = metadata_text("foo-bar", "1.0").encode()
    vendored = metadata_text("vendored", "9.9").encode()
    for order in (
        {"vendored-9.9.dist-info/METADATA": vendored, "foo_bar-1.0.dist-info/METADATA": ours},
        {"foo_bar-1.0.dist-info/METADATA": ours, "vendored-9.9.dist-info/METADATA": vendored},
    ):
        got = run(zip_bytes(order), "foo_bar-1.0-py3-none-any.whl", Kind.WHEEL, "foo-bar")
        assert got.body == ours


def test_wheel_with_two_dist_info_dirs_none_matching_is_an_error() -> None:
    data = zip_bytes(
        {"a-1.0.dist-info/METADATA": b"Name: a\n", "b-1.0.dist-info/METADATA": b"Name: b\n"}
    )
    with pytest.raises(MetadataError):
        run(data, "foo-1.0-py3-none-any.whl", Kind.WHEEL)


def test_wheel_dist_info_name_need_not_match_when_alone() -> None:
    # The only .dist-info of the wheel is used even if its name is spelled differently.
    data = zip_bytes({"Foo-1.0.dist-info/METADATA": b"Name: Foo\n"})
    assert run(data, "foo-1.0-py3-none-any.whl", Kind.WHEEL).body == b"Name: Foo\n"


def test_wheel_nested_metadata_is_not_used() -> None:
    data = zip_bytes({"sub/foo-1.0.dist-info/METADATA": b"Name: foo\n"})
    with pytest.raises(MetadataError):
        run(data, "foo-1.0-py3-none-any.whl", Kind.WHEEL)


def test_wheel_without_metadata() -> None:
    data = zip_bytes(
        {"foo/__init__.py": b"", "foo-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\n"},
        directories=("foo-1.0.dist-info/METADATA",),  # a directory of that name is no file
    )
    with pytest.raises(MetadataError):
        run(data, "foo-1.0-py3-none-any.whl", Kind.WHEEL)


@pytest.mark.parametrize(
    "data",
    [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 40, sdist_bytes("foo", "1.0")[1]],
    ids=["empty", "text", "zip-magic-only", "a-tarball"],
)
def test_wheel_that_is_not_a_zip(data: bytes) -> None:
    with pytest.raises(MetadataError):
        run(data, "foo-1.0-py3-none-any.whl", Kind.WHEEL)


def test_truncated_wheel() -> None:
    _, data = wheel_bytes("foo", "1.0")
    with pytest.raises(MetadataError):
        run(data[: len(data) // 2], "foo-1.0-py3-none-any.whl", Kind.WHEEL)


def test_wheel_metadata_over_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    filename, data = wheel_bytes("foo", "1.0")
    size = len(metadata_text("foo", "1.0").encode())
    monkeypatch.setattr(metadata, "MAX_METADATA_BYTES", size)
    assert run(data, filename, Kind.WHEEL).body == metadata_text("foo", "1.0").encode()
    monkeypatch.setattr(metadata, "MAX_METADATA_BYTES", size - 1)
    with pytest.raises(MetadataError, match="larger"):
        run(data, filename, Kind.WHEEL)


def test_wheel_with_encrypted_or_unsupported_member_is_an_error() -> None:
    data = bytearray(zip_bytes({"foo-1.0.dist-info/METADATA": b"Name: foo\n"}))
    # Set the compression method (local header offset 8, central directory offset 10)
    # to 99 (AES, unsupported by zipfile).
    data[8:10] = (99).to_bytes(2, "little")
    central = data.rindex(b"PK\x01\x02")
    data[central + 10 : central + 12] = (99).to_bytes(2, "little")
    with pytest.raises(MetadataError):
        run(bytes(data), "foo-1.0-py3-none-any.whl", Kind.WHEEL)


# --- sdists


def test_sdist_tar_gz_pkg_info() -> None:
    filename, data = sdist_bytes("foo", "1.0", requires_python=">=3.9")
    got = run(data, filename, Kind.SDIST)
    assert got.body == metadata_text("foo", "1.0", requires_python=">=3.9").encode()
    assert got.servable is False


@pytest.mark.parametrize("mode", ["w:gz", "w:bz2", "w:xz", "w"])
def test_sdist_any_tar_compression(mode: str) -> None:
    data = tar_bytes({"foo-1.0/setup.py": b"", "foo-1.0/PKG-INFO": ODD_METADATA}, mode)
    assert run(data, "foo-1.0.tar.gz", Kind.SDIST).body == ODD_METADATA


def test_sdist_tar_with_dot_slash_names() -> None:
    data = tar_bytes({"./foo-1.0/PKG-INFO": b"Name: foo\n"})
    assert run(data, "foo-1.0.tar.gz", Kind.SDIST).body == b"Name: foo\n"


def test_sdist_zip_pkg_info() -> None:
    data = zip_bytes({"foo-1.0/setup.py": b"", "foo-1.0/PKG-INFO": ODD_METADATA})
    got = run(data, "foo-1.0.zip", Kind.SDIST)
    assert got.body == ODD_METADATA
    assert got.servable is False


@pytest.mark.parametrize(
    "names",
    [
        ["foo-1.0/sub/PKG-INFO"],
        ["foo-1.0/foo.egg-info/PKG-INFO"],
        ["PKG-INFO"],
        ["foo-1.0/setup.py"],
    ],
    ids=["deeper", "egg-info-only", "no-top-dir", "none"],
)
@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_sdist_pkg_info_only_at_the_top(names: list[str], fmt: str) -> None:
    files = dict.fromkeys(names, b"Name: foo\n")
    data = tar_bytes(files) if fmt == "tar.gz" else zip_bytes(files)
    with pytest.raises(MetadataError):
        run(data, f"foo-1.0.{fmt}", Kind.SDIST)


def test_sdist_pkg_info_directory_is_not_metadata() -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("foo-1.0/PKG-INFO")
        info.type = tarfile.DIRTYPE
        tf.addfile(info)
    with pytest.raises(MetadataError):
        run(buf.getvalue(), "foo-1.0.tar.gz", Kind.SDIST)


def test_sdist_truncated_gzip() -> None:
    # PKG-INFO comes after a large incompressible member, so the cut lands before it.
    data = tar_bytes({"foo-1.0/blob.bin": os.urandom(64 * 1024), "foo-1.0/PKG-INFO": b"N\n"})
    assert run(data, "foo-1.0.tar.gz", Kind.SDIST).body == b"N\n"
    for cut in (len(data) // 2, 15, 1, 0):
        with pytest.raises(MetadataError):
            run(data[:cut], "foo-1.0.tar.gz", Kind.SDIST)


def test_sdist_corrupt_gzip() -> None:
    _, data = sdist_bytes("foo", "1.0")
    corrupt = bytearray(data)
    for i in range(20, 60):
        corrupt[i] ^= 0xFF
    with pytest.raises(MetadataError):
        run(bytes(corrupt), "foo-1.0.tar.gz", Kind.SDIST)


@pytest.mark.parametrize("filename", ["foo-1.0.tar.gz", "foo-1.0.zip"])
def test_sdist_not_an_archive(filename: str) -> None:
    with pytest.raises(MetadataError):
        run(b"this is not an archive" * 10, filename, Kind.SDIST)


@pytest.mark.parametrize("fmt", ["tar.gz", "zip"])
def test_sdist_pkg_info_over_the_limit(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"foo-1.0/PKG-INFO": b"x" * 100}
    data = tar_bytes(files) if fmt == "tar.gz" else zip_bytes(files)
    monkeypatch.setattr(metadata, "MAX_METADATA_BYTES", 100)
    assert run(data, f"foo-1.0.{fmt}", Kind.SDIST).body == b"x" * 100
    monkeypatch.setattr(metadata, "MAX_METADATA_BYTES", 99)
    with pytest.raises(MetadataError, match="larger"):
        run(data, f"foo-1.0.{fmt}", Kind.SDIST)


def test_sdist_search_is_bounded_by_max_members(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {f"foo-1.0/f{i}.py": b"" for i in range(5)}
    files["foo-1.0/PKG-INFO"] = b"Name: foo\n"
    data = tar_bytes(files)
    monkeypatch.setattr(metadata, "MAX_MEMBERS", 6)
    assert run(data, "foo-1.0.tar.gz", Kind.SDIST).body == b"Name: foo\n"
    monkeypatch.setattr(metadata, "MAX_MEMBERS", 5)
    with pytest.raises(MetadataError):
        run(data, "foo-1.0.tar.gz", Kind.SDIST)


# --- eggs


def test_egg_pkg_info() -> None:
    data = zip_bytes({"foo/__init__.py": b"", "EGG-INFO/PKG-INFO": ODD_METADATA})
    got = run(data, "foo-1.0-py3.11.egg", Kind.EGG)
    assert got.body == ODD_METADATA
    assert got.servable is False


@pytest.mark.parametrize(
    "files",
    [
        {"foo-1.0/PKG-INFO": b"Name: foo\n"},  # an sdist layout is not an egg's
        {"sub/EGG-INFO/PKG-INFO": b"Name: foo\n"},
        {"EGG-INFO/requires.txt": b""},
    ],
)
def test_egg_without_egg_info_pkg_info(files: dict[str, bytes]) -> None:
    with pytest.raises(MetadataError):
        run(zip_bytes(files), "foo-1.0-py3.11.egg", Kind.EGG)


def test_egg_not_a_zip() -> None:
    with pytest.raises(MetadataError):
        run(b"garbage", "foo-1.0-py3.11.egg", Kind.EGG)


def test_metadata_error_is_a_value_error() -> None:
    assert issubclass(MetadataError, ValueError)


@pytest.mark.parametrize(
    ("filename", "kind", "data", "servable"),
    [
        ("foo-1.0-py3-none-any.whl", Kind.WHEEL, wheel_bytes("foo", "1.0")[1], True),
        ("foo-1.0.tar.gz", Kind.SDIST, sdist_bytes("foo", "1.0")[1], False),
        ("foo-1.0.zip", Kind.SDIST, zip_bytes({"foo-1.0/PKG-INFO": b"N\n"}), False),
        ("foo-1.0-py3.11.egg", Kind.EGG, zip_bytes({"EGG-INFO/PKG-INFO": b"N\n"}), False),
    ],
)
def test_only_wheels_are_servable(filename: str, kind: Kind, data: bytes, servable: bool) -> None:
    assert run(data, filename, kind).servable is servable


# --- parse


FULL = b"""Metadata-Version: 2.1
Name: Foo-Bar
Version: 1.0
Summary: The summary
Requires-Dist: b>=1
Requires-Dist: a; extra == "x"
Requires-Dist: c
Classifier: Z :: Last
Classifier: A :: First
Project-URL: Docs, https://docs.example
Project-URL: Source, https://src.example
Provides-Extra: x
Requires-Python: >=3.8
Author: Somebody
Keywords: one,two

The long description.

Second paragraph.
"""


def test_parse_multi_use_fields_are_tuples_in_order() -> None:
    meta = parse(FULL)
    assert meta.fields["requires-dist"] == ("b>=1", 'a; extra == "x"', "c")
    assert meta.fields["classifier"] == ("Z :: Last", "A :: First")
    assert meta.fields["project-url"] == (
        "Docs, https://docs.example",
        "Source, https://src.example",
    )
    assert meta.fields["provides-extra"] == ("x",)  # a tuple even when used once
    assert meta.get_all("requires-dist") == ("b>=1", 'a; extra == "x"', "c")
    assert meta.get("requires-dist") == "b>=1"


def test_parse_single_fields() -> None:
    meta = parse(FULL)
    assert meta.fields["name"] == "Foo-Bar"
    assert meta.get("version") == "1.0"
    assert meta.get("summary") == "The summary"
    assert meta.get("requires-python") == ">=3.8"
    assert meta.get("keywords") == "one,two"
    assert meta.get_all("author") == ("Somebody",)
    assert meta.get("license") is None
    assert meta.get_all("license") == ()
    assert meta.get_all("platform") == ()


def test_parse_field_names_are_case_insensitive() -> None:
    meta = parse(b"NAME: foo\nrequires-PYTHON: >=3\nrequires-dist: x\nREQUIRES-DIST: y\n")
    assert meta.get("name") == "foo"
    assert meta.get("requires-python") == ">=3"
    assert meta.get_all("requires-dist") == ("x", "y")


def test_parse_repeated_single_field_keeps_the_first() -> None:
    assert parse(b"Name: first\nName: second\n").get("name") == "first"


def test_parse_folded_header_is_unfolded() -> None:
    meta = parse(b"Name: foo\nSummary: a long\n  summary\n\tcontinued\n")
    assert meta.get("summary") == "a long summary continued"


def test_parse_description_from_the_body() -> None:
    meta = parse(FULL)
    assert meta.description == "The long description.\n\nSecond paragraph.\n"


def test_parse_body_wins_over_description_header() -> None:
    meta = parse(b"Name: foo\nDescription: from the header\n\nfrom the body\n")
    assert meta.description == "from the body\n"


def test_parse_legacy_folded_description_header() -> None:
    body = (
        b"Metadata-Version: 1.1\n"
        b"Name: foo\n"
        b"Description: First line\n"
        b"        second line\n"
        b"        \n"
        b"            indented line\n"
        b"       |piped line\n"
        b"       |    piped indented\n"
        b"Platform: UNKNOWN\n"
    )
    meta = parse(body)
    assert meta.description == (
        "First line\nsecond line\n\n    indented line\npiped line\n    piped indented"
    )
    assert meta.get("platform") == "UNKNOWN"


def test_parse_no_description() -> None:
    assert parse(b"Name: foo\nVersion: 1.0\n").description is None
    assert parse(b"Name: foo\n\n   \n\n").description is None  # whitespace only
    assert parse(b"").description is None
    assert parse(b"").fields == {}


def test_parse_crlf() -> None:
    meta = parse(
        b"Name: foo\r\nSummary: a\r\n  b\r\nRequires-Dist: x\r\nRequires-Dist: y\r\n\r\nBody\r\n"
    )
    assert meta.get("name") == "foo"
    assert meta.get("summary") == "a b"
    assert meta.get_all("requires-dist") == ("x", "y")
    assert meta.description is not None
    assert meta.description.strip() == "Body"


@pytest.mark.parametrize(
    "body",
    [
        b"Name: caf\xe9\nSummary: \xff\xfe\x00bad\nRequires-Python: >=3\n\n\x80\x81 body",
        b"\xff\xfe\xfd",
        b"\x00\x01\x02: \x03\n",
        b"no colon here\nName: foo\n",
        b"Name: foo\n\x00\n",
        bytes(range(256)),
    ],
)
def test_parse_never_raises(body: bytes) -> None:
    meta = parse(body)
    assert isinstance(meta, CoreMetadata)


def test_parse_undecodable_bytes_are_replaced() -> None:
    meta = parse(b"Name: caf\xe9\nRequires-Python: >=3\n\n\x80 body")
    assert meta.get("name") == "caf\ufffd"
    assert meta.get("requires-python") == ">=3"
    assert meta.description == "\ufffd body"


def test_parse_utf8_is_decoded() -> None:
    meta = parse("Name: foo\nAuthor: Jürgen Smörebröd\n\nÜnïcödé ☃\n".encode())
    assert meta.get("author") == "Jürgen Smörebröd"
    assert meta.description == "Ünïcödé ☃\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"Name: foo\nRequires-Python: >=3.8\n", ">=3.8"),
        (b"Name: foo\nRequires-Python:   >=3.8, <4  \n", ">=3.8, <4"),
        (b"Name: foo\nrequires-python: ~=3.10\n", "~=3.10"),
        (b"Name: foo\nRequires-Python: \n", None),
        (b"Name: foo\nRequires-Python:\n", None),
        (b"Name: foo\n", None),
        (b"", None),
        (b"Name: foo\n\nRequires-Python: >=3\n", None),  # in the body, not a field
        (metadata_text("foo", "1.0", requires_python="<4,>=3").encode(), "<4,>=3"),
    ],
)
def test_requires_python(body: bytes, expected: str | None) -> None:
    assert metadata.requires_python(body) == expected

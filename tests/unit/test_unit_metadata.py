"""Core metadata: extracted from wheels, sdists and eggs (PEP 658), and parsed."""

from __future__ import annotations

import bz2
import io
import lzma
import os
import tarfile
import time
import zipfile
import zlib

import pytest
from helpers import bombs
from helpers.dists import metadata_text, sdist_bytes, wheel_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packyard.index import archives, metadata, tarballs
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


# --- hostile archives: every bound is checked before anything is read or allocated

TAR_CODECS = ["gz", "bz2", "xz"]


@pytest.mark.parametrize("codec", TAR_CODECS)
def test_tar_long_name_header_claiming_300_mib_is_refused(codec: str) -> None:
    # tarfile read the claimed 300 MiB whole (653 MiB of memory for a 300 KB .tar.gz).
    data = bombs.long_name_bomb(codec, claim_mib=300, data_mib=4)
    with pytest.raises(MetadataError, match="GNU long name header claims 314,572,800 bytes"):
        run(data, f"bomb-1.0.tar.{codec}", Kind.SDIST)


@pytest.mark.parametrize("codec", TAR_CODECS)
def test_tar_pax_header_claiming_300_mib_is_refused(codec: str) -> None:
    data = bombs.compressed_zeros(codec, bombs.tar_header(b"PaxHeader", 300 << 20, b"x"), 4)
    with pytest.raises(MetadataError, match="pax header claims 314,572,800 bytes"):
        run(data, f"bomb-1.0.tar.{codec}", Kind.SDIST)


def test_tar_pax_record_with_60000_digit_length_is_refused_at_once() -> None:
    # An unpatched Python's tarfile ran a regular expression on it for seconds with the
    # GIL held, then ignored the record and returned the PKG-INFO after it.
    data = bombs.pax_digits_bomb(60_000)
    started = time.monotonic()
    with pytest.raises(MetadataError, match="pax header record has a malformed length"):
        run(data, "bomb-1.0.tar.gz", Kind.SDIST)
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    "records",
    [b"9 path=x", b"5 a=b\n", b"20 path=foo-1.0/PKG-INFO\n", b"06 pa\n", b"x path=y\n"],
    ids=["no-newline", "too-short", "length-too-large", "no-equals", "not-digits"],
)
def test_tar_malformed_pax_records_are_refused(records: bytes) -> None:
    body = bombs.tar_header(b"PaxHeader", len(records), b"x") + records
    body += bytes(-len(records) % 512) + bombs.tar_file("foo-1.0/PKG-INFO", b"N\n")
    with pytest.raises(MetadataError, match="pax header record"):
        run(body + bytes(1024), "foo-1.0.tar", Kind.SDIST)


def test_tar_pax_size_of_the_pkg_info_is_checked_before_reading() -> None:
    record = bombs.pax_record(b"size", b"99999999999999")
    body = bombs.tar_header(b"PaxHeader", len(record), b"x") + record + bytes(512 - len(record))
    body += bombs.tar_file("foo-1.0/PKG-INFO", b"N\n") + bytes(1024)
    with pytest.raises(MetadataError, match="PKG-INFO is larger than 8 MiB"):
        run(body, "foo-1.0.tar", Kind.SDIST)


def test_tar_pax_path_and_size_are_applied() -> None:
    records = bombs.pax_record(b"path", b"foo-1.0/PKG-INFO") + bombs.pax_record(b"size", b"2")
    body = bombs.tar_header(b"PaxHeader", len(records), b"x") + records
    body += bytes(-len(records) % 512) + bombs.tar_header(b"foo-1.0/other", 512) + b"N\n"
    body += bytes(510 + 1024)
    assert run(body, "foo-1.0.tar", Kind.SDIST).body == b"N\n"


@pytest.mark.parametrize("codec", TAR_CODECS)
def test_decompression_bomb_stops_at_the_ratio_bound(codec: str) -> None:
    # A member of zeros before the PKG-INFO: tarfile inflated all of it (1000 MiB here).
    mib = 1000 if codec == "gz" else 48
    data = bombs.inflate_bomb(codec, mib)
    assert len(data) < 3 << 20
    with pytest.raises(MetadataError, match="more than 200 times its compressed size"):
        run(data, f"bomb-1.0.tar.{codec}", Kind.SDIST)


def test_tar_walk_stops_at_the_unpacked_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    blobs = {f"foo-1.0/blob{i}": os.urandom(100_000) for i in range(3)}
    data = tar_bytes({**blobs, "foo-1.0/PKG-INFO": b"N\n"})
    assert run(data, "foo-1.0.tar.gz", Kind.SDIST).body == b"N\n"
    monkeypatch.setattr(tarballs, "MAX_UNPACKED_BYTES", 200_000)
    with pytest.raises(MetadataError, match="unpacks to more than 200,000 bytes"):
        run(data, "foo-1.0.tar.gz", Kind.SDIST)


def test_tar_member_claiming_more_than_the_unpacked_bound_is_refused() -> None:
    body = bombs.tar_header(b"foo-1.0/huge", 1 << 40) + bytes(1024)
    with pytest.raises(MetadataError, match="claims 1,099,511,627,776 bytes"):
        run(body, "foo-1.0.tar", Kind.SDIST)


def test_tar_extension_headers_are_bounded_in_total(monkeypatch: pytest.MonkeyPatch) -> None:
    name = b"foo-1.0/PKG-INFO".ljust(200, b"\0")
    body = (bombs.tar_header(b"././@LongLink", len(name), b"L") + name + bytes(312)) * 3
    body += bombs.tar_file("foo-1.0/PKG-INFO", b"N\n") + bytes(1024)
    assert run(body, "foo-1.0.tar", Kind.SDIST).body == b"N\n"
    monkeypatch.setattr(tarballs, "MAX_EXTENSION_TOTAL", 500)
    with pytest.raises(MetadataError, match="in all"):
        run(body, "foo-1.0.tar", Kind.SDIST)


def test_xz_needing_more_memory_than_the_bound_is_refused() -> None:
    tar = tar_bytes({"foo-1.0/PKG-INFO": b"N\n"}, "w")
    assert run(lzma.compress(tar, preset=6), "foo-1.0.tar.xz", Kind.SDIST).body == b"N\n"
    with pytest.raises(MetadataError, match="needs more than 40 MiB of memory"):
        run(lzma.compress(tar, preset=9), "foo-1.0.tar.xz", Kind.SDIST)


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT])
def test_tar_long_names_of_every_format_are_read(fmt: int) -> None:
    top = "foo-1.0" + "/d" * 40  # a 'top' directory deeper than 100 characters
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as tf:
        for name, data in {f"{top}/x.py": b"", "foo-1.0/PKG-INFO": b"N\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    assert run(buf.getvalue(), "foo-1.0.tar.gz", Kind.SDIST).body == b"N\n"


def test_tar_bad_checksum_is_not_a_tar() -> None:
    data = bytearray(tar_bytes({"foo-1.0/PKG-INFO": b"N\n"}, "w"))
    data[0] ^= 1
    with pytest.raises(MetadataError, match="checksum"):
        run(bytes(data), "foo-1.0.tar", Kind.SDIST)


def test_concatenated_gzip_members_are_read_on() -> None:
    tar = tar_bytes({"foo-1.0/a": b"x" * 1000, "foo-1.0/PKG-INFO": b"N\n"}, "w")
    data = zlib.compress(tar[:1024], 9, 31) + zlib.compress(tar[1024:], 9, 31)
    assert run(data, "foo-1.0.tar.gz", Kind.SDIST).body == b"N\n"


@pytest.mark.parametrize(
    ("entries", "size", "message"),
    [
        (1_000_000, 54 << 20, "lists 1,000,000 entries, more than 100,000"),
        (1000, 20 << 20, "central directory is 20 MiB, more than 16 MiB"),
        (70_000, 100 << 32, "central directory is"),
    ],
    ids=["zip64-million-entries", "huge-directory", "zip64-huge-directory"],
)
def test_zip_directory_bounds_come_from_the_end_record(
    entries: int, size: int, message: str
) -> None:
    # zipfile parsed the whole central directory first (1M entries: 490 MiB, 20 s).
    data = bombs.zip_claiming(entries, size)
    for filename, kind in [
        ("bomb-1.0-py3-none-any.whl", Kind.WHEEL),
        ("bomb-1.0.zip", Kind.SDIST),
        ("bomb-1.0-py3.11.egg", Kind.EGG),
    ]:
        with pytest.raises(MetadataError, match=message):
            run(data, filename, kind)


def test_zip_entry_count_bound_on_a_real_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    data = bombs.zip_many_entries(200_000)
    assert len(data) < 10 << 20
    with pytest.raises(MetadataError, match="lists 200,000 entries"):
        run(data, "bomb-1.0-py3-none-any.whl", Kind.WHEEL)
    files = {f"foo/{i}.py": b"" for i in range(9)} | {"foo-1.0.dist-info/METADATA": b"N\n"}
    monkeypatch.setattr(archives, "MAX_ENTRIES", 10)
    assert run(zip_bytes(files), "foo-1.0-py3-none-any.whl", Kind.WHEEL).body == b"N\n"
    files["foo/extra.py"] = b""
    with pytest.raises(MetadataError, match="lists 11 entries, more than 10"):
        run(zip_bytes(files), "foo-1.0-py3-none-any.whl", Kind.WHEEL)


def test_zip64_end_record_is_read() -> None:
    filename, data = wheel_bytes("foo", "1.0")
    zip64 = bombs.as_zip64(data)
    assert zipfile.ZipFile(io.BytesIO(zip64)).namelist()  # still a valid zip
    assert run(zip64, filename, Kind.WHEEL).body == metadata_text("foo", "1.0").encode()


def test_zip_with_prepended_data_is_read() -> None:
    filename, data = wheel_bytes("foo", "1.0")
    got = run(b"#!/bin/sh\n" * 100 + data, filename, Kind.WHEEL)
    assert got.body == metadata_text("foo", "1.0").encode()


def test_zip_member_inflating_beyond_its_declared_size_is_refused() -> None:
    data = bombs.zip_size_lies(actual_mib=16, declared=100)
    assert len(data) < 100_000
    with pytest.raises(MetadataError, match="inflates to more than its declared 100 bytes"):
        run(data, "bomb-1.0-py3-none-any.whl", Kind.WHEEL)


def test_zip_member_declaring_a_huge_compressed_size_is_refused() -> None:
    data = bytearray(zip_bytes({"foo-1.0.dist-info/METADATA": b"N\n"}))
    central = data.rindex(b"PK\x01\x02")
    data[central + 20 : central + 24] = (1 << 30).to_bytes(4, "little")
    with pytest.raises(MetadataError, match="declares 1,073,741,824 compressed bytes"):
        run(bytes(data), "foo-1.0-py3-none-any.whl", Kind.WHEEL)


def test_zip_member_shorter_than_declared_or_corrupt_is_refused() -> None:
    body = b"Name: foo\n"
    stored = io.BytesIO()
    with zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("foo-1.0.dist-info/METADATA", body)
    data = bytearray(stored.getvalue())
    at = data.index(body)
    data[at] ^= 1
    with pytest.raises(MetadataError, match="CRC"):
        run(bytes(data), "foo-1.0-py3-none-any.whl", Kind.WHEEL)


_TAR = tar_bytes({"foo-1.0/setup.py": b"", "foo-1.0/PKG-INFO": b"Name: foo\n"}, "w")
SEEDS = [
    ("foo-1.0-py3-none-any.whl", Kind.WHEEL, wheel_bytes("foo", "1.0")[1]),
    ("foo-1.0.zip", Kind.SDIST, zip_bytes({"foo-1.0/PKG-INFO": b"Name: foo\n"})),
    ("foo-1.0-py3.11.egg", Kind.EGG, zip_bytes({"EGG-INFO/PKG-INFO": b"Name: foo\n"})),
    ("foo-1.0.tar", Kind.SDIST, _TAR),
    ("foo-1.0.tar.gz", Kind.SDIST, zlib.compress(_TAR, 9, 31)),
    ("foo-1.0.tar.bz2", Kind.SDIST, bz2.compress(_TAR)),
    ("foo-1.0.tar.xz", Kind.SDIST, lzma.compress(_TAR)),
]


@settings(
    max_examples=300,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    seed=st.sampled_from(SEEDS),
    edits=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255), st.integers(0, 3)),
        min_size=1,
        max_size=8,
    ),
)
def test_a_damaged_archive_is_a_metadata_error_or_read(
    seed: tuple[str, Kind, bytes], edits: list[tuple[float, int, int]]
) -> None:
    # Bytes overwritten, cut or inserted anywhere: the readers answer MetadataError or
    # metadata; never another exception.
    filename, kind, original = seed
    data = bytearray(original)
    for where, value, action in edits:
        at = int(where * len(data))
        if action == 0 and data:
            data[min(at, len(data) - 1)] = value
        elif action == 1:
            del data[at : at + value]
        else:
            data[at:at] = bytes([value]) * (action * 7)
    try:
        got = run(bytes(data), filename, kind)
    except MetadataError:
        return
    assert isinstance(got.body, bytes)


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

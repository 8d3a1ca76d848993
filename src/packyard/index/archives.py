"""Reading one member of a zip archive within bounds, and what the archive readers share.

Archives come from anyone who can upload, or from a hostile upstream through
``update``, so they are read checking every size before anything is read or allocated.
``zipfile.ZipFile`` parses the whole central directory into objects before anything
can be checked (a 54 MB wheel listing a million entries costs about 490 MiB and 20 s of
CPU). Here the entry count and the central directory's size come from the
end-of-central-directory record (or its zip64 version) and are checked first; entries
are scanned without making an object for each; one member is read, its declared size
checked before reading and its actual size while inflating (never more than one byte
past the declared size is inflated), then its CRC. Tar archives: ``tarballs.py``.

Every failure is an ``ArchiveError`` with a message saying what was wrong.
"""

from __future__ import annotations

import bz2
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Protocol

MAX_ENTRIES = 100_000  # entries a zip may list
MAX_CENTRAL_DIRECTORY = 16 << 20  # bytes of a zip's central directory

CHUNK = 64 << 10


class ArchiveError(ValueError):
    """The archive is malformed or exceeds a bound; the message says which."""


class Codec(Protocol):
    """What zlib, bz2 and lzma decompressors have in common."""

    @property
    def eof(self) -> bool: ...

    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int, /) -> bytes: ...


def size_text(n: int) -> str:
    """``16 MiB`` for whole MiB, else ``1,234 bytes``."""
    return f"{n >> 20} MiB" if n >= 1 << 20 and not n % (1 << 20) else f"{n:,} bytes"


# --- zip ---------------------------------------------------------------------------

_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_CENTRAL = struct.Struct("<4s6H3L5H2L")
_LOCAL = struct.Struct("<4s5H3L2H")
_FULL32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class ZipEntry:
    """What the central directory says of one entry (sizes after zip64 extras)."""

    name: str
    flags: int
    method: int
    crc: int
    size: int  # uncompressed, as declared
    packed: int  # compressed, as declared
    offset: int  # of its local header, from the start of the file


def _zip64_record(fh: IO[bytes], eocd: int) -> tuple[int, int, int] | None:
    """(entries, size, offset) from the zip64 records just before ``eocd``, if any."""
    start = eocd - _ZIP64_EOCD.size - _ZIP64_LOCATOR.size
    if start < 0:
        return None
    fh.seek(start)
    data = fh.read(_ZIP64_EOCD.size + _ZIP64_LOCATOR.size)
    if data[_ZIP64_EOCD.size : _ZIP64_EOCD.size + 4] != b"PK\x06\x07":
        return None
    if data[:4] != b"PK\x06\x06":
        raise ArchiveError("the zip64 end of central directory record is missing")
    entries, size, offset = _ZIP64_EOCD.unpack_from(data)[7:10]
    return entries, size, offset


def _zip_directory(fh: IO[bytes]) -> tuple[int, int, int, int]:
    """(entries, size, start, base) of the central directory, checked against the
    bounds before it is read; ``base`` is where the archive starts in the file (data
    may be prepended to a zip, as ``zipfile`` allows)."""
    end = fh.seek(0, 2)
    tail_start = max(0, end - _EOCD.size - 0xFFFF)
    fh.seek(tail_start)
    tail = fh.read(end - tail_start)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + _EOCD.size > len(tail):
        raise ArchiveError("not a zip archive (no end of central directory record)")
    entries, size, offset = _EOCD.unpack_from(tail, at)[4:7]
    directory_end = tail_start + at
    zip64 = _zip64_record(fh, directory_end)
    if zip64 is not None:
        entries, size, offset = zip64
        directory_end -= _ZIP64_EOCD.size + _ZIP64_LOCATOR.size
    if entries > MAX_ENTRIES:
        raise ArchiveError(f"the archive lists {entries:,} entries, more than {MAX_ENTRIES:,}")
    if size > MAX_CENTRAL_DIRECTORY:
        raise ArchiveError(
            f"the central directory is {size_text(size)}, "
            f"more than {size_text(MAX_CENTRAL_DIRECTORY)}"
        )
    start = directory_end - size
    if start < 0 or offset > start or entries * _CENTRAL.size > size:
        raise ArchiveError("the zip's central directory does not fit in the file")
    return entries, size, start, start - offset


def _zip64_extra(extra: bytes, fields: tuple[int, int, int]) -> tuple[int, int, int]:
    """(size, packed, offset) with each 0xFFFFFFFF taken from the zip64 extra field."""
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<2H", extra, pos)
        if tag == 1:
            body = extra[pos + 4 : pos + 4 + length]
            values = iter(struct.unpack_from(f"<{len(body) // 8}Q", body))
            size, packed, offset = (next(values, v) if v == _FULL32 else v for v in fields)
            return size, packed, offset
        pos += 4 + length
    return fields


def zip_entries(fh: IO[bytes], wanted: Callable[[str], bool]) -> list[ZipEntry]:
    """The entries whose names ``wanted`` accepts, in central directory order.

    No object is made for the other entries; the directory's size and entry count are
    checked before it is read.
    """
    entries, size, start, base = _zip_directory(fh)
    fh.seek(start)
    directory = fh.read(size)
    if len(directory) < size:
        raise ArchiveError("the zip's central directory is cut short")
    found: list[ZipEntry] = []
    pos = 0
    for _ in range(entries):
        if pos + _CENTRAL.size > size or directory[pos : pos + 4] != b"PK\x01\x02":
            raise ArchiveError("an entry of the zip's central directory is malformed")
        record = _CENTRAL.unpack_from(directory, pos)
        name_end = pos + _CENTRAL.size + record[10]
        raw = directory[pos + _CENTRAL.size : name_end].split(b"\0", 1)[0]
        name = raw.decode("utf-8" if record[3] & 0x800 else "cp437", errors="replace")
        if wanted(name):
            extra = directory[name_end : name_end + record[11]]
            usize, packed, offset = _zip64_extra(extra, (record[9], record[8], record[16]))
            flags, method, crc = record[3], record[4], record[7]
            found.append(ZipEntry(name, flags, method, crc, usize, packed, base + offset))
        pos = name_end + record[11] + record[12]
    return found


def zip_read(fh: IO[bytes], entry: ZipEntry, limit: int) -> bytes:
    """The bytes of one zip entry of at most ``limit`` bytes, declared and actual."""
    name = entry.name
    if entry.flags & 1:
        raise ArchiveError(f"{name} is encrypted")
    if entry.size > limit:
        raise ArchiveError(f"{name} is larger than {size_text(limit)}")
    if entry.packed > 2 * entry.size + CHUNK:
        raise ArchiveError(f"{name} declares {entry.packed:,} compressed bytes for {entry.size:,}")
    codec: Codec
    if entry.method == 8:
        codec = zlib.decompressobj(-zlib.MAX_WBITS)
    elif entry.method == 12:
        codec = bz2.BZ2Decompressor()
    elif entry.method != 0:
        raise ArchiveError(f"{name} uses compression method {entry.method}, not supported")
    fh.seek(entry.offset)
    header = fh.read(_LOCAL.size)
    if len(header) < _LOCAL.size or header[:4] != b"PK\x03\x04":
        raise ArchiveError(f"the local header of {name} is missing")
    fh.seek(entry.offset + _LOCAL.size + sum(_LOCAL.unpack(header)[9:11]))
    try:
        data = _zip_inflate(fh, entry, codec if entry.method else None)
    except (zlib.error, OSError, EOFError) as exc:
        raise ArchiveError(f"{name} is corrupt: {exc}") from None
    if len(data) != entry.size:
        raise ArchiveError(f"{name} holds {len(data):,} bytes, not the {entry.size:,} declared")
    if zlib.crc32(data) != entry.crc:
        raise ArchiveError(f"{name} fails its CRC check")
    return data


def _zip_inflate(fh: IO[bytes], entry: ZipEntry, codec: Codec | None) -> bytes:
    out = bytearray()
    left = entry.packed
    while left:
        chunk = fh.read(min(CHUNK, left))
        if not chunk:
            raise ArchiveError(f"{entry.name} is cut short")
        left -= len(chunk)
        # Never more than one byte beyond the declared size is inflated.
        out += codec.decompress(chunk, entry.size + 1 - len(out)) if codec else chunk
        if len(out) > entry.size:
            raise ArchiveError(
                f"{entry.name} inflates to more than its declared {entry.size:,} bytes"
            )
    return bytes(out)

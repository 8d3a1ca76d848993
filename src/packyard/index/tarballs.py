"""Reading one member of a tar archive (plain, gzip, bzip2 or xz) within bounds.

``tarfile`` reads a GNU long name or a pax header whole, whatever size its header claims
(a 300 KB ``.tar.gz`` whose long-name header claims 300 MiB costs 653 MiB), and parses
pax records with a regular expression that an unpatched Python runs for seconds on a
60,000-digit length while holding the GIL. Here the 512-byte header blocks are parsed
by hand up to the wanted member: every extension header is size-checked before it is
read and its records parsed without a regular expression; members are skipped 64 KiB
at a time; decompression is asked for at most 64 KiB per call and stops at a total and
at a compression ratio (a few KB of gzip that inflate to gigabytes of zeros stop after
``RATIO_FLOOR``); an xz stream may not ask for more than ``MAX_XZ_MEMORY``.
"""

from __future__ import annotations

import bz2
import lzma
import struct
import zlib
from collections.abc import Callable
from typing import IO

from packyard.index.archives import CHUNK, ArchiveError, Codec, size_text

MAX_EXTENSION_BYTES = 1 << 20  # one GNU long name / pax header
MAX_EXTENSION_TOTAL = 16 << 20  # all GNU long names and pax headers of an archive
MAX_UNPACKED_BYTES = 1 << 30  # tar bytes walked (decompressed) to find the member
RATIO_FLOOR = 16 << 20  # past this many tar bytes, refuse an archive that is ...
MAX_RATIO = 200  # ... more than this many times its compressed size
MAX_XZ_MEMORY = 40 << 20  # an xz stream that needs more to decompress (xz -9) is refused
BLOCK = 512

_EXTENSIONS = {b"L": "GNU long name", b"K": "GNU long link", b"x": "pax", b"X": "pax"}
_EXTENSIONS[b"g"] = "pax global"
_FILE_TYPES = (b"0", b"\0", b"7")
_NO_DATA_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")  # links, devices, directories, FIFOs


def _codec_for(head: bytes) -> Callable[[], Codec] | None:
    """A decompressor factory for the stream that starts with ``head``; None if plain."""
    if head.startswith(b"\x1f\x8b"):
        return lambda: zlib.decompressobj(16 + zlib.MAX_WBITS)
    if head.startswith(b"BZh"):
        return bz2.BZ2Decompressor
    if head.startswith(b"\xfd7zXZ\x00"):
        return lambda: lzma.LZMADecompressor(lzma.FORMAT_XZ, memlimit=MAX_XZ_MEMORY)
    return None


class _TarStream:
    """A tar archive's bytes, decompressed 64 KiB at a time as they are read, within
    ``MAX_UNPACKED_BYTES`` and ``MAX_RATIO``. Several concatenated streams are read on."""

    def __init__(self, fh: IO[bytes]) -> None:
        self._fh = fh
        self._input = fh.read(CHUNK)
        self._packed = len(self._input)
        self._make = _codec_for(self._input)
        self._codec = self._make() if self._make is not None else None
        self._idle = False
        self._buf = b""
        self._pos = 0
        self.unpacked = 0

    def _read(self) -> bytes:
        data = self._fh.read(CHUNK)
        self._packed += len(data)
        return data

    def _count(self, out: bytes) -> bytes:
        self.unpacked += len(out)
        if self.unpacked > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"the archive unpacks to more than {size_text(MAX_UNPACKED_BYTES)}")
        if self._codec and self.unpacked > max(RATIO_FLOOR, MAX_RATIO * self._packed):
            raise ArchiveError(
                f"the archive unpacks to more than {MAX_RATIO} times its compressed size"
            )
        return out

    def _produce(self) -> bytes:
        """The next piece of the tar (at most CHUNK bytes); b"" at its end."""
        if self._make is None or self._codec is None:
            data, self._input = self._input or self._read(), b""
            return self._count(data)
        while True:
            if self._codec.eof:
                rest = self._codec.unused_data or self._input or self._read()
                if not rest:
                    return b""
                self._codec, self._input, self._idle = self._make(), rest, False
            if not self._input:
                self._input = self._read()
                if not self._input and self._idle:
                    raise ArchiveError("the compressed data ends too soon")
            out = self._codec.decompress(self._input, CHUNK)
            self._input = getattr(self._codec, "unconsumed_tail", b"")
            self._idle = not out
            if out:
                return self._count(out)

    def read(self, n: int, keep: bool = True) -> bytes:
        """The next ``n`` bytes (fewer only at the end); ``keep=False`` skips them."""
        parts: list[bytes] = []
        while n:
            if self._pos >= len(self._buf):
                self._buf, self._pos = self._produce(), 0
                if not self._buf:
                    break
            end = min(len(self._buf), self._pos + n)
            if keep:
                parts.append(self._buf[self._pos : end])
            n -= end - self._pos
            self._pos = end
        if n and not keep:
            raise ArchiveError("the tar archive ends inside a member")
        return b"".join(parts)


def _tar_number(field: bytes) -> int:
    if field[0] & 0x80:  # GNU base-256
        if field[0] != 0x80:
            raise ArchiveError("a tar header holds a negative number")
        return int.from_bytes(field[1:], "big")
    text = field.split(b"\0", 1)[0].strip()
    if text.strip(b"01234567"):
        raise ArchiveError("a tar header holds a malformed number")
    return int(text, 8) if text else 0


def _tar_header(block: bytes) -> tuple[bytes, int, bytes]:
    """(name, size, type) of a 512-byte tar header block, its checksum verified."""
    stored = _tar_number(block[148:156])
    unsigned = sum(block) - sum(block[148:156]) + 256
    if stored != unsigned and stored != sum(struct.unpack_from("148b8x356b", block)) + 256:
        raise ArchiveError("not a tar archive (a header's checksum does not match)")
    name = block[:100].split(b"\0", 1)[0]
    kind = block[156:157]
    prefix = block[345:500].split(b"\0", 1)[0]
    if block[257:263] == b"ustar\0" and prefix:
        name = prefix + b"/" + name
    if kind == b"S" and block[482]:
        raise ArchiveError("GNU sparse members with extended headers are not supported")
    return name, _tar_number(block[124:136]), kind


def _pax_records(data: bytes) -> dict[str, bytes]:
    """The ``"<length> <key>=<value>\\n"`` records of a pax header, parsed by hand."""
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data) and data[pos] != 0:
        space = data.find(b" ", pos, pos + 12)  # a length of at most 11 digits
        digits = data[pos:space] if space > pos else b""
        if not digits.isdigit():
            raise ArchiveError("a pax header record has a malformed length")
        end = pos + int(digits)
        key, equals, value = data[space + 1 : end - 1].partition(b"=")
        if end > len(data) or end <= space + 1 or data[end - 1] != 0x0A or not equals:
            raise ArchiveError("a pax header record is malformed")
        records[key.decode("utf-8", "replace")] = value
        pos = end
    return records


def _paxsize_text(value: bytes) -> int:
    if not value.isdigit() or len(value) > 20:
        raise ArchiveError("a pax size is malformed")
    return int(value)


def _padded(size: int) -> int:
    return -(-size // BLOCK) * BLOCK


def tar_member(
    fh: IO[bytes], wanted: Callable[[str], bool], limit: int, max_members: int
) -> bytes | None:
    """The first regular file of a tar (plain, gzip, bzip2 or xz) whose name ``wanted``
    accepts, of at most ``limit`` bytes; None if none in the first ``max_members``."""
    try:
        return _tar_walk(_TarStream(fh), wanted, limit, max_members)
    except lzma.LZMAError as exc:
        if "memory" in str(exc).lower():
            needed = size_text(MAX_XZ_MEMORY)
            raise ArchiveError(f"the xz stream needs more than {needed} of memory") from None
        raise ArchiveError(f"the compressed data is corrupt: {exc}") from None
    except (zlib.error, OSError, EOFError) as exc:
        raise ArchiveError(f"the compressed data is corrupt: {exc}") from None


def _tar_walk(
    stream: _TarStream, wanted: Callable[[str], bool], limit: int, max_members: int
) -> bytes | None:
    members = extensions = extension_bytes = 0
    pax_global: dict[str, bytes] = {}
    pending: dict[str, bytes] = {}
    while members < max_members:
        block = stream.read(BLOCK)
        if not block or block == bytes(BLOCK):
            return None  # the end of the archive
        if len(block) < BLOCK:
            raise ArchiveError("the tar archive ends inside a header")
        name, size, kind = _tar_header(block)
        if kind in _EXTENSIONS:
            extensions += 1
            extension_bytes += size
            if size > MAX_EXTENSION_BYTES or extension_bytes > MAX_EXTENSION_TOTAL:
                raise ArchiveError(
                    f"a tar {_EXTENSIONS[kind]} header claims {size:,} bytes, more than "
                    f"{size_text(MAX_EXTENSION_BYTES)} (or {size_text(MAX_EXTENSION_TOTAL)} in all)"
                )
            if extensions > 2 * max_members:
                raise ArchiveError("the tar archive has too many extension headers")
            data = stream.read(_padded(size))[:size]
            if len(data) < size:
                raise ArchiveError("the tar archive ends inside a header")
            if kind == b"L":
                pending["path"] = data.split(b"\0", 1)[0]
            elif kind != b"K":
                (pax_global if kind == b"g" else pending).update(_pax_records(data))
            continue
        members += 1
        info, pending = {**pax_global, **pending}, {}
        name = info.get("path", name)
        size = _paxsize_text(info["size"]) if "size" in info else size
        text = name.decode("utf-8", "replace")
        if kind in _FILE_TYPES and wanted(text):
            if size > limit:
                raise ArchiveError(f"{text} is larger than {size_text(limit)}")
            data = stream.read(size)
            if len(data) < size:
                raise ArchiveError(f"the tar archive ends inside {text}")
            return data
        if kind not in _NO_DATA_TYPES:
            if size > MAX_UNPACKED_BYTES:
                raise ArchiveError(f"{text} claims {size:,} bytes, more than the archive may hold")
            stream.read(_padded(size), keep=False)
    return None

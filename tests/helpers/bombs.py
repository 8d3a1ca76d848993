"""Hostile archives, built inside the tests in a few MB: each one claims or inflates to
far more than it holds (tar long names and pax headers, decompression bombs, zip
directories listing huge entry counts, members whose declared size lies).

Gigabytes of zeros are made cheaply for gzip: after a full flush a deflate stream
restarts, so the compressed form of 1 MiB of zeros is the same bytes every time and is
repeated (the trailer's CRC is then wrong, which no reader reaches).
"""

from __future__ import annotations

import bz2
import io
import lzma
import struct
import zipfile
import zlib

MIB = 1 << 20
ZERO_MIB = bytes(MIB)


def tar_header(name: bytes, size: int, kind: bytes = b"0") -> bytes:
    """One ustar header block (size in octal, or base-256 when too large for it)."""
    block = bytearray(512)
    block[: len(name)] = name
    block[100:108] = b"0000644\0"
    block[108:116] = block[116:124] = b"0000000\0"
    if size < 8**11:
        block[124:136] = b"%011o\0" % size
    else:
        block[124:136] = b"\x80" + size.to_bytes(11, "big")
    block[136:148] = b"00000000000\0"
    block[156:157] = kind
    block[257:265] = b"ustar\x0000"
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)
    return bytes(block)


def tar_file(name: str, data: bytes) -> bytes:
    """A regular member: header and data padded to whole blocks."""
    padding = bytes(-len(data) % 512)
    return tar_header(name.encode(), len(data)) + data + padding


def gzip_zeros(head: bytes, mib: int, tail: bytes = b"") -> bytes:
    """gzip of ``head``, ``mib`` MiB of zeros, then ``tail``, in a few KB per GiB."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [c.compress(head), c.flush(zlib.Z_FULL_FLUSH)]
    piece = c.compress(ZERO_MIB) + c.flush(zlib.Z_FULL_FLUSH)
    again = c.compress(ZERO_MIB) + c.flush(zlib.Z_FULL_FLUSH)
    assert piece == again
    out += [piece] * mib
    out += [c.compress(tail), c.flush()]
    return b"".join(out)


def compressed_zeros(codec: str, head: bytes, mib: int, tail: bytes = b"") -> bytes:
    """``head`` + ``mib`` MiB of zeros + ``tail`` compressed with gz, bz2 or xz."""
    if codec == "gz":
        return gzip_zeros(head, mib, tail)
    c = bz2.BZ2Compressor(9) if codec == "bz2" else lzma.LZMACompressor(preset=0)
    out = [c.compress(head)]
    out += [c.compress(ZERO_MIB) for _ in range(mib)]
    out += [c.compress(tail), c.flush()]
    return b"".join(out)


PKG_INFO = b"Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\n\n"


def long_name_bomb(codec: str, claim_mib: int = 300, data_mib: int = 300) -> bytes:
    """A GNU long-name header claiming ``claim_mib`` MiB, followed by that many zeros."""
    head = tar_header(b"././@LongLink", claim_mib * MIB, b"L")
    return compressed_zeros(codec, head, data_mib)


def pax_huge_bomb(codec: str = "gz", claim_mib: int = 300) -> bytes:
    """A pax extended header claiming ``claim_mib`` MiB, followed by that many zeros."""
    return compressed_zeros(codec, tar_header(b"PaxHeader", claim_mib * MIB, b"x"), claim_mib)


def pax_digits_bomb(digits: int = 60_000) -> bytes:
    """A pax header whose one record has a length of ``digits`` digits and no space:
    an unpatched Python's tarfile runs a regular expression on it for seconds."""
    data = b"1" * digits
    body = tar_header(b"PaxHeader", len(data), b"x") + data + bytes(-len(data) % 512)
    body += tar_file("bomb-1.0/PKG-INFO", PKG_INFO) + bytes(1024)
    return zlib.compress(body, 9, 31)


def inflate_bomb(codec: str, mib: int) -> bytes:
    """A member of ``mib`` MiB of zeros before the PKG-INFO: a decompression bomb."""
    head = tar_header(b"bomb-1.0/zeros", mib * MIB)
    tail = tar_file("bomb-1.0/PKG-INFO", PKG_INFO) + bytes(1024)
    return compressed_zeros(codec, head, mib, tail)


# --- zip


_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")


def wheel(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def eocd(entries: int, size: int, offset: int) -> bytes:
    return _EOCD.pack(
        b"PK\x05\x06", 0, 0, min(entries, 0xFFFF), min(entries, 0xFFFF), size, offset, 0
    )


def zip_claiming(entries: int, directory_size: int) -> bytes:
    """A zip whose end-of-central-directory record (zip64 when needed) claims
    ``entries`` entries and a central directory of ``directory_size`` bytes."""
    if entries < 0xFFFF and directory_size < 0xFFFFFFFF:
        return bytes(64) + eocd(entries, directory_size, 0)
    record = _ZIP64_EOCD.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, directory_size, 0)
    body = bytes(64)
    locator = _ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, len(body), 1)
    return body + record + locator + eocd(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


def zip_many_entries(entries: int) -> bytes:
    """A real zip of ``entries`` empty stored files named ``a`` (47 bytes of central
    directory each; zip64 records past 65,535): ``zipfile`` makes an object per entry."""
    local = b"PK\x03\x04" + struct.pack("<5H3L2H", 20, 0, 0, 0, 0, 0, 0, 0, 1, 0) + b"a"
    central = (
        b"PK\x01\x02"
        + struct.pack("<6H3L5H2L", 20, 20, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
        + b"a"
    )
    directory = central * entries
    record = _ZIP64_EOCD.pack(
        b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, len(directory), len(local)
    )
    locator = _ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, len(local) + len(directory), 1)
    return local + directory + record + locator + eocd(entries, len(directory), len(local))


def zip_size_lies(actual_mib: int = 16, declared: int = 100) -> bytes:
    """A wheel whose METADATA declares ``declared`` bytes but inflates to ``actual_mib``
    MiB of zeros (both the local header and the central directory say ``declared``)."""
    name = b"bomb-1.0.dist-info/METADATA"
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    packed = c.compress(bytes(actual_mib * MIB)) + c.flush()
    crc = zlib.crc32(bytes(declared))
    local = (
        b"PK\x03\x04"
        + struct.pack("<5H3L2H", 20, 0, 8, 0, 0, crc, len(packed), declared, len(name), 0)
        + name
    )
    central = (
        b"PK\x01\x02"
        + struct.pack(
            "<6H3L5H2L", 20, 20, 0, 8, 0, 0, crc, len(packed), declared, len(name), 0, 0, 0, 0, 0, 0
        )
        + name
    )
    body = local + packed
    return body + central + eocd(1, len(central), len(body))


def as_zip64(data: bytes) -> bytes:
    """The same zip with a zip64 end-of-central-directory record and locator, and the
    32-bit record's fields saturated (as a writer does past 65,535 entries or 4 GiB)."""
    at = data.rindex(b"PK\x05\x06")
    entries, size, offset = _EOCD.unpack_from(data, at)[4:7]
    record = _ZIP64_EOCD.pack(b"PK\x06\x06", 44, 45, 45, 0, 0, entries, entries, size, offset)
    locator = _ZIP64_LOCATOR.pack(b"PK\x06\x07", 0, at, 1)
    return data[:at] + record + locator + eocd(0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF)


def pax_record(key: bytes, value: bytes) -> bytes:
    """One ``"<length> <key>=<value>\\n"`` record, its length counting itself."""
    rest = b" " + key + b"=" + value + b"\n"
    length = len(rest) + 1
    while len(str(length)) + len(rest) != length:
        length += 1
    return str(length).encode() + rest

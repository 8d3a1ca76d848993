"""A streaming multipart/form-data parser with limits of its own.

Bottle's parser keeps parts in memory up to 100 KiB in total, which is why pypiserver
fails on long READMEs. This one holds at most one read chunk plus one field in memory:
text fields are kept (each up to ``max_field_bytes``), file parts are handed, chunk by
chunk, to a sink chosen by the caller, so a file of any size costs constant memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Protocol
from urllib.parse import unquote

CHUNK = 1 << 16


class FormError(ValueError):
    """The body is not a well-formed form, or breaks a limit; ``status`` says which."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Limits:
    max_field_bytes: int = 16 << 20  # one text field (a README can be large)
    max_text_bytes: int = 32 << 20  # all text fields together (they are kept in memory)
    max_fields: int = 1000
    max_header_bytes: int = 16 << 10  # the headers of one part
    max_name_length: int = 200


class Sink(Protocol):
    def write(self, data: bytes) -> object: ...


@dataclass
class FilePart:
    name: str
    filename: str
    size: int = 0


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[FilePart] = field(default_factory=list)

    def first(self, name: str) -> str | None:
        values = self.fields.get(name)
        return values[0] if values else None


def boundary_of(content_type: str) -> bytes:
    kind, params = _parse_header_value(content_type)
    if kind != "multipart/form-data":
        raise FormError(f"expected a multipart/form-data body, not {kind or 'nothing'}", 415)
    boundary = params.get("boundary", "")
    if not 1 <= len(boundary) <= 70 or any(ord(c) < 32 or ord(c) > 126 for c in boundary):
        raise FormError("the multipart body has no usable boundary")
    return boundary.encode("ascii")


def _parse_header_value(value: str) -> tuple[str, dict[str, str]]:
    """'form-data; name="a"; filename="b"' -> ("form-data", {...}); quoted strings with
    backslash escapes, and RFC 5987 ``name*=utf-8''...`` values."""
    head, _, rest = value.partition(";")
    params: dict[str, str] = {}
    i = 0
    while i < len(rest):
        while i < len(rest) and rest[i] in " \t;":
            i += 1
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip().lower()
        i = eq + 1
        if i < len(rest) and rest[i] == '"':
            i += 1
            out = []
            while i < len(rest) and rest[i] != '"':
                if rest[i] == "\\" and i + 1 < len(rest):
                    i += 1
                out.append(rest[i])
                i += 1
            i += 1
            val = "".join(out)
        else:
            end = rest.find(";", i)
            end = len(rest) if end < 0 else end
            val = rest[i:end].strip()
            i = end
        if key.endswith("*"):
            charset, _, encoded = val.partition("''")
            try:
                val = unquote(encoded, encoding=charset or "utf-8", errors="strict")
            except (LookupError, UnicodeDecodeError):
                raise FormError(f"cannot decode the {key} parameter") from None
            key = key[:-1]
        params[key] = val
    return head.strip().lower(), params


class _Reader:
    def __init__(self, stream: IO[bytes], length: int | None) -> None:
        self._stream = stream
        self._left = length

    def read(self) -> bytes:
        if self._left is not None:
            if self._left <= 0:
                return b""
            data = self._stream.read(min(CHUNK, self._left))
            self._left -= len(data)
            return data
        return self._stream.read(CHUNK)


def parse(
    stream: IO[bytes],
    content_type: str,
    length: int | None,
    open_file: Callable[[str, str], Sink | None],
    limits: Limits = Limits(),
) -> Form:
    """Read a whole multipart body. ``open_file(field, filename)`` returns where a file
    part's bytes go (None discards them)."""
    boundary = boundary_of(content_type)
    reader = _Reader(stream, length)
    form = Form()
    buf = b""
    first = b"--" + boundary
    delimiter = b"\r\n--" + boundary

    # Preamble, up to the first delimiter.
    while True:
        at = buf.find(first)
        if at >= 0 and (at == 0 or buf[at - 2 : at] == b"\r\n"):
            buf = buf[at + len(first) :]
            break
        if len(buf) > limits.max_header_bytes:
            raise FormError("the multipart body does not start with its boundary")
        data = reader.read()
        if not data:
            raise FormError("the multipart body has no parts")
        buf += data

    count = 0
    text_total = 0
    while True:
        # After a delimiter: "--" ends the body, CRLF starts a part.
        while len(buf) < 2:
            data = reader.read()
            if not data:
                raise FormError("the multipart body ends in the middle of a delimiter")
            buf += data
        if buf.startswith(b"--"):
            return form
        line_end = buf.find(b"\r\n")
        while line_end < 0:
            data = reader.read()
            if not data or len(buf) > 1024:
                raise FormError("malformed multipart delimiter line")
            buf += data
            line_end = buf.find(b"\r\n")
        if buf[:line_end].strip(b" \t"):
            raise FormError("malformed multipart delimiter line")
        buf = buf[line_end + 2 :]

        # Part headers.
        while True:
            end = buf.find(b"\r\n\r\n")
            if end >= 0 or buf.startswith(b"\r\n"):
                break
            if len(buf) > limits.max_header_bytes:
                raise FormError("the headers of a multipart part are too large", 431)
            data = reader.read()
            if not data:
                raise FormError("the multipart body ends inside part headers")
            buf += data
        if buf.startswith(b"\r\n"):
            raw_headers, buf = b"", buf[2:]
        else:
            raw_headers, buf = buf[:end], buf[end + 4 :]
        if len(raw_headers) > limits.max_header_bytes:
            raise FormError("the headers of a multipart part are too large", 431)
        name, filename = _disposition(raw_headers, limits)
        count += 1
        if count > limits.max_fields:
            raise FormError(f"too many form fields (more than {limits.max_fields})", 413)

        # Part body, streamed up to the next delimiter.
        sink: Sink | None = None
        part: FilePart | None = None
        text = bytearray()
        if filename is not None:
            part = FilePart(name, filename)
            form.files.append(part)
            sink = open_file(name, filename)
        while True:
            at = buf.find(delimiter)
            if at >= 0:
                body, buf = buf[:at], buf[at + len(delimiter) :]
                done = True
            else:
                keep = len(delimiter) - 1
                body, buf = buf[: max(0, len(buf) - keep)], buf[max(0, len(buf) - keep) :]
                done = False
            if body:
                if part is not None:
                    part.size += len(body)
                    if sink is not None:
                        sink.write(body)
                else:
                    text += body
                    text_total += len(body)
                    if len(text) > limits.max_field_bytes:
                        raise FormError(
                            f"form field {name!r} is larger than {limits.max_field_bytes} bytes",
                            413,
                        )
                    if text_total > limits.max_text_bytes:
                        raise FormError(
                            f"the form's text fields are larger than {limits.max_text_bytes} "
                            "bytes together",
                            413,
                        )
            if done:
                break
            data = reader.read()
            if not data:
                raise FormError("the multipart body ends before its closing boundary")
            buf += data
        if part is None:
            try:
                value = text.decode("utf-8")
            except UnicodeDecodeError:
                raise FormError(f"form field {name!r} is not UTF-8 text") from None
            form.fields.setdefault(name, []).append(value)


def _disposition(raw: bytes, limits: Limits) -> tuple[str, str | None]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    disposition = None
    for line in text.split("\r\n"):
        key, sep, value = line.partition(":")
        if sep and key.strip().lower() == "content-disposition":
            disposition = value
    if disposition is None:
        raise FormError("a multipart part has no Content-Disposition header")
    kind, params = _parse_header_value(disposition)
    if kind != "form-data" or "name" not in params:
        raise FormError("a multipart part is not a named form-data field")
    name = params["name"]
    if len(name) > limits.max_name_length:
        raise FormError(f"a form field name is longer than {limits.max_name_length} characters")
    return name, params.get("filename")

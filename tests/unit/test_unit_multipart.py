"""The streaming multipart parser and the pure upload checks."""

from __future__ import annotations

import hashlib
import io
import random

import pytest
from urllib3.filepost import encode_multipart_formdata

from packyard import multipart
from packyard.config import parse_size
from packyard.httputil import prefers_json, reason_phrase
from packyard.upload import UploadError, _digest_matches, check_filename


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data


def parse(body: bytes, ctype: str, **limits: int) -> tuple[multipart.Form, list[Collect]]:
    sinks: list[Collect] = []

    def open_file(name: str, filename: str) -> Collect:
        sinks.append(Collect())
        return sinks[-1]

    form = multipart.parse(
        io.BytesIO(body), ctype, len(body), open_file, multipart.Limits(**limits)
    )
    return form, sinks


@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 16])
def test_fields_and_file_survive_any_read_size(monkeypatch, chunk: int) -> None:
    monkeypatch.setattr(multipart, "CHUNK", chunk)
    payload = random.Random(7).randbytes(20_000) + b"\r\n--" + b"\r\n"  # boundary-like tail
    body, ctype = encode_multipart_formdata(
        [
            (":action", "file_upload"),
            ("description", "é" * 5000),
            ("content", ("demo-1.0.tar.gz", payload, "application/octet-stream")),
            ("sha256_digest", "abc"),
        ]
    )
    form, sinks = parse(body, ctype)
    assert form.first(":action") == "file_upload"
    assert form.first("description") == "é" * 5000
    assert form.first("sha256_digest") == "abc"
    assert bytes(sinks[0].data) == payload
    assert form.files[0].filename == "demo-1.0.tar.gz"
    assert form.files[0].size == len(payload)


def test_repeated_fields_keep_every_value() -> None:
    body, ctype = encode_multipart_formdata(
        [("classifiers", "A"), ("classifiers", "B"), ("name", "x")]
    )
    form, _ = parse(body, ctype)
    assert form.fields["classifiers"] == ["A", "B"]


def _raw(parts: list[bytes], boundary: bytes = b"XyZ", close: bool = True) -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + p + b"\r\n" for p in parts)
    return body + (b"--" + boundary + b"--\r\n" if close else b"")


def test_quoted_and_extended_filenames() -> None:
    body = _raw(
        [
            b'Content-Disposition: form-data; name="a"; filename="we\\"ird.tar.gz"\r\n\r\nx',
            b"Content-Disposition: form-data; name=\"b\"; filename*=utf-8''n%C3%A9-1.0.zip\r\n\r\ny",
        ]
    )
    form, sinks = parse(body, "multipart/form-data; boundary=XyZ")
    assert [f.filename for f in form.files] == ['we"ird.tar.gz', "né-1.0.zip"]
    assert [bytes(s.data) for s in sinks] == [b"x", b"y"]


@pytest.mark.parametrize(
    ("body", "ctype", "status", "words"),
    [
        (b"", "multipart/form-data; boundary=XyZ", 400, "no parts"),
        (b"hello", "application/x-www-form-urlencoded", 415, "multipart/form-data"),
        (b"hello", "multipart/form-data", 400, "boundary"),
        (
            b'--XyZ\r\nContent-Disposition: form-data; name="a"\r\n\r\nvalue',
            "multipart/form-data; boundary=XyZ",
            400,
            "closing boundary",
        ),
        (
            _raw([b"Content-Type: text/plain\r\n\r\nx"]),
            "multipart/form-data; boundary=XyZ",
            400,
            "Content-Disposition",
        ),
        (
            _raw([b'Content-Disposition: attachment; name="a"\r\n\r\nx']),
            "multipart/form-data; boundary=XyZ",
            400,
            "form-data",
        ),
        (
            _raw([b'Content-Disposition: form-data; name="a"\r\n\r\n\xff\xfe']),
            "multipart/form-data; boundary=XyZ",
            400,
            "UTF-8",
        ),
        (
            _raw([b'Content-Disposition: form-data; name="' + b"n" * 300 + b'"\r\n\r\nx']),
            "multipart/form-data; boundary=XyZ",
            400,
            "longer",
        ),
        (
            _raw(
                [
                    b"X-Pad: "
                    + b"p" * 20000
                    + b'\r\nContent-Disposition: form-data; name="a"\r\n\r\nx'
                ]
            ),
            "multipart/form-data; boundary=XyZ",
            431,
            "headers",
        ),
    ],
)
def test_malformed_bodies_are_refused_with_a_reason(body, ctype, status, words) -> None:
    with pytest.raises(multipart.FormError) as err:
        parse(body, ctype)
    assert err.value.status == status
    assert words in str(err.value)


def test_field_size_and_count_limits() -> None:
    body, ctype = encode_multipart_formdata([("big", "x" * 2000)])
    with pytest.raises(multipart.FormError) as err:
        parse(body, ctype, max_field_bytes=1000)
    assert err.value.status == 413
    body, ctype = encode_multipart_formdata([(f"f{i}", "v") for i in range(20)])
    with pytest.raises(multipart.FormError) as err:
        parse(body, ctype, max_fields=10)
    assert err.value.status == 413


@pytest.mark.parametrize(
    "name",
    [
        "../x-1.0.tar.gz",
        "sub/x-1.0.tar.gz",
        "..\\x-1.0.tar.gz",
        "x\x00-1.0.tar.gz",
        "x\n-1.0.tar.gz",
        "x y-1.0.tar.gz",
        "né-1.0.tar.gz",
        ".x-1.0.tar.gz",
        "",
        "x<b>-1.0.zip",
    ],
)
def test_hostile_upload_filenames_are_refused(name: str) -> None:
    with pytest.raises(UploadError) as err:
        check_filename(name)
    assert err.value.status == 400


@pytest.mark.parametrize(
    "name", ["x-1.0.tar.gz", "Foo_Bar-1.0+local.1-py3-none-any.whl", "a!b-1.zip"]
)
def test_ordinary_upload_filenames_pass(name: str) -> None:
    check_filename(name)  # raises on refusal
    assert name


def test_md5_digest_in_hex_or_urlsafe_base64() -> None:
    md5 = hashlib.md5(b"payload")
    assert _digest_matches(md5.hexdigest(), md5, md5=True)
    assert _digest_matches(md5.hexdigest().upper(), md5, md5=True)
    b64 = __import__("base64").urlsafe_b64encode(md5.digest()).rstrip(b"=").decode()
    assert _digest_matches(b64, md5, md5=True)
    assert not _digest_matches("0" * 32, md5, md5=True)
    sha = hashlib.sha256(b"payload")
    assert _digest_matches(sha.hexdigest(), sha)
    assert not _digest_matches(sha.hexdigest()[:-1] + "0", sha)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("application/json;q=0.9, text/plain;q=0.8, text/html;q=0.7", True),  # uv
        ("application/json", True),
        ("*/*", False),  # requests / twine
        (None, False),
        ("text/html,application/json;q=0.9", False),
        ("application/json;q=0", False),
    ],
)
def test_prefers_json(accept: str | None, expected: bool) -> None:
    assert prefers_json(accept) is expected


def test_reason_phrase_is_a_safe_status_line() -> None:
    phrase = reason_phrase("File already exists: a\r\nSet-Cookie: x=1\x00é€")
    assert "\r" not in phrase
    assert "\n" not in phrase
    assert "\x00" not in phrase
    phrase.encode("latin-1")  # would raise for characters a status line cannot carry
    assert phrase.startswith("File already exists: a")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1024", 1024),
        ("1K", 1024),
        ("500M", 500 << 20),
        ("10G", 10 << 30),
        ("2gib", 2 << 30),
        (" 1T ", 1 << 40),
    ],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "abc", "-1", "0", "1.5G", "10X"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|more than 0"):
        parse_size(text)

"""The legacy upload API with raw requests: validation, limits, remove_pkg, races, routes,
permissions, error formats and start-up cleanup.

Bodies are built by hand so that every byte of the form is under the test's control; the
answers are read with http.client, which keeps the reason phrase (twine prints it).
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import re
import secrets
import threading
from collections.abc import Iterator
from functools import partial
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import helpers.upload
import pytest
from helpers import Site, http, start_server
from helpers.dists import sdist_bytes, wheel_bytes
from helpers.forms import encode_form, post
from helpers.upload import listing, replace_field, simple_links

USER, PASSWORD = "uploader", "s3cret-pw"
UV_ACCEPT = "application/json;q=0.9, text/plain;q=0.8, text/html;q=0.7"


def auth_header(user: str = USER, password: str = PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- building and sending forms ------------------------------------------------------

# What twine sends for one file here: a summary and both digests (right), with the password.
TWINE = {"summary": "A test distribution", "blake2": True}
upload_fields = partial(helpers.upload.upload_fields, **TWINE)
send = partial(helpers.upload.send, authorization=auth_header())
upload = partial(helpers.upload.upload, authorization=auth_header(), **TWINE)


# --- servers ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, htpasswd: Path) -> Iterator[Site]:
    """One server for the tests that only add files with fresh names."""
    packages = tmp_path_factory.mktemp("shared") / "packages"
    packages.mkdir()
    server = start_server("-v", "-P", htpasswd, "-a", "update", "--disable-fallback", packages)
    yield Site(server, packages)
    server.stop()


@pytest.fixture
def fresh(tmp_path: Path, htpasswd: Path, serve) -> Site:
    """A server of its own with an empty directory."""
    packages = tmp_path / "packages"
    packages.mkdir()
    server = serve("-v", "-P", htpasswd, "-a", "update", "--disable-fallback", packages)
    return Site(server, packages)


# --- 6. the validation table -----------------------------------------------------------

Form = tuple[list[tuple[str, str]], tuple[str, bytes] | None]
SDIST_NAME, SDIST_DATA = sdist_bytes("val-demo", "1.0")
WHEEL_NAME, WHEEL_DATA = wheel_bytes("val-demo", "1.0")


def _case(
    filename: str = SDIST_NAME,
    data: bytes = SDIST_DATA,
    *,
    name: str = "val-demo",
    version: str = "1.0",
    with_file: bool = True,
) -> Form:
    fields = upload_fields(filename, data, name, version)
    return fields, ((filename, data) if with_file else None)


def _with(form: Form, key: str, value: str | None) -> Form:
    fields, file = form
    return replace_field(fields, key, value), file


BAD_FORMS = {
    "no-content-part": (_case(with_file=False), "does not have a file"),
    "empty-content": (_case(data=b""), "content is empty"),
    "missing-action": (_with(_case(), ":action", None), "Missing ':action'"),
    "unknown-action": (_with(_case(), ":action", "frobnicate"), "Unsupported ':action'"),
    "dotdot-path": (_case("../val-demo-1.0.tar.gz"), "must not contain a path"),
    "sub-path": (_case("sub/val-demo-1.0.tar.gz"), "must not contain a path"),
    "backslash-path": (_case("..\\val-demo-1.0.tar.gz"), "must not contain a path"),
    "control-char": (_case("val-demo-1.0\x01.tar.gz"), "control characters"),
    "delete-char": (_case("val-demo\x7f-1.0.tar.gz"), "control characters"),
    "space": (_case("val demo-1.0.tar.gz"), "only letters, digits"),
    "non-ascii": (_case("v\u00e4l_demo-1.0.tar.gz", name="v\u00e4l-demo"), "only letters, digits"),
    "non-latin1": (_case("\u03a9mega-1.0.tar.gz", name="\u03a9mega"), "only letters, digits"),
    "leading-dot": (_case(".val-demo-1.0.tar.gz"), "only letters, digits"),
    "staging-name": (_case(".packyard-upload-0123456789abcdef.tmp"), "only letters, digits"),
    "not-a-dist-txt": (_case("notes.txt"), "not a wheel or sdist"),
    "not-a-dist-whl": (_case("x.whl"), "not a wheel or sdist"),
    "name-mismatch": (_case(name="other-project"), "name field"),
    "version-mismatch": (_case(version="2.0"), "version field"),
    "sha256-wrong": (
        _with(_case(), "sha256_digest", hashlib.sha256(b"other").hexdigest()),
        "sha256_digest supplied does not match",
    ),
    "blake2-wrong": (
        _with(_case(), "blake2_256_digest", hashlib.blake2b(b"x", digest_size=32).hexdigest()),
        "blake2_256_digest supplied does not match",
    ),
    "md5-wrong-hex": (
        _with(_case(), "md5_digest", hashlib.md5(b"other").hexdigest()),
        "md5_digest supplied does not match",
    ),
    "md5-wrong-base64": (
        _with(
            _case(),
            "md5_digest",
            base64.urlsafe_b64encode(hashlib.md5(b"other").digest()).rstrip(b"=").decode(),
        ),
        "md5_digest supplied does not match",
    ),
    "protocol-2": (_with(_case(), "protocol_version", "2"), "Unknown protocol version"),
    # a field value with CR LF must not split the answer's header (reason phrase)
    "crlf-in-action": (
        _with(_case(), ":action", "x\r\nSet-Cookie: injected=1"),
        "Unsupported ':action'",
    ),
    # longer than any file system allows (NAME_MAX is 255 bytes): a refusal, not a 500
    "too-long": (
        _case("v" * 300 + "-1.0.tar.gz", name="v" * 300),
        "filename",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FORMS), ids=list(BAD_FORMS))
def test_invalid_upload_is_400_with_message_and_leaves_nothing(site: Site, case: str) -> None:
    (fields, file), expected = BAD_FORMS[case]
    before = listing(site.packages)
    reply = send(site.server.url, fields, file)
    assert reply.status == 400, (reply, case)
    assert expected in reply.reason, reply.reason
    assert expected in reply.text, reply.text
    assert reply.header("Content-Type").startswith("text/plain")  # type: ignore[union-attr]
    assert reply.header("Set-Cookie") is None
    assert listing(site.packages) == before
    assert "val-demo" not in http(site.server.url + "simple/").text


def _raw_form(*parts: tuple[str, bytes]) -> tuple[bytes, str]:
    """A form from raw Content-Disposition values and part bodies."""
    boundary = "raw-" + secrets.token_hex(8)
    out = b""
    for disposition, data in parts:
        out += f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        out += data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


ACTION = ('form-data; name=":action"', b"file_upload")
CONTENT = 'form-data; name="content"; filename="raw-1.0.tar.gz"'


def _truncated() -> tuple[bytes, str]:
    """A form cut off inside its file part (the client went away)."""
    body, content_type = _raw_form(ACTION, (CONTENT, b"x" * 1000))
    return body[:-100], content_type


RAW_BAD_FORMS = {
    # RFC 5987 filename* decodes to a path: refused like a plain one
    "rfc5987-path": (
        _raw_form(
            ACTION, ("form-data; name=\"content\"; filename*=UTF-8''..%2Fraw-1.0.tar.gz", b"x")
        ),
        400,
        "must not contain a path",
    ),
    "two-content-parts": (
        _raw_form(
            ACTION,
            (CONTENT, b"one"),
            (CONTENT, b"two"),
        ),
        400,
        "more than one 'content'",
    ),
    "truncated-body": (_truncated(), 400, "ends before its closing boundary"),
    "not-multipart": ((b"name=raw", "application/x-www-form-urlencoded"), 415, "multipart"),
}


@pytest.mark.parametrize("case", list(RAW_BAD_FORMS), ids=list(RAW_BAD_FORMS))
def test_malformed_form_is_refused_and_leaves_nothing(site: Site, case: str) -> None:
    (body, content_type), status, expected = RAW_BAD_FORMS[case]
    before = listing(site.packages)
    reply = post(site.server.url, body, content_type, authorization=auth_header())
    assert reply.status == status, reply
    assert expected in reply.reason, reply.reason
    assert expected in reply.text, reply.text
    assert listing(site.packages) == before


def test_valid_digests_are_accepted(site: Site) -> None:
    """md5 in hex and in PyPI's urlsafe base64 without padding; all digests right."""
    stored: dict[str, bytes] = {}
    for version, md5_form in (("2.0", "hex"), ("2.1", "base64"), ("2.2", None)):
        filename, data = wheel_bytes("digest-demo", version)
        fields = upload_fields(filename, data, "digest-demo", version)
        md5 = hashlib.md5(data)
        if md5_form == "hex":
            fields.append(("md5_digest", md5.hexdigest()))
        elif md5_form == "base64":
            encoded = base64.urlsafe_b64encode(md5.digest()).rstrip(b"=").decode()
            assert "=" not in encoded
            fields.append(("md5_digest", encoded))
        reply = send(site.server.url, fields, (filename, data))
        assert reply.status == 200, reply
        stored[filename] = data
    for filename, data in stored.items():
        assert (site.packages / filename).read_bytes() == data
    assert set(simple_links(site.server, "digest-demo")) == set(stored)
    assert not [n for n in listing(site.packages) if n.startswith(".")]


def test_name_and_version_in_other_spellings_are_accepted(site: Site) -> None:
    filename, data = wheel_bytes("spell-demo", "3.0")
    reply = send(
        site.server.url,
        upload_fields(filename, data, "Spell.Demo", "3.0.0"),
        (filename, data),
    )
    assert reply.status == 200, reply
    assert (site.packages / filename).read_bytes() == data


# --- 7. a long README --------------------------------------------------------------------


def test_300_kib_description_is_accepted(site: Site) -> None:
    filename, data = wheel_bytes("readme-demo", "1.0")
    line = "A long README line with some text \u2014 and a bit of unicode \u00e9.\n"
    description = line * (300 * 1024 // len(line.encode()) + 1)
    assert len(description.encode()) >= 300 * 1024
    fields = [
        *upload_fields(filename, data, "readme-demo", "1.0"),
        ("description", description),
        ("description_content_type", "text/markdown"),
    ]
    reply = send(site.server.url, fields, (filename, data))
    assert reply.status == 200, reply
    assert (site.packages / filename).read_bytes() == data


# --- 8. the upload size limit ----------------------------------------------------------


def test_file_over_max_upload_size_is_413(tmp_path: Path, htpasswd: Path, serve) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = serve("-P", htpasswd, "-a", "update", "--max-upload-size", "1K", packages)
    data = os.urandom(5 * 1024)
    filename = "big-demo-1.0.tar.gz"
    reply = upload(server.url, filename, data, "big-demo", "1.0")
    assert reply.status == 413, reply
    for where in (reply.reason, reply.text):
        assert "limit" in where, where
        assert "1024" in where, where
    assert listing(packages) == []
    # a file under the limit still goes through
    small_name, small = sdist_bytes("small-demo", "1.0")
    assert upload(server.url, small_name, small, "small-demo", "1.0").status == 200
    assert listing(packages) == [small_name]


# --- 9. remove_pkg, submit, verify, doc_upload ---------------------------------------


def test_remove_pkg_removes_every_file_of_the_release(fresh: Site) -> None:
    url = fresh.server.url
    made = [wheel_bytes("up-demo", "1.0"), sdist_bytes("up-demo", "1.0")]
    keep_name, keep_data = wheel_bytes("up-demo", "2.0")
    for filename, data in made:
        assert upload(url, filename, data, "up-demo", "1.0").status == 200
    assert upload(url, keep_name, keep_data, "up-demo", "2.0").status == 200
    assert set(simple_links(fresh.server, "up-demo")) == {made[0][0], made[1][0], keep_name}

    remove = [(":action", "remove_pkg"), ("name", "Up_Demo"), ("version", "1.0")]
    # removing needs credentials like uploading
    denied = send(url, remove, None, authorization=None)
    assert denied.status == 401
    assert len(listing(fresh.packages)) == 3

    reply = send(url, remove, None)
    assert reply.status == 200, reply
    assert listing(fresh.packages) == [keep_name]
    assert simple_links(fresh.server, "up-demo") == {
        keep_name: hashlib.sha256(keep_data).hexdigest()
    }
    for filename, _ in made:
        assert http(url + f"packages/{filename}").status == 404

    again = send(url, remove, None)
    assert again.status == 404, again
    assert "up-demo" in again.text
    unknown = send(url, [(":action", "remove_pkg"), ("name", "nothing"), ("version", "1")], None)
    assert unknown.status == 404
    assert listing(fresh.packages) == [keep_name]


def test_submit_verify_and_doc_upload(fresh: Site) -> None:
    url = fresh.server.url
    filename, data = wheel_bytes("meta-demo", "1.0")
    assert upload(url, filename, data, "meta-demo", "1.0").status == 200
    before = listing(fresh.packages)
    page = http(url + "simple/meta-demo/").body

    for action in ("submit", "verify"):
        reply = send(url, [(":action", action), ("name", "meta-demo"), ("version", "9.0")], None)
        assert reply.status == 200, reply
        assert listing(fresh.packages) == before
        assert http(url + "simple/meta-demo/").body == page

    docs_name, docs = "meta-demo-docs.zip", b"PK\x05\x06" + b"\0" * 18
    reply = send(
        url,
        [(":action", "doc_upload"), ("name", "meta-demo"), ("version", "1.0")],
        (docs_name, docs),
    )
    assert reply.status == 410, reply
    assert "documentation" in reply.reason.lower()
    assert "documentation" in reply.text.lower()
    assert listing(fresh.packages) == before


# --- 10. races -----------------------------------------------------------------------------


def _race(url: str, bodies: list[tuple[bytes, str]]) -> list[int]:
    """Send the bodies at the same moment (headers first, then all bodies together)."""
    parts = urlsplit(url)
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = [0] * len(bodies)
    errors: list[BaseException] = []

    def one(i: int, body: bytes, content_type: str) -> None:
        conn = HTTPConnection(parts.hostname, parts.port, timeout=30)
        try:
            conn.putrequest("POST", "/")
            conn.putheader("Content-Type", content_type)
            conn.putheader("Content-Length", str(len(body)))
            conn.putheader("Authorization", auth_header())
            conn.endheaders()
            barrier.wait(timeout=30)
            conn.send(body)
            resp = conn.getresponse()
            resp.read()
            statuses[i] = resp.status
        except BaseException as exc:
            errors.append(exc)
            barrier.abort()
        finally:
            conn.close()

    threads = [
        threading.Thread(target=one, args=(i, body, ctype))
        for i, (body, ctype) in enumerate(bodies)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    return statuses


def test_racing_uploads_of_different_bytes_one_wins(site: Site) -> None:
    for round_ in range(10):
        version = f"1.{round_}"
        filename = f"race_demo-{version}.tar.gz"
        datas = [sdist_bytes("race-demo", version, (f"dep{i}-{round_}",))[1] for i in range(2)]
        bodies = [
            encode_form(upload_fields(filename, data, "race-demo", version), (filename, data))
            for data in datas
        ]
        statuses = _race(site.server.url, bodies)
        assert sorted(statuses) == [200, 409], (round_, statuses)
        winner = datas[statuses.index(200)]
        assert (site.packages / filename).read_bytes() == winner
        sha = simple_links(site.server, "race-demo")[filename]
        assert sha == hashlib.sha256(winner).hexdigest()
    assert not [n for n in listing(site.packages) if n.startswith(".")]


def test_racing_uploads_of_identical_bytes_both_succeed(site: Site) -> None:
    for round_ in range(5):
        version = f"1.{round_}"
        filename, data = sdist_bytes("twin-demo", version, (secrets.token_hex(8),))
        body = encode_form(upload_fields(filename, data, "twin-demo", version), (filename, data))
        assert _race(site.server.url, [body, body]) == [200, 200], round_
        assert (site.packages / filename).read_bytes() == data
    assert not [n for n in listing(site.packages) if n.startswith(".")]


# --- 11. the upload URLs -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/legacy/", "/legacy"])
def test_every_upload_url_takes_uploads_without_redirect(site: Site, path: str) -> None:
    version = {"/": "1.0", "/legacy/": "1.1", "/legacy": "1.2"}[path]
    filename, data = wheel_bytes("route-demo", version)
    reply = upload(site.server.url, filename, data, "route-demo", version, path=path)
    assert reply.status == 200, reply  # post() also asserts it is never a 3xx
    assert (site.packages / filename).read_bytes() == data
    assert filename in simple_links(site.server, "route-demo")
    bad = upload(site.server.url, "x.whl", data, "route-demo", version, path=path)
    assert bad.status == 400
    unauthenticated = upload(
        site.server.url, filename, data, "route-demo", version, path=path, authorization=None
    )
    assert unauthenticated.status == 401


# --- 12. servers without a password file, and open servers ---------------------------


def test_upload_without_password_file_is_403_naming_p(tmp_path: Path, serve) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = serve(packages)
    filename, data = wheel_bytes("closed-demo", "1.0")
    for authorization in (None, auth_header()):
        reply = upload(
            server.url, filename, data, "closed-demo", "1.0", authorization=authorization
        )
        assert reply.status == 403, reply
        assert "-P" in reply.text, reply.text
        assert "-P" in reply.reason, reply.reason
    assert listing(packages) == []


def test_open_server_takes_uploads_without_credentials(tmp_path: Path, serve) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = serve("-P", ".", "-a", ".", packages)
    filename, data = wheel_bytes("open-demo", "1.0")
    reply = upload(server.url, filename, data, "open-demo", "1.0", authorization=None)
    assert reply.status == 200, reply
    assert (packages / filename).read_bytes() == data
    assert filename in simple_links(server, "open-demo")


# --- 13. error formats -------------------------------------------------------------------


def test_error_is_json_when_preferred_else_text(fresh: Site) -> None:
    url = fresh.server.url
    filename, data = wheel_bytes("fmt-demo", "1.0")
    assert upload(url, filename, data, "fmt-demo", "1.0").status == 200
    _, other = wheel_bytes("fmt-demo", "1.0", module_body="OTHER = 1\n")

    as_json = upload(url, filename, other, "fmt-demo", "1.0", accept=UV_ACCEPT)
    assert as_json.status == 409
    assert as_json.header("Content-Type").startswith("application/json")  # type: ignore[union-attr]
    body = json.loads(as_json.text)
    assert {"message", "code"} <= set(body)
    assert body["message"].startswith("File already exists")
    assert body["code"].startswith("409")
    assert as_json.reason.startswith("File already exists")

    as_text = upload(url, filename, other, "fmt-demo", "1.0", accept="*/*")
    assert as_text.status == 409
    assert as_text.header("Content-Type").startswith("text/plain")  # type: ignore[union-attr]
    assert as_text.text.startswith("File already exists")

    # the refusals before the upload is read follow the same rule
    denied = upload(url, filename, other, "fmt-demo", "1.0", accept=UV_ACCEPT, authorization=None)
    assert denied.status == 401
    assert json.loads(denied.text)["message"].startswith("Unauthorized")
    assert denied.header("WWW-Authenticate") == 'Basic realm="pypi"'
    bad = send(url, [(":action", "file_upload")], None, accept=UV_ACCEPT)
    assert bad.status == 400
    assert "does not have a file" in json.loads(bad.text)["message"]
    assert (fresh.packages / filename).read_bytes() == data


# --- 14. start-up cleanup ------------------------------------------------------------------


def test_leftover_staging_file_is_removed_at_start(tmp_path: Path, htpasswd: Path, serve) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    # Left by a killed upload a moment ago: nobody holds its lock any more.
    leftover = packages / ".packyard-upload-deadbeef.tmp"
    leftover.write_bytes(b"half an upload")
    # Another worker's upload, still being written: its writer holds the lock.
    busy = packages / ".packyard-upload-0000feed.tmp"
    busy.write_bytes(b"another worker's upload, still being written")
    keep_name, keep = wheel_bytes("kept-demo", "1.0")
    (packages / keep_name).write_bytes(keep)

    with open(busy, "rb") as writer:
        fcntl.flock(writer.fileno(), fcntl.LOCK_EX)
        server = serve("-P", htpasswd, "-a", "update", "--disable-fallback", packages)
        assert not leftover.exists()
        assert busy.exists()
    busy.unlink()
    assert listing(packages) == [keep_name]
    assert re.search(r"removed 1 unfinished upload", server.log_text()), server.log_text()
    assert str(packages) in server.log_text()
    for page in ("packages/", "simple/", "simple/kept-demo/"):
        resp = http(server.url + page)
        assert resp.status == 200
        assert ".packyard-upload" not in resp.text
        assert "deadbeef" not in resp.text
    assert http(server.url + "packages/.packyard-upload-deadbeef.tmp").status == 404

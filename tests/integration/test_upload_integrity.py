"""What is stored is what is listed (issue 12, items 14, 15, 16 and 18).

Real servers, raw multipart posts, and real file systems: a small tmpfs that fills up,
the same tmpfs remounted read-only (chmod does not stop root), and a ledger that cannot
grow because the disk is full after the file was linked. Each failure must be a 507 or
503 with one line, leave nothing behind, keep the listing equal to the disk, and let a
retry succeed once the disk is back.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import helpers.upload
import pytest
from helpers import Server, clean_environ, http
from helpers.dists import sdist_bytes, wheel_bytes
from helpers.upload import basic_auth, listing, replace_field, simple_links

# The uploader and the form of test_upload_api.py: a summary and both digests, with the password.
USER, PASSWORD = "uploader", "s3cret-pw"
TWINE = {"summary": "A test distribution", "blake2": True}
upload_fields = partial(helpers.upload.upload_fields, **TWINE)
send = partial(helpers.upload.send, authorization=basic_auth(USER, PASSWORD))
upload = partial(helpers.upload.upload, authorization=basic_auth(USER, PASSWORD), **TWINE)


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


# A real full or read-only file system needs mount(8), so root (CI and scripts/test
# run as root). As root a failing mount fails the test; it is never skipped there.
needs_mount = pytest.mark.skipif(
    os.geteuid() != 0, reason="mounting a small tmpfs needs root (CI runs these as root)"
)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs, unmounted at teardown (after the servers using it stopped)."""
    where = tmp_path / "small"
    where.mkdir()
    _mount("-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where))
    yield where
    if (where / ".packyard").is_mount():
        subprocess.run(["umount", "-l", str(where / ".packyard")], check=False)
    subprocess.run(["umount", "-l", str(where)], check=False)


def _server(serve, htpasswd: Path, *dirs: Path, extra: tuple[str, ...] = ()) -> Server:
    server: Server = serve(
        "-v", "-P", htpasswd, "-a", "update", "--disable-fallback", *extra, *dirs
    )
    return server


def _one_line_failure(reply, status: int, server: Server) -> None:
    assert reply.status == status, reply
    assert reply.text.strip(), reply
    assert "\n" not in reply.text.strip(), reply.text
    assert "Traceback" not in reply.text
    assert "Traceback" not in server.log_text()


def _big_wheel(name: str, size: int) -> tuple[str, bytes]:
    """A valid wheel of about ``size`` bytes (incompressible module body)."""
    body = f"BLOB = {os.urandom(size // 2).hex()!r}\n"
    return wheel_bytes(name, "1.0", module_body=body)


def _free(path: Path) -> int:
    st = os.statvfs(path)
    return st.f_bavail * st.f_frsize


# --- 14. a full disk and a read-only directory ----------------------------------------------


@needs_mount
def test_full_disk_while_staging_is_507_and_leaves_nothing(tmpfs: Path, htpasswd: Path, serve):
    server = _server(serve, htpasswd, tmpfs)
    filename, data = _big_wheel("fill-demo", 3 << 20)  # larger than the whole tmpfs
    reply = upload(server.url, filename, data, "fill-demo", "1.0")
    _one_line_failure(reply, 507, server)
    assert "space" in reply.text.lower()
    assert listing(tmpfs) == []
    assert simple_links(server, "fill-demo") == {}
    # the disk grows: the same upload goes through, stored and listed
    _mount("-o", "remount,size=16m", str(tmpfs))
    again = upload(server.url, filename, data, "fill-demo", "1.0")
    assert again.status == 200, again
    assert listing(tmpfs) == [filename]
    assert simple_links(server, "fill-demo") == {filename: hashlib.sha256(data).hexdigest()}


@needs_mount
def test_full_disk_at_the_ledger_after_the_link_undoes_the_link(
    tmpfs: Path, htpasswd: Path, serve
) -> None:
    """The file fits, the ledger's next write does not: the link is taken back, so the
    file is neither stored nor listed, and a retry is not told 'already here'."""
    server = _server(serve, htpasswd, tmpfs)
    first_name, first = wheel_bytes("ledger-demo", "1.0")
    assert upload(server.url, first_name, first, "ledger-demo", "1.0").status == 200
    filename, data = wheel_bytes("ledger-demo", "2.0")
    # leave exactly the pages the staged file needs, so the ledger cannot grow
    page = os.statvfs(tmpfs).f_frsize
    needed = -(-len(data) // page) * page
    filler = tmpfs / ".filler"
    filler.write_bytes(b"\0" * (_free(tmpfs) - needed))
    assert _free(tmpfs) == needed
    reply = upload(server.url, filename, data, "ledger-demo", "2.0")
    _one_line_failure(reply, 507, server)
    assert "ledger" in reply.text
    assert listing(tmpfs) == [".filler", first_name]
    assert set(simple_links(server, "ledger-demo")) == {first_name}
    assert http(server.url + f"packages/{filename}").status == 404
    filler.unlink()
    again = upload(server.url, filename, data, "ledger-demo", "2.0")
    assert again.status == 200, again
    assert "stored" in again.text
    assert set(simple_links(server, "ledger-demo")) == {first_name, filename}
    assert listing(tmpfs) == sorted([first_name, filename])


@needs_mount
def test_read_only_directory_is_503_and_a_retry_succeeds(
    tmp_path: Path, tmpfs: Path, htpasswd: Path, serve
) -> None:
    # The ledger is kept writable on a mount of its own (a file open for writing would
    # stop the remount): only the packages directory turns read-only.
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    (tmpfs / ".packyard").mkdir()
    _mount("--bind", str(ledger), str(tmpfs / ".packyard"))
    server = _server(serve, htpasswd, tmpfs)
    filename, data = wheel_bytes("ro-demo", "1.0")
    _mount("-o", "remount,ro", str(tmpfs))
    try:
        reply = upload(server.url, filename, data, "ro-demo", "1.0")
        _one_line_failure(reply, 503, server)
        assert "read-only" in reply.text.lower()
        assert listing(tmpfs) == []
        assert simple_links(server, "ro-demo") == {}
    finally:
        _mount("-o", "remount,rw", str(tmpfs))
    again = upload(server.url, filename, data, "ro-demo", "1.0")
    assert again.status == 200, again
    assert listing(tmpfs) == [filename]
    assert set(simple_links(server, "ro-demo")) == {filename}


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "packyard", "run", "-p", "0", "-i", "127.0.0.1"]
    return subprocess.run(
        cmd + [str(a) for a in args],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_environ(),
    )


@needs_mount
def test_start_is_refused_when_uploads_could_never_be_stored(
    tmpfs: Path, htpasswd: Path, serve
) -> None:
    _mount("-o", "remount,ro", str(tmpfs))
    refused = _run("-P", htpasswd, "-a", "update", tmpfs)
    assert refused.returncode == 2, refused
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "not writable" in lines[0]
    assert "read-only" in lines[0]
    assert str(tmpfs) in lines[0]
    open_server = _run("-P", ".", "-a", ".", tmpfs)
    assert open_server.returncode == 2, open_server
    # without a password file uploads are refused anyway: a read-only index starts
    read_only_index = serve("--disable-fallback", tmpfs)
    assert http(read_only_index.url + "simple/").status == 200


# --- 15. one name, one set of bytes ---------------------------------------------------------


def test_upload_is_filed_under_the_project_the_form_named(tmp_path: Path, htpasswd, serve):
    packages = tmp_path / "packages"
    packages.mkdir()
    server = _server(serve, htpasswd, packages)
    _, data = sdist_bytes("foo", "2.post3")
    # the index would list foo-2-3.tar.gz as version 3 of foo-2: refused, with the name
    # that is listed as the form says
    reply = upload(server.url, "foo-2-3.tar.gz", data, "foo", "2.post3")
    assert reply.status == 400, reply
    assert "foo-2 3" in reply.text
    assert "foo-2.post3.tar.gz" in reply.text
    assert listing(packages) == []
    assert http(server.url + "simple/foo-2/").status == 404
    good = upload(server.url, "foo-2.post3.tar.gz", data, "foo", "2.post3")
    assert good.status == 200, good
    assert set(simple_links(server, "foo")) == {"foo-2.post3.tar.gz"}
    assert http(server.url + "simple/foo-2/").status == 404


SPELLINGS = {
    "sdist-case": (sdist_bytes("victim_lib", "1.0"), sdist_bytes("Victim_Lib", "1.0")),
    "wheel-case": (wheel_bytes("victim_lib", "1.0"), wheel_bytes("Victim_Lib", "1.0")),
    "wheel-version": (wheel_bytes("victim_lib", "1.0"), wheel_bytes("victim_lib", "1.0.0")),
}


@pytest.mark.parametrize("case", list(SPELLINGS))
def test_second_spelling_of_a_file_is_409_naming_the_first(
    tmp_path: Path, htpasswd: Path, serve, case: str
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = _server(serve, htpasswd, packages)
    (first_name, first), (second_name, second) = SPELLINGS[case]
    assert first_name != second_name
    assert upload(server.url, first_name, first, "victim-lib", "1.0").status == 200
    reply = upload(server.url, second_name, second, "victim-lib", "1.0")
    assert reply.status == 409, reply
    assert first_name in reply.text
    assert listing(packages) == [first_name]
    assert set(simple_links(server, "victim-lib")) == {first_name}
    # another file of the release (another format) is fine
    other_name, other = (
        sdist_bytes("victim_lib", "1.0")
        if first_name.endswith(".whl")
        else wheel_bytes("victim_lib", "1.0")
    )
    assert upload(server.url, other_name, other, "victim-lib", "1.0").status == 200


def test_second_spelling_is_taken_with_overwrite(tmp_path: Path, htpasswd: Path, serve):
    packages = tmp_path / "packages"
    packages.mkdir()
    server = _server(serve, htpasswd, packages, extra=("--overwrite",))
    (first_name, first), (second_name, second) = SPELLINGS["sdist-case"]
    assert upload(server.url, first_name, first, "victim-lib", "1.0").status == 200
    assert upload(server.url, second_name, second, "victim-lib", "1.0").status == 200


def _remove(url: str, name: str, version: str):
    return send(url, [(":action", "remove_pkg"), ("name", name), ("version", version)], None)


def test_remove_pkg_removes_shadowed_copies_in_later_roots(tmp_path: Path, htpasswd, serve):
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    filename, shadowed = sdist_bytes("shadow", "1.0", ("in-second-root",))
    (second / filename).write_bytes(shadowed)
    server = _server(serve, htpasswd, first, second)
    _, data = sdist_bytes("shadow", "1.0")
    # --overwrite is off: the name is taken (in the second root)
    assert upload(server.url, filename, data, "shadow", "1.0").status == 409
    (first / filename).write_bytes(data)
    server.stop()
    server = _server(serve, htpasswd, first, second)
    assert http(server.url + f"packages/{filename}").body == data
    reply = _remove(server.url, "shadow", "1.0")
    assert reply.status == 200, reply
    assert http(server.url + f"packages/{filename}").status == 404
    assert simple_links(server, "shadow") == {}
    assert listing(first) == []
    assert listing(second) == []


def test_remove_pkg_refuses_when_a_shadowed_copy_cannot_go(
    tmp_path: Path, tmpfs: Path, htpasswd: Path, serve
) -> None:
    first = tmp_path / "first"
    first.mkdir()
    filename, data = sdist_bytes("shadow", "1.0")
    (first / filename).write_bytes(data)
    (tmpfs / filename).write_bytes(sdist_bytes("shadow", "1.0", ("in-second-root",))[1])
    _mount("-o", "remount,ro", str(tmpfs))
    try:
        server = _server(serve, htpasswd, first, tmpfs)
        reply = _remove(server.url, "shadow", "1.0")
        _one_line_failure(reply, 503, server)
        assert "nothing was removed" in reply.text
        assert listing(first) == [filename]
        assert listing(tmpfs) == [filename]
        assert http(server.url + f"packages/{filename}").body == data
    finally:
        _mount("-o", "remount,rw", str(tmpfs))


@pytest.mark.parametrize("overwrite", [False, True])
def test_removed_filename_comes_back_only_with_the_same_bytes(
    tmp_path: Path, htpasswd: Path, serve, overwrite: bool
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = _server(serve, htpasswd, packages, extra=("--overwrite",) if overwrite else ())
    filename, data = wheel_bytes("tomb", "1.0")
    other = wheel_bytes("tomb", "1.0", module_body="OTHER = 1\n")[1]
    assert upload(server.url, filename, data, "tomb", "1.0").status == 200
    assert _remove(server.url, "tomb", "1.0").status == 200
    reply = upload(server.url, filename, other, "tomb", "1.0")
    if overwrite:
        assert reply.status == 200, reply
        return
    assert reply.status == 409, reply
    assert "already existed with different contents" in reply.text
    assert listing(packages) == []
    # the tombstone survives a restart
    server.stop()
    server = _server(serve, htpasswd, packages)
    assert upload(server.url, filename, other, "tomb", "1.0").status == 409
    same = upload(server.url, filename, data, "tomb", "1.0")
    assert same.status == 200, same
    assert simple_links(server, "tomb") == {filename: hashlib.sha256(data).hexdigest()}


# --- 16. the bytes are the archive the name says ---------------------------------------------


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, body in members.items():
            zf.writestr(name, body)
    return buf.getvalue()


def _tar_gz(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, body in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tf.addfile(info, io.BytesIO(body))
    return buf.getvalue()


META = "Metadata-Version: 2.1\nName: {}\nVersion: {}\n\n"
BAD_CONTENTS = {
    "random-wheel": ("x-1.0-py3-none-any.whl", os.urandom(4096), "not a valid wheel"),
    "wheel-without-metadata": (
        "x-1.0-py3-none-any.whl",
        _zip({"x/__init__.py": b""}),
        "not a valid wheel",
    ),
    "wheel-other-name": (
        "x-1.0-py3-none-any.whl",
        wheel_bytes("x", "1.0", metadata=META.format("y", "1.0").encode())[1],
        "names the project 'y'",
    ),
    "wheel-other-version": (
        "x-1.0-py3-none-any.whl",
        wheel_bytes("x", "1.0", metadata=META.format("x", "2.0").encode())[1],
        "names the version '2.0'",
    ),
    "random-sdist": ("x-1.0.tar.gz", os.urandom(4096), "not a readable sdist"),
    "random-zip-sdist": ("x-1.0.zip", os.urandom(4096), "not a readable sdist"),
    "sdist-other-version": ("x-1.0.tar.gz", sdist_bytes("x", "1.1")[1], "names the version"),
    "random-egg": ("x-1.0-py3.11.egg", os.urandom(4096), "not a readable egg"),
}


@pytest.mark.parametrize("case", list(BAD_CONTENTS))
def test_upload_must_be_the_archive_its_name_says(tmp_path: Path, htpasswd, serve, case: str):
    packages = tmp_path / "packages"
    packages.mkdir()
    server = _server(serve, htpasswd, packages)
    filename, data, expected = BAD_CONTENTS[case]
    reply = upload(server.url, filename, data, "x", "1.0")
    assert reply.status == 400, reply
    assert expected in reply.text, reply.text
    assert listing(packages) == []


LEGACY = {
    # sdists and eggs without PKG-INFO: taken, as pypiserver took them
    "tar-gz-without-pkg-info": ("old-1.0.tar.gz", _tar_gz({"old-1.0/setup.py": b"pass\n"})),
    "zip-without-pkg-info": ("old-1.0.zip", _zip({"old-1.0/setup.py": b"pass\n"})),
    "egg-without-pkg-info": ("old-1.0-py3.11.egg", _zip({"old/__init__.py": b""})),
    # versions compare as versions: 1.0 is 1.0.0
    "wheel-version-spelled-longer": (
        "old-1.0-py3-none-any.whl",
        wheel_bytes("old", "1.0", metadata=META.format("Old", "1.0.0").encode())[1],
    ),
}


@pytest.mark.parametrize("case", list(LEGACY))
def test_legacy_archives_without_metadata_are_still_taken(
    tmp_path: Path, htpasswd: Path, serve, case: str
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    server = _server(serve, htpasswd, packages)
    filename, data = LEGACY[case]
    reply = upload(server.url, filename, data, "old", "1.0")
    assert reply.status == 200, reply
    assert set(simple_links(server, "old")) == {filename}


# --- 18. distutils' blake2b-512 under blake2_256_digest --------------------------------------


def _blake2_form(filename: str, data: bytes, value: str) -> list[tuple[str, str]]:
    return replace_field(upload_fields(filename, data, "blake", "1.0"), "blake2_256_digest", value)


def test_blake2b_512_under_the_256_field_is_checked(tmp_path: Path, htpasswd: Path, serve):
    packages = tmp_path / "packages"
    packages.mkdir()
    server = _server(serve, htpasswd, packages)
    filename, data = sdist_bytes("blake", "1.0")
    wrong_512 = hashlib.blake2b(data + b"x").hexdigest()
    wrong_256 = hashlib.blake2b(data + b"x", digest_size=32).hexdigest()
    for wrong in (wrong_512, wrong_256):
        reply = send(server.url, _blake2_form(filename, data, wrong), (filename, data))
        assert reply.status == 400, reply
        assert "blake2_256_digest" in reply.text
    assert listing(packages) == []
    right = hashlib.blake2b(data).hexdigest()
    assert len(right) == 128
    reply = send(server.url, _blake2_form(filename, data, right), (filename, data))
    assert reply.status == 200, reply
    assert listing(packages) == [filename]


def test_setup_py_sdist_upload_with_distutils(tmp_path: Path, htpasswd: Path, serve) -> None:
    """The real client: CPython 3.11's distutils (``setup.py sdist upload``)."""
    packages = tmp_path / "packages"
    packages.mkdir()
    server = _server(serve, htpasswd, packages)
    project = tmp_path / "project"
    project.mkdir()
    (project / "setup.py").write_text(
        "from distutils.core import setup\n"
        "setup(name='dist-demo', version='1.0', py_modules=['dist_demo'])\n"
    )
    (project / "dist_demo.py").write_text("X = 1\n")
    home = tmp_path / "home"
    home.mkdir()
    (home / ".pypirc").write_text(
        textwrap.dedent(f"""\
            [distutils]
            index-servers = local
            [local]
            repository = {server.url}
            username = {USER}
            password = {PASSWORD}
            """)
    )
    env = clean_environ({"HOME": str(home), "SETUPTOOLS_USE_DISTUTILS": "stdlib"})
    done = subprocess.run(
        [sys.executable, "-W", "ignore", "setup.py", "sdist", "upload", "-r", "local"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Server response (200)" in done.stdout + done.stderr
    assert listing(packages) == ["dist-demo-1.0.tar.gz"]
    assert set(simple_links(server, "dist-demo")) == {"dist-demo-1.0.tar.gz"}

"""The legacy upload API (what twine, uv publish, poetry and pdm send to POST /).

The ``content`` part is streamed into a hidden temporary file beside its target while
sha256, blake2b and md5 are computed; the form and the file are checked (the rules are
in ``packyard.filing``); then the file is committed atomically: ``os.link`` for a new
name (exactly one of two racing uploads can win, also across processes),
``os.replace`` for ``--overwrite``; then its facts go to the ledger, and the snapshot
is updated before the answer, so the next request sees the file.

A refused upload leaves nothing behind, also when the disk is full or read-only at any
step (507/503): if the ledger cannot be written after the link, the link is undone (a
replaced file is put back), so a file is either stored and listed, or neither.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from packaging.version import Version

from packyard import filing, multipart, yanking
from packyard.filing import UploadError as UploadError
from packyard.filing import storage_error
from packyard.index import metadata
from packyard.index.filenames import NotADistribution, ParsedFilename, parse_filename
from packyard.index.model import Distribution
from packyard.index.names import normalize
from packyard.logsafe import shown
from packyard.storage.cache import IndexCache
from packyard.storage.directory import probe
from packyard.storage.ledger import Recorded

log = logging.getLogger(__name__)

_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9._+!-]+$")
STAGING_PREFIX = ".packyard-upload-"


@dataclass(frozen=True)
class Outcome:
    status: int
    message: str


def open_staging(directory: str) -> tuple[str, IO[bytes]]:
    """A new hidden temporary file in ``directory`` for a file on its way in (an
    upload, or a download by ``pypi-server update``), open for writing.

    The file is locked (flock) while it is open: the lock dies with the process, so
    ``cleanup_staging`` can tell a file left by a crash from one still being written.
    Created with mode 0644 (less what the umask removes), never world-writable.
    """
    path = os.path.join(directory, STAGING_PREFIX + secrets.token_hex(8) + ".tmp")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with contextlib.suppress(OSError):  # a file system without locks: see cleanup
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return path, open(fd, "wb")
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise


class _Staged:
    """A hidden temporary file in the upload directory, hashed as it is written. It
    stays open (and so locked) until ``discard``, after the commit."""

    def __init__(self, directory: str, max_size: int) -> None:
        try:
            self.path, fh = open_staging(directory)
        except OSError as exc:
            raise storage_error(exc, "cannot write to the packages directory") from None
        self._fh: IO[bytes] | None = fh
        self._max = max_size
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.blake2b = hashlib.blake2b(digest_size=32)
        # What distutils (Python <= 3.11) sends as blake2_256_digest: blake2b-512.
        self.blake2b_512 = hashlib.blake2b()
        self.md5 = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self._max:
            raise multipart.FormError(
                f"the file is larger than the upload limit of {self._max} bytes", 413
            )
        assert self._fh is not None
        try:
            self._fh.write(data)
        except OSError as exc:
            raise storage_error(exc, "cannot write the upload to disk") from None
        self.sha256.update(data)
        self.blake2b.update(data)
        self.blake2b_512.update(data)
        self.md5.update(data)

    def finish(self) -> None:
        """Everything written is on disk (before the file gets its final name)."""
        if self._fh is not None:
            try:
                self._fh.flush()
                os.fsync(self._fh.fileno())
            except OSError as exc:
                raise storage_error(exc, "cannot write the upload to disk") from None

    def discard(self) -> None:
        """Remove the temporary name (the committed file keeps its own), then close
        (a write that failed for lack of space leaves data in the buffer: dropped)."""
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        if self._fh is not None:
            with contextlib.suppress(OSError):
                self._fh.close()
            self._fh = None


def check_filename(filename: str) -> None:
    if not filename:
        raise UploadError(400, "Invalid filename: the file part has no filename")
    if "/" in filename or "\\" in filename:
        raise UploadError(400, f"Invalid filename {filename!r}: it must not contain a path")
    if any(ord(c) < 32 or ord(c) == 127 for c in filename):
        raise UploadError(400, f"Invalid filename {filename!r}: control characters")
    if len(filename.encode("utf-8")) > 255:
        raise UploadError(400, "Invalid filename: longer than 255 bytes")
    if not _SAFE_FILENAME.match(filename) or filename.startswith("."):
        raise UploadError(
            400,
            f"Invalid filename {filename!r}: only letters, digits and . _ + ! - are allowed",
        )


def _digest_matches(given: str, computed: Any, *, md5: bool = False) -> bool:
    given = given.strip()
    if md5 and not re.fullmatch(r"[0-9a-fA-F]{32}", given):
        # PyPI's documented form: urlsafe base64 without padding (hex is accepted too).
        encoded = base64.urlsafe_b64encode(computed.digest()).rstrip(b"=").decode()
        return hmac.compare_digest(given.rstrip("="), encoded)
    return hmac.compare_digest(given.lower(), str(computed.hexdigest()))


def _field_matches(field_name: str, given: str, staged: _Staged) -> bool:
    if field_name == "md5_digest":
        return _digest_matches(given, staged.md5, md5=True)
    if field_name == "sha256_digest":
        return _digest_matches(given, staged.sha256)
    # blake2b-256, as twine sends; or blake2b-512 (128 hex digits), as the distutils of
    # Python 3.9-3.11 and setuptools' copy of it send under the same field name.
    if len(given.strip()) == 128:
        return _digest_matches(given, staged.blake2b_512)
    return _digest_matches(given, staged.blake2b)


def validate(form: multipart.Form, staged: _Staged, filename: str) -> ParsedFilename:
    """Everything checked before a byte is committed; raises UploadError(400)."""
    check_filename(filename)
    if staged.size == 0:
        raise UploadError(400, "Upload payload does not have a file: the content is empty")
    name = form.first("name")
    try:
        parsed = parse_filename(filename, {normalize(name)} if name else ())
    except NotADistribution:
        raise UploadError(
            400, f"Invalid filename {filename!r}: not a wheel or sdist filename"
        ) from None
    if name is not None and normalize(name) != parsed.project:
        raise UploadError(400, f"The name field {name!r} does not match the filename {filename!r}")
    version = form.first("version")
    if version is not None:
        try:
            same = Version(version) == parsed.parsed_version
        except ValueError:  # InvalidVersion, or more digits than int() takes
            same = version == parsed.version
        if not same:
            raise UploadError(
                400, f"The version field {version!r} does not match the filename {filename!r}"
            )
    for field_name in ("sha256_digest", "blake2_256_digest", "md5_digest"):
        given = form.first(field_name)
        if given and not _field_matches(field_name, given, staged):
            raise UploadError(
                400,
                f"The {field_name} supplied does not match a digest calculated from the "
                "uploaded file",
            )
    return parsed


class Uploader:
    def __init__(
        self,
        cache: IndexCache,
        *,
        overwrite: bool,
        max_size: int,
        limits: multipart.Limits | None = None,
    ) -> None:
        self._cache = cache
        self._overwrite = overwrite
        self._max_size = max_size
        self._limits = limits or multipart.Limits()
        # Uploads of one filename are committed one at a time. A fixed set of locks,
        # chosen by the filename's hash: bounded however many files come and go.
        self._locks = tuple(threading.Lock() for _ in range(64))
        self.directory = cache.roots[0].path

    # --- reading the form ---------------------------------------------------------

    def length_error(self, length_text: str) -> UploadError | None:
        """The refusal of an upload whose Content-Length is unusable or more than the
        largest file plus room for the form's fields (decided before the body is read)."""
        if not length_text:
            return None
        if not (length_text.isascii() and length_text.isdigit()):
            return UploadError(400, "Bad Content-Length")
        if int(length_text) > self._max_size + (64 << 20):
            return UploadError(413, f"Upload too large: the limit is {self._max_size} bytes")
        return None

    def read_form(self, environ: dict[str, Any]) -> tuple[multipart.Form, _Staged | None]:
        length_text = str(environ.get("CONTENT_LENGTH") or "")
        error = self.length_error(length_text)
        if error is not None:
            raise error
        length = int(length_text) if length_text else None
        staged: list[_Staged] = []

        def open_file(field: str, filename: str) -> multipart.Sink | None:
            if field != "content":
                return None  # signatures, attestations: not kept
            if staged:
                raise multipart.FormError("more than one 'content' file in one upload")
            staged.append(_Staged(self.directory, self._max_size))
            return staged[0]

        try:
            form = multipart.parse(
                environ["wsgi.input"],
                str(environ.get("CONTENT_TYPE", "")),
                length,
                open_file,
                self._limits,
            )
        except multipart.FormError as exc:
            for item in staged:
                item.discard()
            raise UploadError(exc.status, f"Bad upload form: {exc}") from None
        except BaseException:
            for item in staged:
                item.discard()
            raise
        return form, (staged[0] if staged else None)

    # --- actions -------------------------------------------------------------------

    def dispatch(self, form: multipart.Form, staged: _Staged | None, user: str) -> Outcome:
        """Carry out the form's ``:action``; raises UploadError for a refusal."""
        action = form.first(":action")
        if action == "file_upload":
            return self.file_upload(form, staged, user)
        if staged is not None:
            staged.discard()
        if action is None:
            raise UploadError(400, "Missing ':action' field")
        if action == "remove_pkg":
            return self.remove(form, user)
        if action in ("yank", "unyank"):
            return self.yank(form, user, undo=action == "unyank")
        if action in ("submit", "verify"):
            return Outcome(200, f"OK: '{action}' needs nothing on this index")
        if action == "doc_upload":
            raise UploadError(
                410,
                "Gone: documentation uploads are not stored; host documentation elsewhere "
                "(Read the Docs, a static site)",
            )
        raise UploadError(400, f"Unsupported ':action' field: {action!r}")

    def file_upload(self, form: multipart.Form, staged: _Staged | None, user: str) -> Outcome:
        if staged is None:
            raise UploadError(400, "Upload payload does not have a file (no 'content' part)")
        try:
            protocol = form.first("protocol_version")
            if protocol is not None and protocol.strip() != "1":
                raise UploadError(400, f"Unknown protocol version {protocol!r} (only 1)")
            filename = next(f.filename for f in form.files if f.name == "content")
            parsed = validate(form, staged, filename)
            filing.check_listed_as(filename, parsed, self._cache.snapshot.projects)
            staged.finish()
            extracted = filing.check_contents(staged.path, filename, parsed)
            if extracted is None:
                log.warning("%s was uploaded without core metadata (PKG-INFO)", shown(filename))
            return self._commit(staged, filename, parsed, user, extracted)
        finally:
            staged.discard()

    def _lock(self, filename: str) -> threading.Lock:
        return self._locks[hash(filename) % len(self._locks)]

    def _commit(
        self,
        staged: _Staged,
        filename: str,
        parsed: ParsedFilename,
        user: str,
        extracted: metadata.Extracted | None,
    ) -> Outcome:
        target = os.path.join(self.directory, filename)
        with self._lock(filename):
            existing = self._same_name(filename, parsed.project)
            if existing is None:
                if not self._overwrite:
                    self._refuse_twins(filename, parsed, staged)
                try:
                    os.link(staged.path, target)
                except FileExistsError:
                    existing = target  # another process won the race: compare below
                except OSError as exc:
                    raise storage_error(exc, f"could not store {filename}") from None
                else:
                    self._publish(filename, staged, extracted, lambda: os.unlink(target))
                    log.info("%s uploaded %s", shown(user or "anonymous"), shown(filename))
                    return Outcome(200, f"OK: {filename} stored")
            if self._identical(existing, staged):
                return Outcome(200, f"OK: {filename} is already here with identical content")
            if not self._overwrite or existing != target:
                raise UploadError(409, f"File already exists: {filename}")
            self._replace(staged, filename, extracted)
            log.info("%s replaced %s", shown(user or "anonymous"), shown(filename))
            return Outcome(200, f"OK: {filename} replaced")

    def _refuse_twins(self, filename: str, parsed: ParsedFilename, staged: _Staged) -> None:
        """409 for a second file of a release under another spelling, and for other
        bytes under the name of a removed file (its URL was served as immutable)."""
        twin = filing.spelling_twin(
            filename, parsed, self._cache.snapshot.projects.get(parsed.project, ())
        )
        if twin is not None:
            raise UploadError(
                409,
                f"File already exists: {twin.filename} (the same file as {filename}, "
                "spelled differently)",
            )
        try:
            removed = self._cache.ledger.parts[0].removed_sha256(filename)
        except sqlite3.Error as exc:
            raise storage_error(exc, "cannot read the ledger") from None
        if removed is not None and not hmac.compare_digest(removed, staged.sha256.hexdigest()):
            raise UploadError(
                409,
                f"File already existed with different contents: {filename} was removed, "
                "and only the same bytes may come back under its name",
            )

    def _replace(
        self, staged: _Staged, filename: str, extracted: metadata.Extracted | None
    ) -> None:
        """--overwrite: the new file takes the name; the old one is kept under a hidden
        name (locked against cleanup) until the ledger has the new facts, and put back
        if it cannot."""
        target = os.path.join(self.directory, filename)
        keep = os.path.join(self.directory, STAGING_PREFIX + secrets.token_hex(8) + ".tmp")
        fd = -1
        try:
            try:
                os.link(target, keep)
                fd = os.open(keep, os.O_RDONLY | os.O_NOFOLLOW)
                with contextlib.suppress(OSError):
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.replace(staged.path, target)
            except OSError as exc:
                raise storage_error(exc, f"could not replace {filename}") from None
            self._publish(filename, staged, extracted, lambda: os.replace(keep, target))
        finally:
            with contextlib.suppress(OSError):
                os.unlink(keep)
            if fd >= 0:
                os.close(fd)

    def _same_name(self, filename: str, project: str) -> str | None:
        """Path of a served file with this filename (flat in the upload directory, or
        anywhere in the project), else None."""
        target = os.path.join(self.directory, filename)
        if os.path.lexists(target):
            return target
        for dist in self._cache.snapshot.projects.get(project, ()):
            if dist.filename == filename:
                return dist.path
        return None

    def _identical(self, path: str, staged: _Staged) -> bool:
        try:
            if os.path.getsize(path) != staged.size:
                return False
            with open(path, "rb") as fh:
                return hmac.compare_digest(
                    hashlib.file_digest(fh, "sha256").hexdigest(), staged.sha256.hexdigest()
                )
        except OSError:
            return False

    def _publish(
        self,
        filename: str,
        staged: _Staged,
        extracted: metadata.Extracted | None,
        undo: Callable[[], None],
    ) -> None:
        """Record the new file's facts (computed while it streamed in) in the ledger,
        then list it. If the ledger cannot be written, ``undo`` takes the file back
        and the answer is 507/503: never a file stored but not listed."""
        digests = {
            "sha256": staged.sha256.hexdigest(),
            "blake2b_256": staged.blake2b.hexdigest(),
            "md5": staged.md5.hexdigest(),
        }
        root = self._cache.roots[0]
        try:
            dist = probe(root, filename, self._cache.snapshot.projects)
            if dist is not None:
                self._cache.ledger.parts[0].record_upload(dist, Recorded(digests, extracted))
        except (OSError, sqlite3.Error) as exc:
            with contextlib.suppress(OSError):
                undo()
            self._cache.refresh(0, [filename])
            raise storage_error(exc, f"could not record {filename} in the ledger") from None
        self._cache.refresh(0, [filename])

    def remove(self, form: multipart.Form, user: str) -> Outcome:
        name, version = form.first("name"), form.first("version")
        if not name or not version:
            raise UploadError(400, "Missing 'name' or 'version' field for remove_pkg")
        project = normalize(name)
        try:
            wanted: Version | str = Version(version)
        except ValueError:  # InvalidVersion, or more digits than int() takes
            wanted = version

        def same_release(dist: Distribution) -> bool:
            if isinstance(wanted, Version):
                try:
                    return Version(dist.version) == wanted  # 1.0 == 1.0.0 (PEP 440)
                except ValueError:  # InvalidVersion, or more digits than int() takes
                    return False
            return dist.version == wanted

        victims: list[Distribution] = [
            d for d in self._cache.snapshot.projects.get(project, ()) if same_release(d)
        ]
        if not victims:
            raise UploadError(404, f"Not Found: {project} {version} is not on this index")
        self._remove_files(victims)
        # The release is gone: a later upload of the same version starts un-yanked.
        # (The files' own rows, with their yanks, went with the files.)
        if not any(same_release(d) for d in self._cache.snapshot.projects.get(project, ())):
            try:
                self._cache.ledger.yank_release(project, version, None, ())
            except sqlite3.Error as exc:
                log.warning(
                    "cannot clear the yank of %s %s: %s", shown(project), shown(version), exc
                )
        log.info("%s removed %s %s", shown(user or "anonymous"), shown(project), shown(version))
        return Outcome(200, f"OK: removed {len(victims)} file(s) of {project} {version}")

    def _remove_files(self, victims: list[Distribution]) -> None:
        """Remove the files, and every shadowed copy of them in later roots (which
        would otherwise be served under the same URL): all of them, or, when one
        cannot be removed, none (503). Each leaves a tombstone with its sha256."""
        copies = [copy for dist in victims for copy in self._cache.copies(dist.relpath)]
        for copy in copies:
            if not os.access(os.path.dirname(copy.path), os.W_OK | os.X_OK):
                raise UploadError(
                    503,
                    f"Service Unavailable: cannot remove {copy.relpath} from {copy.root} "
                    "(not writable); nothing was removed",
                )
        try:
            tombstones = {}
            for dist in victims:
                facts = self._cache.ledger.facts(dist)
                if facts is not None:
                    tombstones[dist.relpath] = facts.digests["sha256"]
            self._cache.ledger.parts[0].record_removed(tombstones)
        except sqlite3.Error as exc:
            raise storage_error(exc, "could not record the removal in the ledger") from None
        failed: OSError | None = None
        for copy in copies:
            try:
                os.unlink(copy.path)
            except FileNotFoundError:
                pass
            except OSError as exc:
                failed = failed or exc
        for index, root in enumerate(self._cache.roots):
            relpaths = [d.relpath for d in copies if d.root == root.path]
            self._cache.refresh(index, relpaths)
            with contextlib.suppress(sqlite3.Error):
                self._cache.ledger.parts[index].note_changes(relpaths)
        if failed is not None:
            raise storage_error(failed, "could not remove every file")

    def yank(self, form: multipart.Form, user: str, *, undo: bool) -> Outcome:
        try:
            target = yanking.target_from(
                form.first("name"), form.first("version"), form.first("filename")
            )
            if undo:
                message = yanking.unyank(self._cache, target)
            else:
                message = yanking.yank(self._cache, target, form.first("reason"))
        except yanking.YankError as exc:
            raise UploadError(exc.status, exc.message) from None
        except sqlite3.Error as exc:
            raise storage_error(exc, "could not record the yank in the ledger") from None
        done = "unyanked" if undo else "yanked"
        log.info("%s %s %s", shown(user or "anonymous"), done, shown(target.describe()))
        return Outcome(200, message)


STALE_AFTER = 60.0  # seconds without a write, where files cannot be locked


def cleanup_staging(directory: str, stale_after: float = STALE_AFTER) -> int:
    """Remove temporary files left by a crash (a killed upload or update); returns
    how many.

    A file still being written is locked by its writer (see ``open_staging``), also
    when that writer is another process serving the same directory: such files are
    left alone. Where the file system has no locks, only files not written to for
    ``stale_after`` seconds are removed.
    """
    removed = 0
    cutoff = time.time() - stale_after
    try:
        entries = list(os.scandir(directory))
    except OSError:
        return 0
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIX) or not entry.is_file(follow_symlinks=False):
            continue
        try:
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer is alive
            except OSError:
                if os.fstat(fd).st_mtime > cutoff:
                    continue
            os.unlink(entry.path)
            removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed

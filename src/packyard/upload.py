"""The legacy upload API (what twine, uv publish, poetry and pdm send to POST /).

The ``content`` part is streamed into a staged file of the Repository while sha256,
blake2b and md5 are computed; the form and the file are checked (the rules are in
``packyard.filing``); then the Repository publishes it: a new name only, so exactly one
of two racing uploads wins (also across processes), or in place of the old file for
``--overwrite``; its facts (computed while streaming) and the change note go to the
ledger in one transaction, and the snapshot lists it before the answer, so the next
request sees the file.

A refused upload leaves nothing behind, also when the disk is full or read-only at any
step (507/503, from the Repository's ``StorageError``): a file is either stored and
listed, or neither.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from packaging.version import Version

from packyard import filing, multipart, yanking
from packyard.filing import UploadError as UploadError
from packyard.filing import storage_error
from packyard.index import metadata
from packyard.index.filenames import NotADistribution, ParsedFilename, parse_filename
from packyard.index.model import Distribution
from packyard.index.names import normalize
from packyard.logsafe import shown
from packyard.storage.ledger import Recorded
from packyard.storage.repository import Repository, Staging, StorageError

log = logging.getLogger(__name__)

_SAFE_FILENAME = re.compile(r"^[A-Za-z0-9._+!-]+$")


@dataclass(frozen=True)
class Outcome:
    status: int
    message: str


class _Staged:
    """The upload's staged file (the storage's stream), hashed as it is written. It
    stays until ``discard``, after the commit."""

    def __init__(self, staging: Staging, max_size: int) -> None:
        self.file = staging
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
        try:
            self.file.write(data)
        except StorageError as exc:
            raise storage_error(exc) from None
        self.sha256.update(data)
        self.blake2b.update(data)
        self.blake2b_512.update(data)
        self.md5.update(data)

    def finish(self) -> None:
        """Everything written is stored (before the file gets its final name)."""
        try:
            self.file.finish()
        except StorageError as exc:
            raise storage_error(exc) from None

    def recorded(self, extracted: metadata.Extracted | None) -> Recorded:
        """The facts computed while the file streamed in."""
        digests = {
            "sha256": self.sha256.hexdigest(),
            "blake2b_256": self.blake2b.hexdigest(),
            "md5": self.md5.hexdigest(),
        }
        return Recorded(digests, extracted)

    def discard(self) -> None:
        self.file.discard()


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
        repository: Repository,
        *,
        overwrite: bool,
        max_size: int,
        limits: multipart.Limits | None = None,
    ) -> None:
        self._repo = repository
        self._overwrite = overwrite
        self._max_size = max_size
        self._limits = limits or multipart.Limits()
        # Uploads of one filename are committed one at a time. A fixed set of locks,
        # chosen by the filename's hash: bounded however many files come and go.
        self._locks = tuple(threading.Lock() for _ in range(64))

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
            try:
                staging = self._repo.stage()
            except StorageError as exc:
                raise storage_error(exc) from None
            staged.append(_Staged(staging, self._max_size))
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
            filing.check_listed_as(filename, parsed, self._repo.snapshot.projects)
            staged.finish()
            with staged.file.reader() as fh:
                extracted = filing.check_contents(fh, filename, parsed)
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
        recorded = staged.recorded(extracted)
        with self._lock(filename):
            existing = self._repo.existing(filename, parsed.project)
            try:
                if existing is None:
                    if not self._overwrite:
                        self._refuse_twins(filename, parsed, staged)
                    if self._repo.publish(staged.file, filename, recorded):
                        log.info("%s uploaded %s", shown(user or "anonymous"), shown(filename))
                        return Outcome(200, f"OK: {filename} stored")
                    # another process won the race: compare below
                    existing = self._repo.existing(filename, parsed.project)
                sha256 = staged.sha256.hexdigest()
                if existing is not None and self._repo.same_bytes(existing, staged.size, sha256):
                    return Outcome(200, f"OK: {filename} is already here with identical content")
                if not self._overwrite or existing is None or not existing.in_place:
                    raise UploadError(409, f"File already exists: {filename}")
                self._repo.publish(staged.file, filename, recorded, replace=True)
            except StorageError as exc:
                raise storage_error(exc) from None
            log.info("%s replaced %s", shown(user or "anonymous"), shown(filename))
            return Outcome(200, f"OK: {filename} replaced")

    def _refuse_twins(self, filename: str, parsed: ParsedFilename, staged: _Staged) -> None:
        """409 for a second file of a release under another spelling, and for other
        bytes under the name of a removed file (its URL was served as immutable)."""
        twin = filing.spelling_twin(
            filename, parsed, self._repo.snapshot.projects.get(parsed.project, ())
        )
        if twin is not None:
            raise UploadError(
                409,
                f"File already exists: {twin.filename} (the same file as {filename}, "
                "spelled differently)",
            )
        removed = self._repo.removed_sha256(filename)
        if removed is not None and not hmac.compare_digest(removed, staged.sha256.hexdigest()):
            raise UploadError(
                409,
                f"File already existed with different contents: {filename} was removed, "
                "and only the same bytes may come back under its name",
            )

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
            d for d in self._repo.snapshot.projects.get(project, ()) if same_release(d)
        ]
        if not victims:
            raise UploadError(404, f"Not Found: {project} {version} is not on this index")
        try:
            self._repo.remove(victims)
        except StorageError as exc:
            raise storage_error(exc) from None
        # The release is gone: a later upload of the same version starts un-yanked.
        # (The files' own rows, with their yanks, went with the files.)
        if not any(same_release(d) for d in self._repo.snapshot.projects.get(project, ())):
            try:
                self._repo.yank_release(project, version, None, ())
            except StorageError as exc:
                log.warning(
                    "cannot clear the yank of %s %s: %s", shown(project), shown(version), exc
                )
        log.info("%s removed %s %s", shown(user or "anonymous"), shown(project), shown(version))
        return Outcome(200, f"OK: removed {len(victims)} file(s) of {project} {version}")

    def yank(self, form: multipart.Form, user: str, *, undo: bool) -> Outcome:
        try:
            target = yanking.target_from(
                form.first("name"), form.first("version"), form.first("filename")
            )
            if undo:
                message = yanking.unyank(self._repo, target)
            else:
                message = yanking.yank(self._repo, target, form.first("reason"))
        except yanking.YankError as exc:
            raise UploadError(exc.status, exc.message) from None
        except StorageError as exc:
            raise storage_error(exc) from None
        done = "unyanked" if undo else "yanked"
        log.info("%s %s %s", shown(user or "anonymous"), done, shown(target.describe()))
        return Outcome(200, message)

"""``pypi-server update``: find newer releases of the local projects on an upstream index.

The packages directories are scanned as the server scans them (hidden names skipped);
the newest local version of each project is compared with the newest release on the
upstream index's project page (PEP 691 JSON, or PEP 503 HTML when that is what comes
back); without ``-x`` the updates are only listed. With ``-x`` the chosen files of each
newer release are streamed into a hidden staging file beside their target, checked
against the index's digest, then linked into place (never over an existing file).
Every request goes through ``fetch``: http(s) only, a wall-clock deadline, and no
more bytes than the index's size or ``--max-upload-size``. Each run first removes the
staging files a killed run left where it may download.

The parsing and selection functions are pure; ``execute`` does the printing. The command
line (options, environment, usage errors) is ``packyard.commands.update``.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import hmac
import json
import os
import posixpath
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.client import HTTPException
from typing import IO

from packaging.utils import parse_wheel_filename
from packaging.version import Version

from packyard import __version__
from packyard.commands.common import FAILURE, fail
from packyard.config import UPDATE_OPTIONS
from packyard.fetch import Deadline, FetchError, TooLarge, opener, read_bounded
from packyard.index.filenames import Kind, NotADistribution, ParsedFilename, parse_filename
from packyard.index.model import Distribution
from packyard.index.names import normalize
from packyard.storage.directory import Root, first_root_wins, scan
from packyard.storage.staging import cleanup_staging, link_new, open_staging
from packyard.upload import UploadError, check_filename

ACCEPT = "application/vnd.pypi.simple.v1+json, text/html;q=0.1"
_DEFAULTS = {option.dest: option.default for option in UPDATE_OPTIONS}
DEFAULT_INDEX_URL: str = _DEFAULTS["index_url"]
DEFAULT_TIMEOUT: float = _DEFAULTS["timeout"]  # seconds, per connection attempt and per read
DEFAULT_DEADLINE: float = _DEFAULTS["download_deadline"]  # seconds, per page or file
DEFAULT_MAX_SIZE: int = _DEFAULTS["max_upload_size"]
MAX_PAGE = 64 << 20  # a project page larger than this is not a project page
WORKERS = 8  # project pages fetched at once
# The digests we can check, strongest and most common first.
HASH_PREFERENCE = (
    "sha256",
    "sha512",
    "sha384",
    "sha3_256",
    "sha3_512",
    "blake2b",
    "sha224",
    "sha1",
    "md5",
)
_PLATFORM_FAMILY = re.compile(r"^(manylinux|musllinux|macosx)(?:1|2010|2014|_\d+_\d+)_(.+)$")


class UpdateError(Exception):
    """One project's check or one file's download failed; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- what the upstream index offers (pure) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class RemoteFile:
    """One file listed on an upstream project page."""

    filename: str
    url: str  # absolute, without fragment
    hashes: tuple[tuple[str, str], ...] = ()  # (algorithm, lower-case hex)
    yanked: bool = False
    size: int | None = None
    requires_python: str | None = None

    def digest(self) -> tuple[str, str] | None:
        """The strongest digest we can check, as (hashlib name, hex), or None."""
        given = dict(self.hashes)
        for name in HASH_PREFERENCE:
            if name in given:
                return name, given[name]
        return None


def _split_fragment(url: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """(URL without fragment, the digest in a ``#<algo>=<hex>`` fragment if any)."""
    bare, fragment = urllib.parse.urldefrag(url)
    algo, sep, value = fragment.partition("=")
    if sep and algo and value:
        return bare, ((algo.lower(), value.lower()),)
    return bare, ()


def _filename_of(url: str) -> str:
    return urllib.parse.unquote(posixpath.basename(urllib.parse.urlsplit(url).path))


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.base: str | None = None
        self.anchors: list[dict[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "base" and self.base is None and values.get("href"):
            self.base = values["href"]
        elif tag == "a" and values.get("href"):
            self.anchors.append(values)


def parse_html_page(text: str, page_url: str) -> list[RemoteFile]:
    """The files of a PEP 503 project page: one per ``<a href>``.

    The filename is the last path component of the URL; a ``#<algo>=<hex>`` fragment is
    the digest; ``data-yanked`` (any value, even empty) marks a yanked file (PEP 592).
    Relative hrefs are resolved against ``<base href>`` or else the page's URL.
    """
    parser = _Anchors()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError) as exc:  # the parser is lenient; just in case
        raise UpdateError(f"the HTML page cannot be parsed: {exc}") from None
    base = urllib.parse.urljoin(page_url, parser.base) if parser.base else page_url
    files = []
    for anchor in parser.anchors:
        href = anchor["href"]
        assert href is not None
        url, hashes = _split_fragment(urllib.parse.urljoin(base, href.strip()))
        files.append(
            RemoteFile(
                filename=_filename_of(url),
                url=url,
                hashes=hashes,
                yanked="data-yanked" in anchor,
                requires_python=anchor.get("data-requires-python") or None,
            )
        )
    return files


def _garbled(what: str) -> UpdateError:
    return UpdateError(f"not a valid PEP 691 project page: {what}")


def parse_json_page(data: bytes, page_url: str) -> list[RemoteFile]:
    """The files of a PEP 691 JSON project page (API version 1.x)."""
    try:
        document = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        raise UpdateError("the answer is not valid JSON") from None
    if not isinstance(document, dict):
        raise _garbled("not a JSON object")
    meta = document.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("api-version"), str):
        major = meta["api-version"].partition(".")[0]
        if major != "1":
            raise UpdateError(f"unsupported API version {meta['api-version']!r} (need 1.x)")
    entries = document.get("files")
    if not isinstance(entries, list):
        raise _garbled("no 'files' list")
    files = []
    for entry in entries:
        if not isinstance(entry, dict):
            raise _garbled("a file entry is not an object")
        filename, url = entry.get("filename"), entry.get("url")
        if not isinstance(filename, str) or not isinstance(url, str):
            raise _garbled("a file entry without 'filename' or 'url'")
        hashes = entry.get("hashes", {})
        if not isinstance(hashes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in hashes.items()
        ):
            raise _garbled(f"'hashes' of {filename!r} is not an object of strings")
        yanked = entry.get("yanked", False)
        if not isinstance(yanked, bool | str):
            raise _garbled(f"'yanked' of {filename!r} is neither a boolean nor a string")
        size = entry.get("size")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            size = None
        requires_python = entry.get("requires-python")
        absolute, from_fragment = _split_fragment(urllib.parse.urljoin(page_url, url))
        digests = tuple((k.lower(), v.lower()) for k, v in hashes.items()) or from_fragment
        files.append(
            RemoteFile(
                filename=filename,
                url=absolute,
                hashes=digests,
                # PEP 691: a string (the reason) also means yanked.
                yanked=yanked is not False,
                size=size,
                requires_python=requires_python if isinstance(requires_python, str) else None,
            )
        )
    return files


@dataclass(frozen=True, slots=True)
class Candidate:
    file: RemoteFile
    parsed: ParsedFilename


def releases_of(
    project: str, files: Iterable[RemoteFile], allow_unstable: bool
) -> dict[Version, list[Candidate]]:
    """The installable releases on a page: version -> its files.

    Files that are yanked, not distributions, not safe as a local file name, not of
    ``project``, or without a valid PEP 440 version are left out; without
    ``allow_unstable``, so are pre- and development releases (post-releases are final
    releases).
    """
    releases: dict[Version, list[Candidate]] = {}
    for file in files:
        if file.yanked:
            continue
        try:
            check_filename(file.filename)  # it becomes a local file name
            parsed = parse_filename(file.filename, {project})
        except (UploadError, NotADistribution):
            continue
        version = parsed.parsed_version
        if parsed.project != project or version is None:
            continue
        if version.is_prerelease and not allow_unstable:
            continue
        releases.setdefault(version, []).append(Candidate(file, parsed))
    return releases


def platform_family(platform: str) -> str:
    """A platform tag without its OS version: ``manylinux_2_17_x86_64`` and
    ``manylinux2014_x86_64`` are both ``manylinux_x86_64``; ``macosx_11_0_arm64`` is
    ``macosx_arm64``. Other tags are returned as they are."""
    match = _PLATFORM_FAMILY.match(platform)
    return f"{match.group(1)}_{match.group(2)}" if match else platform


def wheel_keys(filename: str) -> frozenset[tuple[str, str, str]]:
    """The (python, abi, platform family) triples of a wheel's tags; empty if invalid."""
    try:
        tags = parse_wheel_filename(filename)[3]
    except ValueError:  # InvalidWheelFilename, or a version int() refuses
        return frozenset()
    return frozenset((t.interpreter, t.abi, platform_family(t.platform)) for t in tags)


def select_files(local: Sequence[str], candidates: Sequence[Candidate]) -> list[Candidate]:
    """Which files of the new release to download, given the local filenames of the
    newest local release.

    For each kind of file the local release has: an sdist takes the new sdists; a
    wheel takes the new wheels that share a (python, abi, platform family) tag with
    one of the local wheels; an egg takes the new eggs. A kind that matches nothing
    takes every new file of that kind. If that is still nothing (say the local sdist
    and only wheels upstream), every file of the new release is taken.
    """
    kinds: dict[Kind, list[str]] = {}
    for filename in local:
        try:
            kinds.setdefault(parse_filename(filename).kind, []).append(filename)
        except NotADistribution:
            continue
    chosen: list[Candidate] = []
    for kind, filenames in kinds.items():
        of_kind = [c for c in candidates if c.parsed.kind is kind]
        if kind is Kind.WHEEL:
            keys = frozenset().union(*(wheel_keys(f) for f in filenames))
            matched = [c for c in of_kind if wheel_keys(c.file.filename) & keys]
        else:
            matched = of_kind
        chosen += matched or of_kind
    if not chosen:
        chosen = list(candidates)
    return sorted(chosen, key=lambda c: c.file.filename)


def read_ignore_list(text: str) -> frozenset[str]:
    """Normalized project names, one per line; blank lines and ``#`` lines skipped."""
    names = (line.strip() for line in text.splitlines())
    return frozenset(normalize(n) for n in names if n and not n.startswith("#"))


# --- what we have locally (pure once scanned) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class LocalRelease:
    project: str
    version: Version | None  # None: no local file has a valid PEP 440 version
    shown_version: str
    files: tuple[Distribution, ...]  # the files of that version, sorted

    @property
    def directory(self) -> str:
        """Where the newer files go without ``-d``: the directory of the file replaced."""
        return os.path.dirname(self.files[0].path)


def latest_local(
    dists: Iterable[Distribution], ignored: frozenset[str] = frozenset()
) -> list[LocalRelease]:
    """The newest version of each project (sorted by name), ignored projects left out."""
    by_project: dict[str, list[Distribution]] = {}
    for dist in dists:
        if dist.project not in ignored:
            by_project.setdefault(dist.project, []).append(dist)
    result = []
    for project in sorted(by_project):
        files = sorted(by_project[project], key=lambda d: d.sort_key)
        newest = files[-1].sort_key[:2]
        same = tuple(d for d in files if d.sort_key[:2] == newest)
        version = newest[1] if isinstance(newest[1], Version) else None
        result.append(LocalRelease(project, version, files[-1].version, same))
    return result


def scan_roots(roots: Iterable[str]) -> list[Distribution]:
    """Every distribution in the packages directories; a relpath found in two roots is
    taken from the first, as the server does."""
    return list(first_root_wins(scan(Root.of(path)) for path in roots).values())


# --- talking to the index -----------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    """The upstream index: its URL without credentials, and an opener that sends the
    credentials (given in the URL) to that host only."""

    url: str
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    deadline: float = DEFAULT_DEADLINE

    @classmethod
    def from_url(
        cls, text: str, timeout: float = DEFAULT_TIMEOUT, deadline: float = DEFAULT_DEADLINE
    ) -> Index:
        parts = urllib.parse.urlsplit(text)
        netloc = parts.hostname or ""
        if ":" in netloc:
            netloc = f"[{netloc}]"
        if parts.port is not None:
            netloc += f":{parts.port}"
        path = parts.path if parts.path.endswith("/") else parts.path + "/"
        url = urllib.parse.urlunsplit((parts.scheme, netloc, path, parts.query, ""))
        user = urllib.parse.unquote(parts.username) if parts.username is not None else None
        password = urllib.parse.unquote(parts.password) if parts.password is not None else None
        return cls(url, user, password, timeout, deadline)

    def page_url(self, project: str) -> str:
        return urllib.parse.urljoin(self.url, urllib.parse.quote(project) + "/")

    def opener(self, deadline: Deadline) -> urllib.request.OpenerDirector:
        """An opener for one request: http(s) only, its sockets watched by ``deadline``."""
        handlers: list[urllib.request.BaseHandler] = []
        if self.user is not None:
            manager = urllib.request.HTTPPasswordMgrWithPriorAuth()
            parts = urllib.parse.urlsplit(self.url)
            # The whole host, not just the index path: files are often under /packages/.
            manager.add_password(
                None,
                f"{parts.scheme}://{parts.netloc}/",
                self.user,
                self.password or "",
                is_authenticated=True,
            )
            handlers.append(urllib.request.HTTPBasicAuthHandler(manager))
        return opener(deadline, handlers)


def _request(url: str, accept: str) -> urllib.request.Request:
    # Only http(s): a file: URL on a page must not copy a local file into the index.
    if urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise UpdateError(f"{url}: not an http(s) URL")
    return urllib.request.Request(  # noqa: S310 - the scheme is checked above
        url, headers={"Accept": accept, "User-Agent": f"packyard/{__version__} (update)"}
    )


def _network_error(url: str, exc: BaseException, timeout: float) -> UpdateError:
    if isinstance(exc, FetchError):
        return UpdateError(exc.message)
    if isinstance(exc, urllib.error.HTTPError):
        hint = ""
        if exc.code in (401, 403):
            hint = " (check the user name and password in the index URL)"
        return UpdateError(f"{url}: HTTP {exc.code} {exc.reason}{hint}")
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return UpdateError(f"{url}: timed out after {timeout:g} s")
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else reason
        return UpdateError(f"cannot reach {url}: {text}")
    if isinstance(exc, TimeoutError):
        return UpdateError(f"{url}: timed out after {timeout:g} s")
    if isinstance(exc, OSError) and exc.strerror:
        return UpdateError(f"{url}: {exc.strerror}")
    return UpdateError(f"{url}: {exc or type(exc).__name__}")


_NETWORK_ERRORS = (OSError, HTTPException, ValueError, FetchError)


def _too_late(url: str, deadline: Deadline) -> UpdateError:
    return UpdateError(
        f"{url}: not finished after {deadline.seconds:g} s, cut off (--download-deadline)"
    )


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def fetch_page(index: Index, project: str) -> list[RemoteFile] | None:
    """The files on the project's page; None when the index does not know it (404/410)."""
    url = index.page_url(project)
    with Deadline(index.deadline) as deadline:
        try:
            with index.opener(deadline).open(_request(url, ACCEPT), timeout=index.timeout) as resp:
                final_url = resp.geturl()
                raw_type = resp.headers.get("Content-Type")
                content_type = resp.headers.get_content_type() if raw_type else "text/html"
                charset = resp.headers.get_content_charset() or "utf-8"
                body = resp.read(MAX_PAGE + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            if exc.code in (404, 410):
                return None
            raise _network_error(url, exc, index.timeout) from None
        except _NETWORK_ERRORS as exc:
            if deadline.expired:
                raise _too_late(url, deadline) from None
            raise _network_error(url, exc, index.timeout) from None
    if deadline.expired:
        raise _too_late(url, deadline)
    if len(body) > MAX_PAGE:
        raise UpdateError(f"{url}: the page is larger than {MAX_PAGE} bytes")
    try:
        if _is_json(content_type):
            return parse_json_page(body, final_url)
        if content_type == "text/html" or content_type.endswith("+html"):
            try:
                text = body.decode(charset, errors="replace")
            except LookupError:
                text = body.decode("utf-8", errors="replace")
            return parse_html_page(text, final_url)
    except UpdateError as exc:
        raise UpdateError(f"{url}: {exc.message}") from None
    raise UpdateError(f"{url}: unexpected content type {content_type!r}")


def _open_staging(directory: str) -> tuple[str, IO[bytes]]:
    # The upload staging name: hidden from the scanner and the watcher, and removed by
    # the server's clean-up at start-up if a crash leaves it behind.
    return open_staging(directory)


def _store(out: IO[bytes], chunk: bytes | None, path: str) -> None:
    """Write a chunk, or with None flush to disk; a local failure is an UpdateError
    (told apart from the network errors around it)."""
    try:
        if chunk is None:
            out.flush()
            os.fsync(out.fileno())
        else:
            out.write(chunk)
    except OSError as exc:
        raise UpdateError(f"cannot write {path}: {exc.strerror or exc}") from None


def _limit(file: RemoteFile, announced: int | None, max_size: int) -> int:
    """The most bytes to accept for ``file``: the index's size, else the server's
    Content-Length, and never more than ``max_size``; raises UpdateError when what
    is announced cannot be accepted."""
    name = file.filename
    if file.size is not None and announced is not None and announced != file.size:
        raise UpdateError(
            f"{name}: the server announces {announced} bytes, the index says {file.size}"
        )
    expected = file.size if file.size is not None else announced
    if expected is not None and expected > max_size:
        raise UpdateError(
            f"{name}: {expected} bytes, more than --max-upload-size ({max_size}); not downloaded"
        )
    return expected if expected is not None else max_size


def _receive(index: Index, file: RemoteFile, write: Callable[[bytes], None], max_size: int) -> int:
    """Stream ``file`` into ``write`` within the deadline and the size limit; its size."""
    with Deadline(index.deadline) as deadline:
        try:
            request = _request(file.url, "*/*")
            with index.opener(deadline).open(request, timeout=index.timeout) as resp:
                limit = _limit(file, resp.length, max_size)
                try:
                    size = read_bounded(resp, limit, write)
                except TooLarge:
                    source = "the index's size" if file.size is not None else "--max-upload-size"
                    raise UpdateError(
                        f"{file.filename}: more than {limit} bytes ({source}); cut off there, "
                        "not stored"
                    ) from None
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _network_error(file.url, exc, index.timeout) from None
        except _NETWORK_ERRORS as exc:
            if deadline.expired:
                raise _too_late(file.url, deadline) from None
            raise _network_error(file.url, exc, index.timeout) from None
    if deadline.expired:
        raise _too_late(file.url, deadline)
    if file.size is not None and size != file.size:
        raise UpdateError(f"{file.filename}: {size} bytes received, the index says {file.size}")
    return size


def download(
    index: Index, file: RemoteFile, directory: str, max_size: int = DEFAULT_MAX_SIZE
) -> tuple[bool, int]:
    """Download ``file`` into ``directory``; (whether it was stored, its size).

    Not stored (False) when a file of that name is already there. Raises UpdateError
    when the download fails, takes longer than the index's deadline, is larger than
    its announced size or ``max_size``, or the digest or size does not match; nothing
    is left.
    """
    target = os.path.join(directory, file.filename)
    if os.path.lexists(target):
        return False, os.path.getsize(target) if os.path.isfile(target) else 0
    _limit(file, None, max_size)  # refuse what the index says is too large, unopened
    digest = file.digest()
    hasher = hashlib.new(digest[0]) if digest else None
    try:
        staged, out = _open_staging(directory)
    except OSError as exc:
        raise UpdateError(f"cannot write in {directory}: {exc.strerror or exc}") from None

    def write(chunk: bytes) -> None:
        _store(out, chunk, staged)
        if hasher is not None:
            hasher.update(chunk)

    try:
        with out:
            size = _receive(index, file, write, max_size)
            _store(out, None, staged)
        if (
            digest is not None
            and hasher is not None
            and not hmac.compare_digest(hasher.hexdigest(), digest[1])
        ):
            raise UpdateError(
                f"{file.filename}: {digest[0]} mismatch (the index says {digest[1]}, "
                f"the download is {hasher.hexdigest()}); not stored"
            )
        try:
            stored = link_new(staged, target)  # never replaces a file that appeared meanwhile
        except OSError as exc:
            raise UpdateError(f"cannot store {target}: {exc.strerror or exc}") from None
        return stored, size
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(staged)


# --- the command --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Check:
    """The outcome for one project."""

    release: LocalRelease
    mark: str  # "." up to date, "u" update found, "e" error or no releases
    newest: Version | None = None
    files: tuple[Candidate, ...] = ()
    error: str | None = None  # a real failure (exit code 1); None for "no releases"


def check(index: Index, release: LocalRelease, allow_unstable: bool) -> Check:
    if release.version is None:
        return Check(
            release,
            "e",
            error=f"{release.project}: the local version {release.shown_version!r} "
            "is not a PEP 440 version",
        )
    try:
        files = fetch_page(index, release.project)
    except UpdateError as exc:
        return Check(release, "e", error=f"{release.project}: {exc.message}")
    if files is None or not files:
        return Check(release, "e")
    releases = releases_of(release.project, files, allow_unstable)
    if not releases:
        return Check(release, ".")
    newest = max(releases)
    if newest <= release.version:
        return Check(release, ".", newest)
    chosen = select_files([d.filename for d in release.files], releases[newest])
    return Check(release, "u", newest, tuple(chosen))


def _size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    if n < 1000:
        return f"{n} bytes"
    value = float(n)
    for unit in ("kB", "MB", "GB", "TB"):
        value /= 1000
        if value < 1000 or unit == "TB":
            break
    return f"{value:.1f} {unit}"


@dataclass(frozen=True)
class Settings:
    roots: tuple[str, ...]
    index: Index
    execute: bool
    allow_unstable: bool
    download_dir: str | None
    ignored: frozenset[str]
    verbose: bool
    max_size: int = DEFAULT_MAX_SIZE


def remove_leftovers(settings: Settings, releases: Iterable[LocalRelease]) -> None:
    """Remove the staging files a killed run left where this run may download (the
    server does this only at the top of its packages directories, at start-up).
    Files still being written (locked by their writer) are left alone."""
    directories = {*settings.roots, *(r.directory for r in releases)}
    if settings.download_dir is not None:
        directories.add(settings.download_dir)
    for directory in sorted(directories):
        removed = cleanup_staging(directory)
        if removed:
            _write(f"removed {removed} unfinished download(s) left in {directory}\n")


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _verbose_line(result: Check) -> str:
    release = result.release
    if result.mark == "u":
        return f"{release.project} {release.shown_version}: update to {result.newest}\n"
    if result.mark == ".":
        return f"{release.project} {release.shown_version}: up to date\n"
    if result.error is not None:
        return f"{release.project} {release.shown_version}: error\n"
    return f"{release.project} {release.shown_version}: no releases on the index\n"


def run_checks(
    settings: Settings, releases: Sequence[LocalRelease], report: Callable[[Check], None]
) -> list[Check]:
    """Check every project (several pages at once), reporting each in order."""
    results: list[Check] = []
    if not releases:
        return results
    with concurrent.futures.ThreadPoolExecutor(min(WORKERS, len(releases))) as pool:
        checked = pool.map(lambda r: check(settings.index, r, settings.allow_unstable), releases)
        for result in checked:
            report(result)
            results.append(result)
    return results


def execute(settings: Settings) -> int:
    """Check (and with ``settings.execute`` download) the updates, printing the report;
    the exit code: 1 when a page or a download failed, else 0."""
    releases = latest_local(scan_roots(settings.roots), settings.ignored)
    remove_leftovers(settings, releases)
    _write(f"checking {len(releases)} packages for newer version\n")
    count = 0

    def report(result: Check) -> None:
        nonlocal count
        if settings.verbose:
            _write(_verbose_line(result))
            return
        count += 1
        _write(result.mark + ("\n" if count % 40 == 0 else ""))

    results = run_checks(settings, releases, report)
    if not settings.verbose and count % 40:
        _write("\n")
    _write("\n")

    missing = [r.release.project for r in results if r.mark == "e" and r.error is None]
    if missing:
        _write(f"no releases found on {settings.index.url} for {', '.join(missing)}\n\n")
    failed = False
    for result in results:
        if result.error is not None:
            failed = True
            fail(result.error, FAILURE)

    updates = [r for r in results if r.mark == "u"]
    stored = problems = 0
    for result in updates:
        release = result.release
        directory = settings.download_dir or release.directory
        _write(f"# update {release.project} from {release.shown_version} to {result.newest}\n")
        for candidate in result.files:
            file = candidate.file
            about = _size(file.size)
            if file.requires_python:
                about += f", requires Python {file.requires_python}"
            line = f"    {file.filename} ({about}) -> {directory}"
            if not settings.execute:
                _write(line + "\n")
                continue
            _write(line + " ... ")
            try:
                done, size = download(settings.index, file, directory, settings.max_size)
            except UpdateError as exc:
                _write("failed\n")
                fail(f"{release.project}: {exc.message}", FAILURE)
                problems += 1
            else:
                if done:
                    stored += 1
                    note = "" if file.digest() else ", no digest on the index to check"
                    _write(f"done ({_size(size)}{note})\n")
                else:
                    _write("already there, left as it is\n")
    if not updates:
        _write("no updates found\n")
    elif settings.execute:
        _write(f"\n{stored} file(s) downloaded, {problems} failed\n")
    else:
        _write("\ndry run: nothing downloaded (use -x to download)\n")
    return 1 if failed or problems else 0

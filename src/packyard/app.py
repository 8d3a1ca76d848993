"""The WSGI application: a route table of thin adapters over the index and storage.

``create_app(config, services)`` is the one place things are wired; importing this
module has no side effects. It is the only module that imports bottle.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

import bottle
from packaging.version import Version

from packyard import __version__, rpc
from packyard.auth import REALM, Action, Authenticator, Permissions, parse_basic
from packyard.config import Config
from packyard.files import CHUNK as _CHUNK
from packyard.files import SmallFiles, file_cache_control, file_headers
from packyard.files import file_range as _file_range
from packyard.files import headers_of as _file_headers
from packyard.httputil import (
    BODY_NOT_READ,
    BODY_PROBE,
    JSON_V1,
    SIMPLE_TYPES,
    TEXT_HTML,
    UNSATISFIABLE,
    accepts_encoding,
    base_url,
    etag_matches,
    if_range_allows,
    negotiate,
    parse_http_date,
    parse_range,
    prefers_json,
    reason_phrase,
    relative_location,
)
from packyard.index import metadata, pypi_json, render
from packyard.index.filenames import Kind
from packyard.index.model import Distribution, IndexSnapshot
from packyard.index.names import is_valid_name, normalize
from packyard.index.versions import format_time, version_key
from packyard.pagecache import JSON_BUDGET, PAGES_BUDGET, ByteCache, JsonDoc, Page
from packyard.storage.cache import IndexCache
from packyard.storage.directory import Gone, Unservable, file_identity, open_listed
from packyard.storage.ledger import PYPI_ALGOS, FileFacts
from packyard.storage.repository import Repository
from packyard.upload import Uploader, UploadError

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
METADATA_TYPE = "text/plain; charset=utf-8"
# The only URLs that take a request body: the upload API and XML-RPC.
BODY_PATHS = ("/", "/legacy/", "/legacy", "/RPC2")
# (status, message, extra headers) of a refusal.
Refusal = tuple[int, str, dict[str, str]]
# What each kind of route needs (declared on the routes with @needs, and asked by the
# fast path): the index pages need list, files need download, and what a file's
# metadata says (PyPI JSON, search summaries) needs both.
LIST = (Action.LIST,)
DOWNLOAD = (Action.DOWNLOAD,)
METADATA = (Action.LIST, Action.DOWNLOAD)


@dataclass
class Services:
    """What the application needs at run time, built by ``server``."""

    cache: IndexCache
    welcome_template: str | None = None
    authenticator: Authenticator | None = None
    uploader: Uploader | None = None
    repository: Repository | None = None  # the storage façade (the read side moves onto it)
    # Set by services.build(): may the WSGI server read this request's body? (Asked
    # with the head only; see packyard.transport.)
    may_read_body: Callable[[Mapping[str, Any]], bool] | None = None


def _paged(make: Callable[[], tuple[bytes, bool]]) -> Callable[[], tuple[Page, bool]]:
    def page() -> tuple[Page, bool]:
        body, keep = make()
        return Page(body), keep

    return page


def _text(status: int, message: str, **headers: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(
        message.rstrip("\n") + "\n", status=status, Content_Type=TEXT, **headers
    )


def _redirect(status: int, location: str) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(
        f"Redirecting to {location}\n", status=status, Location=location, Content_Type=TEXT
    )


def _html(page: bytes) -> bottle.HTTPResponse:
    return bottle.HTTPResponse(page, status=200, Content_Type=HTML)


# Re-reads one listed file from disk (as the watcher would) and gives what the index
# lists under its relpath now, or None.
Relist = Callable[[Distribution], Distribution | None]


def open_served(
    dist: Distribution, relist: Relist
) -> tuple[IO[bytes], os.stat_result] | bottle.HTTPResponse:
    """The listed file open for serving, or the answer that says why not.

    404 when its path holds nothing that may be served (gone, a FIFO, socket or device,
    a symlink out of the index or to a hidden path). When the file there is not the one
    listed (replaced or rewritten before the watcher noticed), the entry is re-read now
    and the file is served only if the index then lists exactly these bytes (same size,
    mtime and inode), so the bytes always match the hash the pages show; else 503.
    """
    try:
        fh, st = open_listed(dist)
    except Unservable as exc:
        if not isinstance(exc, Gone):
            log.warning("not serving %s", exc)
        return _text(404, f"Not Found: {exc}")
    if file_identity(st) == dist.identity:
        return fh, st
    fresh = relist(dist)
    if fresh is not None and fresh.path == dist.path and fresh.identity == file_identity(st):
        return fh, st
    fh.close()
    if fresh is None:
        return _text(404, f"Not Found: {dist.relpath} is no longer available")
    return _text(
        503,
        f"Service Unavailable: {dist.relpath} changed on disk while it was being read; try again",
        Retry_After="1",
    )


def _file_body(environ: dict[str, Any], fh: IO[bytes], first: int, length: int) -> Any:
    """The body that sends ``length`` bytes of ``fh`` from ``first``.

    With a wsgi.file_wrapper (waitress, gunicorn) it is the file itself, positioned at
    ``first``: bottle hands it to the wrapper, and the server sends at most
    Content-Length bytes from the current position, from its own loop (waitress) or
    with sendfile (gunicorn). A client that never reads then holds its connection, never
    a thread. Without one, a generator that stops after exactly ``length`` bytes.
    """
    if "wsgi.file_wrapper" in environ:
        fh.seek(first)
        return fh
    return _file_range(fh, first, length)


def serve_file(
    dist: Distribution, cache_control: str | None, relist: Relist
) -> bottle.HTTPResponse:
    """A distribution file with validators, conditional requests and single ranges."""
    opened = open_served(dist, relist)
    if isinstance(opened, bottle.HTTPResponse):
        return opened
    fh, st = opened
    try:
        answer, handed_over = _file_answer(bottle.request.environ, fh, st, cache_control)
    except BaseException:
        fh.close()
        raise
    if not handed_over:
        fh.close()
    return answer


def _file_answer(
    environ: dict[str, Any], fh: IO[bytes], st: os.stat_result, cache_control: str | None
) -> tuple[bottle.HTTPResponse, bool]:
    """The answer for an open file, and whether its body took the file (to close)."""
    headers = file_headers(st, cache_control)
    etag = headers["ETag"]
    inm = environ.get("HTTP_IF_NONE_MATCH")
    ims = environ.get("HTTP_IF_MODIFIED_SINCE")
    not_modified = False
    if inm is not None:
        not_modified = etag_matches(inm, etag)
    elif ims is not None:
        since = parse_http_date(ims)
        not_modified = since is not None and int(st.st_mtime) <= since
    if not_modified:
        return bottle.HTTPResponse(b"", status=304, **headers), False

    size = st.st_size
    range_header = environ.get("HTTP_RANGE")
    if range_header is not None and if_range_allows(
        environ.get("HTTP_IF_RANGE"), etag, st.st_mtime
    ):
        wanted = parse_range(range_header, size)
        if wanted == UNSATISFIABLE:
            headers["Content-Range"] = f"bytes */{size}"
            headers["Content-Type"] = TEXT
            message = f"Range Not Satisfiable: {range_header} (the file has {size} bytes)\n"
            return bottle.HTTPResponse(message, status=416, **headers), False
        if wanted is not None:
            first, last = wanted
            headers["Content-Range"] = f"bytes {first}-{last}/{size}"
            headers["Content-Length"] = str(last - first + 1)
            body = _file_body(environ, fh, first, last - first + 1)
            return bottle.HTTPResponse(body, status=206, **headers), True
    headers["Content-Length"] = str(size)
    return bottle.HTTPResponse(_file_body(environ, fh, 0, size), status=200, **headers), True


GZIP_MIN = 256  # bytes: smaller pages are sent as they are


def _error_page(error: bottle.HTTPError) -> str:
    bottle.response.content_type = TEXT
    if error.status_code >= 500:
        return "Internal Server Error: the server could not answer; see its log.\n"
    body = error.body if isinstance(error.body, str) and error.body else error.status_line
    return f"{body}\n"


class _Bottle(bottle.Bottle):  # type: ignore[misc]
    """Answers the transport's body probe, then tries the application's fast paths
    (``fast``) before bottle's routing. The checks every request passes first (UTF-8
    path, cross-process sync, 503 while a directory is gone) are ``guards.Guards``,
    composed in front of this app by ``server.build``."""

    fast: Callable[[dict[str, Any]], tuple[str, list[tuple[str, str]], Any] | None] | None = None
    # Asked by the WSGI server with a request's head: may its body be read?
    may_read_body: Callable[[Mapping[str, Any]], bool] | None = None

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        probe = environ.get(BODY_PROBE)
        if probe is not None:  # the head of a request, from packyard.transport
            probe.append(self.may_read_body is not None and self.may_read_body(environ))
            return []
        if self.fast is not None:
            answer = self.fast(environ)
            if answer is not None:
                status, headers, body = answer
                start_response(status, headers)
                if environ.get("REQUEST_METHOD") == "HEAD":
                    if hasattr(body, "close"):
                        body.close()
                    return [b""]
                return body if not isinstance(body, bytes) else [body]
        return super().wsgi(environ, start_response)


def create_app(config: Config, services: Services) -> bottle.Bottle:
    app = _Bottle(catchall=True)
    app.config["json.enable"] = False
    pages: ByteCache[Page] = ByteCache(PAGES_BUDGET)
    json_docs: ByteCache[JsonDoc] = ByteCache(JSON_BUDGET)
    cache = services.cache
    ledger = cache.ledger
    algo = config.hash_algo
    # Digests a page needs: the configured one for the links, and sha256 for JSON.
    page_algos: tuple[str, ...] = () if algo is None else tuple(dict.fromkeys((algo, "sha256")))
    permissions = Permissions(config.authenticate, services.authenticator)
    # Shared caches may keep what anyone may read; protected answers are "private".
    index_cache = (
        f"{'private' if 'list' in config.authenticate else 'public'}, "
        f"max-age={config.index_max_age}"
    )
    file_cache = file_cache_control(config)
    metadata_open = not any(a in config.authenticate for a in METADATA)
    json_cache = f"{'public' if metadata_open else 'private'}, max-age={config.index_max_age}"

    def refused(
        action: Action, answer: Callable[..., bottle.HTTPResponse] = _text
    ) -> bottle.HTTPResponse | None:
        """The answer (made by ``answer(status, message, **headers)``) to a request that
        ``action`` is not allowed for, else None."""
        return refused_any((action,), answer)

    def refused_any(
        actions: tuple[Action, ...], answer: Callable[..., bottle.HTTPResponse] = _text
    ) -> bottle.HTTPResponse | None:
        """As ``refused``, for a request that needs every one of ``actions``. Users have
        no roles (a valid user may do everything), so one check decides: the first
        protected action's."""
        protected = [a for a in actions if a in permissions.protected]
        if not protected:
            return None
        authorization = bottle.request.environ.get("HTTP_AUTHORIZATION")
        refusal = permission_refusal(protected[0], authorization)
        return None if refusal is None else answer(refusal[0], refusal[1], **refusal[2])

    def permission_refusal(action: Action, authorization: str | None) -> Refusal | None:
        decision = permissions.decide(action, authorization)
        if decision.allowed:
            return None
        extra = {"WWW-Authenticate": REALM} if decision.status == 401 else {}
        return decision.status, decision.message, extra

    def needs(
        *actions: Action, answer: Callable[..., bottle.HTTPResponse] = _text
    ) -> Callable[[Callable[..., bottle.HTTPResponse]], Callable[..., bottle.HTTPResponse]]:
        """The permission check of a route, declared once with it: ``@needs(Action.LIST)``.
        A route whose actions are all open is registered as it is (no work per request);
        the fast path asks ``is_open`` of the same declarations."""

        def declare(
            handler: Callable[..., bottle.HTTPResponse],
        ) -> Callable[..., bottle.HTTPResponse]:
            if is_open(actions):
                return handler

            @functools.wraps(handler)
            def checked(*args: Any, **kwargs: Any) -> bottle.HTTPResponse:
                if (denied := refused_any(actions, answer)) is not None:
                    return denied
                return handler(*args, **kwargs)

            return checked

        return declare

    def is_open(actions: tuple[Action, ...]) -> bool:
        return not any(a in permissions.protected for a in actions)

    def request_path() -> str:
        return str(bottle.request.environ.get("PATH_INFO") or "/")

    def query() -> str:
        return str(bottle.request.environ.get("QUERY_STRING", ""))

    def negotiated() -> str | None:
        """The simple-API format this request asks for (PEP 691), None if none we have."""
        environ = bottle.request.environ
        return negotiate(environ.get("HTTP_ACCEPT"), bottle.request.query.get("format"))

    def page_parts(
        environ: dict[str, Any], page: Page, content_type: str, vary: str
    ) -> tuple[int, dict[str, str], bytes]:
        """An index page with its validator (304 on If-None-Match), short caching, and
        gzip when the client takes it (never for distribution files)."""
        compress = len(page.body) >= GZIP_MIN and accepts_encoding(
            environ.get("HTTP_ACCEPT_ENCODING"), "gzip"
        )
        # Each representation has its own strong validator.
        etag = page.etag[:-1] + '-gz"' if compress else page.etag
        headers = {"ETag": etag, "Vary": vary, "Cache-Control": index_cache}
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm is not None and etag_matches(inm, etag):
            return 304, headers, b""
        headers["Content-Type"] = content_type
        if compress:
            headers["Content-Encoding"] = "gzip"
            return 200, headers, page.gzipped
        return 200, headers, page.body

    def page_answer(page: Page, content_type: str, vary: str) -> bottle.HTTPResponse:
        status, headers, body = page_parts(bottle.request.environ, page, content_type, vary)
        return bottle.HTTPResponse(body, status=status, **headers)

    def simple_parts(
        environ: dict[str, Any], page: Page, fmt: str
    ) -> tuple[int, dict[str, str], bytes]:
        """A simple-API page in the negotiated format ``fmt``: its content type and Vary,
        for the routes and the fast path alike."""
        content_type = HTML if fmt == TEXT_HTML else fmt
        return page_parts(environ, page, content_type, "Accept, Accept-Encoding")

    def simple_answer(page: Page, fmt: str) -> bottle.HTTPResponse:
        status, headers, body = simple_parts(bottle.request.environ, page, fmt)
        return bottle.HTTPResponse(body, status=status, **headers)

    def not_acceptable() -> bottle.HTTPResponse:
        return _text(
            406,
            "Not Acceptable: this index answers with "
            + ", ".join(SIMPLE_TYPES)
            + " (choose with the Accept header or ?format=)",
            Vary="Accept",
        )

    def entries(files: tuple[Distribution, ...]) -> tuple[list[render.FileEntry], bool]:
        """Each file with its facts and yank state; False if a file could not be read."""
        yanks = ledger.yanks
        complete = True
        result = []
        for dist in files:
            facts = ledger.facts(dist, page_algos)
            complete = complete and facts is not None
            result.append(
                render.FileEntry(
                    dist=dist,
                    hashes={a: facts.digests[a] for a in page_algos if a in facts.digests}
                    if facts
                    else {},
                    requires_python=facts.requires_python if facts else None,
                    core_metadata=facts.core_metadata if facts else None,
                    yanked=yanks.reason(ledger.root_index(dist), dist),
                    upload_time=format_time(facts.upload_time) if facts else None,
                )
            )
        return result, complete

    # --- welcome and health -------------------------------------------------

    @app.get("/")  # type: ignore[untyped-decorator]
    def welcome() -> bottle.HTTPResponse:
        snap = cache.snapshot
        base = base_url(bottle.request.environ)
        values = {
            "URL": base,
            # Relative (this page is only served at /), so right under any prefix.
            "SIMPLE": "simple/",
            "PACKAGES": "packages/",
            "NUMPKGS": str(len(snap.files)),
            "NUMPROJECTS": str(len(snap.project_names)),
            "VERSION": __version__,
        }
        return _html(render.welcome_html(services.welcome_template, values))

    @app.get(config.health_endpoint)  # type: ignore[untyped-decorator]
    def health() -> bottle.HTTPResponse:
        return _text(200, "ok")

    @app.get("/favicon.ico")  # type: ignore[untyped-decorator]
    def favicon() -> bottle.HTTPResponse:
        return _text(404, "Not Found: this index has no icon")

    # --- the simple index (PEP 503) ---------------------------------------

    @app.get("/simple")  # type: ignore[untyped-decorator]
    @needs(*LIST)
    def simple_noslash() -> bottle.HTTPResponse:
        return _redirect(301, relative_location(request_path(), "/simple/", query()))

    @app.get("/simple/")  # type: ignore[untyped-decorator]
    @needs(*LIST)
    def simple_index() -> bottle.HTTPResponse:
        fmt = negotiated()
        if fmt is None:
            return not_acceptable()
        return simple_answer(list_page(cache.snapshot, fmt), fmt)

    def list_page(snap: IndexSnapshot, fmt: str) -> Page:
        names = snap.project_names

        def make() -> tuple[bytes, bool]:
            if fmt == JSON_V1:
                return render.project_list_json(names), True
            return render.project_list_html(names), True

        return pages.get(("simple", fmt), names, _paged(make))

    def project_page(snap: IndexSnapshot, project: str, fmt: str) -> Page:
        files = snap.projects[project]
        yanks = ledger.yanks

        def make() -> tuple[bytes, bool]:
            # A page missing a file's facts (it vanished meanwhile) is not kept.
            found, complete = entries(files)
            if fmt == JSON_V1:
                return render.project_json(project, found), complete
            return render.project_html(project, found, algo), complete

        return pages.get(("project", project, fmt), files, _paged(make), yanks.serial)

    @app.get("/simple/<name>")  # type: ignore[untyped-decorator]
    @needs(*LIST)
    def simple_project_noslash(name: str) -> bottle.HTTPResponse:
        if not is_valid_name(name):
            return _text(404, f"Not Found: {name!r} is not a valid project name")
        target = "/simple/" + quote(normalize(name)) + "/"
        return _redirect(301, relative_location(request_path(), target, query()))

    @app.get("/simple/<name>/")  # type: ignore[untyped-decorator]
    @needs(*LIST)
    def simple_project(name: str) -> bottle.HTTPResponse:
        if not is_valid_name(name):
            return _text(404, f"Not Found: {name!r} is not a valid project name")
        project = normalize(name)
        if project != name:
            target = "/simple/" + quote(project) + "/"
            return _redirect(301, relative_location(request_path(), target, query()))
        snap = cache.snapshot
        if project in snap.projects:
            fmt = negotiated()
            if fmt is None:
                return not_acceptable()
            return simple_answer(project_page(snap, project, fmt), fmt)
        if config.fallback_url is None:  # --disable-fallback
            return _text(404, f"Not Found: {project} does not exist on this index")
        location = config.fallback_url.rstrip("/") + "/" + quote(project) + "/"
        return _redirect(303, location)

    # --- files ----------------------------------------------------------------

    @app.get("/packages")  # type: ignore[untyped-decorator]
    @needs(*LIST)
    def packages_noslash() -> bottle.HTTPResponse:
        return _redirect(301, relative_location(request_path(), "/packages/", query()))

    @app.get("/packages/")  # type: ignore[untyped-decorator]
    @needs(*LIST)
    def packages_index() -> bottle.HTTPResponse:
        snap = cache.snapshot
        files = snap.files

        def make() -> tuple[bytes, bool]:
            return render.packages_html(files[r] for r in sorted(files)), True

        return page_answer(pages.get("packages", files, _paged(make)), HTML, "Accept-Encoding")

    @app.get("/packages/<relpath:path>")  # type: ignore[untyped-decorator]
    @needs(*DOWNLOAD)
    def package_file(relpath: str) -> bottle.HTTPResponse:
        dist = cache.snapshot.files.get(relpath)
        if dist is None:
            if relpath.endswith(".metadata"):
                return metadata_file(relpath)
            return _text(404, f"Not Found: {relpath} is not a file of this index")
        return serve_file(dist, file_cache, relist)

    def relist(dist: Distribution) -> Distribution | None:
        """Re-read one listed file now (it changed before the watcher said so)."""
        try:
            snap = cache.refresh(ledger.root_index(dist), (dist.relpath,))
        except (OSError, sqlite3.Error) as exc:
            log.warning("cannot re-read %s: %s", dist.relpath, exc)
            return None
        return snap.files.get(dist.relpath)

    def metadata_answer(dist: Distribution) -> tuple[dict[str, str], bytes] | None:
        """The headers and body of a file's PEP 658 metadata file; None if it has none."""
        facts = ledger.facts(dist, page_algos)
        body = ledger.metadata_body(dist, facts) if facts and facts.core_metadata else None
        if facts is None or facts.core_metadata is None or body is None:
            return None
        headers = {"Content-Type": METADATA_TYPE, "ETag": f'"{facts.core_metadata}"'}
        if file_cache is not None:
            headers["Cache-Control"] = file_cache
        return headers, body

    def metadata_file(relpath: str) -> bottle.HTTPResponse:
        """PEP 658: a wheel's METADATA, byte for byte, at <file URL>.metadata."""
        dist = cache.snapshot.files.get(relpath.removesuffix(".metadata"))
        if dist is None:
            return _text(404, f"Not Found: {relpath} is not a file of this index")
        answer = metadata_answer(dist)
        if answer is None:
            return _text(404, f"Not Found: {dist.filename} has no core metadata file")
        headers, body = answer
        inm = bottle.request.environ.get("HTTP_IF_NONE_MATCH")
        if inm is not None and etag_matches(inm, headers["ETag"]):
            return bottle.HTTPResponse(b"", status=304, **headers)
        return bottle.HTTPResponse(body, status=200, **headers)

    # --- PyPI's JSON API (and pypiserver's /<project>/json) ----------------------------

    def json_error(status: int, message: str, **headers: str) -> bottle.HTTPResponse:
        body = json.dumps({"message": message}) + "\n"
        return bottle.HTTPResponse(body, status=status, Content_Type=JSON, **headers)

    def json_file(dist: Distribution, facts: FileFacts | None, base: str) -> pypi_json.JsonFile:
        yanks = ledger.yanks
        return pypi_json.JsonFile(
            dist=dist,
            url=base + "packages/" + render.url_path(dist.relpath),
            digests=dict(facts.digests) if facts else {},
            requires_python=facts.requires_python if facts else None,
            upload_time=format_time(facts.upload_time) if facts else None,
            yanked=yanks.reason(ledger.root_index(dist), dist),
        )

    def release_metadata(
        files: list[tuple[Distribution, FileFacts | None]],
    ) -> metadata.CoreMetadata | None:
        """The release's core metadata: a wheel's METADATA first, else a PKG-INFO."""
        ranked = sorted(
            ((d, f) for d, f in files if f is not None and f.metadata_sha256),
            key=lambda item: item[0].kind is not Kind.WHEEL,
        )
        for dist, facts in ranked:
            assert facts is not None
            body = ledger.metadata_body(dist, facts)
            if body is not None:
                return metadata.parse(body)
        return None

    def latest_version(files: tuple[Distribution, ...]) -> str:
        """PyPI's choice for ``info``: the highest final release that is not wholly
        yanked, else the highest release not wholly yanked, else the highest."""

        def is_final(version: str) -> bool:
            try:
                return not Version(version).is_prerelease
            except ValueError:  # InvalidVersion, or more digits than int() takes
                return False

        yanks = ledger.yanks
        versions = list(dict.fromkeys(d.version for d in files))  # ascending
        live_set = {d.version for d in files if yanks.reason(ledger.root_index(d), d) is None}
        live = [v for v in versions if v in live_set]
        final = [v for v in live if is_final(v)]
        return (final or live or versions)[-1]

    @needs(*METADATA, answer=json_error)
    def pypi_project_json(name: str, version: str | None) -> bottle.HTTPResponse:
        if not is_valid_name(name):
            return json_error(404, f"Not Found: {name!r} is not a valid project name")
        project = normalize(name)
        if project != name:
            # Only the name segment changes; keep the rest of the path as it came.
            path = request_path()
            head, sep, tail = path.rpartition("/" + name + "/")
            target = head + "/" + quote(project) + "/" + tail if sep else path
            return _redirect(301, relative_location(path, target, query()))
        files = cache.snapshot.projects.get(project)
        if files is None:
            return json_error(404, f"Not Found: {project} does not exist on this index")
        doc = json_doc(project, files, version)
        if doc.empty:
            return json_error(404, f"Not Found: {project} has no release {version}")
        environ = bottle.request.environ
        status, headers, body = json_parts(environ, doc, base_url(environ))
        return bottle.HTTPResponse(body, status=status, **headers)

    def json_parts(
        environ: dict[str, Any], doc: JsonDoc, base: str
    ) -> tuple[int, dict[str, str], bytes]:
        """A PyPI JSON document for the request's base URL, as ``page_parts`` does for
        pages: its validator (304), short caching, gzip when taken."""
        gzipped = None
        if accepts_encoding(environ.get("HTTP_ACCEPT_ENCODING"), "gzip"):
            gzipped = doc.gzipped(base)
        etag = doc.etag(base, "-gz" if gzipped is not None else "")
        headers = {"ETag": etag, "Vary": "Accept-Encoding", "Cache-Control": json_cache}
        inm = environ.get("HTTP_IF_NONE_MATCH")
        if inm is not None and etag_matches(inm, etag):
            return 304, headers, b""
        headers["Content-Type"] = JSON
        if gzipped is not None:
            headers["Content-Encoding"] = "gzip"
            return 200, headers, gzipped
        return 200, headers, doc.body(base)

    def json_doc(project: str, files: tuple[Distribution, ...], version: str | None) -> JsonDoc:
        """The PyPI JSON document of a project (or of one release), for any base URL;
        empty when the release does not exist."""

        def make() -> tuple[JsonDoc, bool]:
            complete = True

            def for_base(base: str) -> bytes:
                nonlocal complete
                body, complete = json_body(project, files, version, base)
                return body

            doc = JsonDoc.render(for_base)
            return doc, complete and not doc.empty

        wanted = version_key(version) if version is not None else None
        return json_docs.get(("pypi", project, wanted), files, make, ledger.yanks.serial)

    def json_body(
        project: str, files: tuple[Distribution, ...], version: str | None, base: str
    ) -> tuple[bytes, bool]:
        """The document for one base URL, and whether every file's facts were known."""
        with_facts = [(d, ledger.facts(d, PYPI_ALGOS)) for d in files]
        by_version: dict[str, list[pypi_json.JsonFile]] = {}
        dists_by_version: dict[str, list[tuple[Distribution, FileFacts | None]]] = {}
        for dist, facts in with_facts:
            by_version.setdefault(dist.version, []).append(json_file(dist, facts, base))
            dists_by_version.setdefault(dist.version, []).append((dist, facts))
        if version is None:
            chosen = latest_version(files)
        else:
            key = version_key(version)
            matches = [v for v in by_version if version_key(v) == key]
            if not matches:
                return b"", False
            chosen = matches[0]
        urls = by_version[chosen]
        release_yanked = (
            next((f.yanked for f in urls), None)
            if all(f.yanked is not None for f in urls)
            else None
        )
        info = pypi_json.info(
            project, chosen, release_metadata(dists_by_version[chosen]), base, release_yanked
        )
        complete = all(facts is not None for _, facts in with_facts)
        releases = by_version if version is None else None
        return pypi_json.document(info, urls, releases), complete

    @app.get("/pypi/<name>/json")  # type: ignore[untyped-decorator]
    def pypi_project(name: str) -> bottle.HTTPResponse:
        return pypi_project_json(name, None)

    @app.get("/pypi/<name>/<version>/json")  # type: ignore[untyped-decorator]
    def pypi_release(name: str, version: str) -> bottle.HTTPResponse:
        return pypi_project_json(name, version)

    @app.get("/<name>/json")  # type: ignore[untyped-decorator]
    def legacy_project_json(name: str) -> bottle.HTTPResponse:
        return pypi_project_json(name, None)

    # --- XML-RPC (pip search) -------------------------------------------------------------

    def describe(project: str) -> rpc.Hit | None:
        """A search hit from the ledger's row of each file of the latest release (its
        Summary and Name were stored with its facts): no archive and no stored metadata
        file is read. A file whose facts are not known yet gets them now, once."""
        files = cache.snapshot.projects.get(project)
        if not files:
            return None
        latest = latest_version(files)
        release = [(d, ledger.facts(d)) for d in files if d.version == latest]
        # A wheel's metadata first, else a PKG-INFO, as for the JSON API's info.
        release.sort(key=lambda item: item[0].kind is not Kind.WHEEL)
        known = next((f for _, f in release if f is not None and f.summary is not None), None)
        summary = (known.summary if known else None) or ""
        shown = (known.meta_name if known else None) or project
        return rpc.Hit(name=shown, version=latest, summary=summary)

    def versions_of(name: str) -> list[str]:
        files = cache.snapshot.projects.get(normalize(name), ())
        return list(dict.fromkeys(d.version for d in reversed(files)))

    catalogue = rpc.Catalogue(
        project_names=lambda: cache.snapshot.project_names,
        versions=versions_of,
        describe=describe,
    )

    # --- what a POST may send, decided from its headers before its body is read -------

    def is_rpc(environ: Mapping[str, Any]) -> bool:
        # XML-RPC clients given the index root (pip search --index URL/) post there.
        content_type = str(environ.get("CONTENT_TYPE", "")).lower()
        return environ.get("PATH_INFO") == "/RPC2" or content_type.startswith("text/xml")

    def header_refusal(environ: Mapping[str, Any]) -> Refusal | None:
        """The answer to a POST to an upload URL or /RPC2 that its headers alone decide
        (401/403 without the permission, 405 when uploads are off, 413 for a
        Content-Length over the limit), or None if its body may be read."""
        authorization = environ.get("HTTP_AUTHORIZATION")
        length = str(environ.get("CONTENT_LENGTH") or "")
        if is_rpc(environ):
            refusal = permission_refusal(Action.LIST, authorization)
            digits = length.isascii() and length.isdigit()
            if refusal is None and digits and int(length) > rpc.MAX_BODY:
                return 413, f"XML-RPC request larger than {rpc.MAX_BODY} bytes", {}
            return refusal
        refusal = permission_refusal(Action.UPDATE, authorization)
        if refusal is not None:
            return refusal
        if services.uploader is None:
            return 405, "Method Not Allowed: this server does not take uploads", {}
        too_large = services.uploader.length_error(length)
        return None if too_large is None else (too_large.status, too_large.message, {})

    def may_read_body(environ: Mapping[str, Any]) -> bool:
        """Whether the WSGI server may read (and spool) this request's body: only for a
        POST to a URL that takes one, from a client allowed to send it. The server asks
        with the request's head only (a WSGI environ without wsgi.input)."""
        return (
            environ.get("REQUEST_METHOD") == "POST"
            and environ.get("PATH_INFO") in BODY_PATHS
            and not cache.unavailable
            and header_refusal(environ) is None
        )

    def body_not_read() -> bottle.HTTPResponse:
        # The server asked may_read_body and was told no, but the answer changed since
        # (the password file changed in between): the body is gone, ask for it again.
        return _text(
            503,
            "Service Unavailable: the permissions changed while this request arrived; "
            "send it again",
            Retry_After="1",
        )

    @app.post("/RPC2")  # type: ignore[untyped-decorator]
    def rpc2() -> bottle.HTTPResponse:
        environ = bottle.request.environ
        if (refusal := header_refusal(environ)) is not None:
            return _text(refusal[0], refusal[1], **refusal[2])
        if environ.get(BODY_NOT_READ):
            return body_not_read()
        body = bottle.request.environ["wsgi.input"].read(rpc.MAX_BODY + 1)
        try:
            params, method = rpc.parse(body)
            # Summaries come from the files' metadata: download must be allowed too.
            if method in rpc.METADATA_METHODS and (denied := refused(Action.DOWNLOAD)) is not None:
                return denied
            answer = rpc.dispatch(method, params, catalogue)
        except rpc.RpcError as exc:
            prefix = "Bad Request: " if exc.status == 400 else ""
            return _text(exc.status, prefix + exc.message)
        return bottle.HTTPResponse(answer, status=200, Content_Type="text/xml; charset=utf-8")

    # --- uploads (the legacy API of twine, uv publish, poetry, pdm) ---------------

    def api_error(status: int, message: str, **headers: str) -> bottle.HTTPResponse:
        """An error with the message in the reason phrase (twine prints it) and in the
        body: JSON for clients that prefer it (uv shows it), else plain text."""
        title = bottle.HTTP_CODES.get(status, "Error")
        status_line = f"{status} {reason_phrase(message)}"
        if prefers_json(bottle.request.environ.get("HTTP_ACCEPT")):
            # uv shows only "code", so it carries the message, as PyPI's does.
            body = json.dumps(
                {"message": message, "code": f"{status} {reason_phrase(message)}", "title": title}
            )
            return bottle.HTTPResponse(
                body + "\n", status=status_line, Content_Type="application/json", **headers
            )
        return bottle.HTTPResponse(message + "\n", status=status_line, Content_Type=TEXT, **headers)

    def upload() -> bottle.HTTPResponse:
        environ = bottle.request.environ
        if is_rpc(environ):
            return rpc2()
        if (refusal := header_refusal(environ)) is not None:
            return api_error(refusal[0], refusal[1], **refusal[2])
        if environ.get(BODY_NOT_READ):
            return body_not_read()
        uploader = services.uploader
        assert uploader is not None  # header_refusal answers 405 without one
        credentials = parse_basic(environ.get("HTTP_AUTHORIZATION"))
        user = credentials[0] if credentials else ""
        try:
            form, staged = uploader.read_form(environ)
            outcome = uploader.dispatch(form, staged, user)
        except UploadError as exc:
            return api_error(exc.status, exc.message)
        return _text(outcome.status, outcome.message)

    for path in BODY_PATHS:
        if path != "/RPC2":
            app.post(path)(upload)

    # --- pip's old use of the index root as --index-url -------------------------

    def to_simple(name: str) -> bottle.HTTPResponse:
        if not is_valid_name(name):
            return _text(404, f"Not Found: {name!r}")
        target = "/simple/" + quote(normalize(name)) + "/"
        return _redirect(303, relative_location(request_path(), target, query()))

    app.get("/<name>")(to_simple)
    app.get("/<name>/")(to_simple)

    # --- the hot paths, without bottle --------------------------------------------------

    # The same declarations as the routes' @needs: the fast path answers only what is open.
    list_open = is_open(LIST)
    download_open = is_open(DOWNLOAD)
    json_open = is_open(METADATA)
    reasons = {200: "200 OK", 304: "304 Not Modified"}
    small = SmallFiles()
    conditional = ("HTTP_RANGE", "HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_RANGE")

    def fast(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], Any] | None:
        """Answers for the requests an index gets most (its pages, whole downloads),
        made without bottle's routing and response objects; the same answers the routes
        above give. Anything else, or anything unusual (a query string, credentials
        needed, a page not yet known, a range), returns None and goes to bottle."""
        if environ.get("REQUEST_METHOD") not in ("GET", "HEAD") or environ.get("QUERY_STRING"):
            return None
        path = str(environ.get("PATH_INFO", ""))
        if list_open and path.startswith("/simple/") and path.endswith("/"):
            fmt = negotiate(environ.get("HTTP_ACCEPT"), None)
            if fmt is None:
                return None
            snap = cache.snapshot
            name = path[len("/simple/") : -1]
            if path == "/simple/":
                page = list_page(snap, fmt)
            elif name in snap.projects:  # normalized names only, so never "" or "a/b"
                page = project_page(snap, name, fmt)
            else:
                return None
            status, headers, body = simple_parts(environ, page, fmt)
            if status == 200:
                headers["Content-Length"] = str(len(body))
            return reasons[status], list(headers.items()), body
        if download_open and path.startswith("/packages/"):
            if any(key in environ for key in conditional):
                return None
            relpath = path[len("/packages/") :]
            dist = cache.snapshot.files.get(relpath)
            if dist is None:
                return fast_metadata(relpath) if relpath.endswith(".metadata") else None
            if dist.size <= small.max_file:
                hit = small.get(relpath, dist.identity)
                if hit is None:
                    data = small.read(dist)
                    if data is None:
                        return None
                    headers = _file_headers(dist.size, dist.mtime_ns, file_cache)
                    headers["Content-Length"] = str(dist.size)
                    small.put(relpath, dist.identity, headers, data)
                    hit = list(headers.items()), data
                return reasons[200], hit[0], hit[1]
            try:
                fh, st = open_listed(dist)
            except Unservable:
                return None  # the route answers, with the reason
            if file_identity(st) != dist.identity:
                fh.close()
                return None  # changed on disk: the route re-reads the entry
            headers = file_headers(st, file_cache)
            headers["Content-Length"] = str(st.st_size)
            wrapper = environ.get("wsgi.file_wrapper")
            stream: Any = (
                wrapper(fh, _CHUNK) if wrapper is not None else _file_range(fh, 0, st.st_size)
            )
            return reasons[200], list(headers.items()), stream
        if json_open and path.startswith("/pypi/") and path.endswith("/json"):
            # /pypi/<project>/json and /pypi/<project>/<version>/json, normalized names.
            project, _, version = path[len("/pypi/") : -len("/json")].partition("/")
            if "/" in version:
                return None
            files = cache.snapshot.projects.get(project)
            if files is None:
                return None
            doc = json_doc(project, files, version or None)
            if doc.empty:
                return None
            status, headers, body = json_parts(environ, doc, base_url(environ))
            if status == 200:
                headers["Content-Length"] = str(len(body))
            return reasons[status], list(headers.items()), body
        return None

    def fast_metadata(relpath: str) -> tuple[str, list[tuple[str, str]], Any] | None:
        """A wheel's .metadata file (PEP 658), kept with the small files."""
        dist = cache.snapshot.files.get(relpath[: -len(".metadata")])
        if dist is None:
            return None
        hit = small.get(relpath, dist.identity)
        if hit is None:
            answer = metadata_answer(dist)
            if answer is None:
                return None
            headers, body = answer
            headers["Content-Length"] = str(len(body))
            small.put(relpath, dist.identity, headers, body)
            hit = list(headers.items()), body
        return reasons[200], hit[0], hit[1]

    app.fast = fast
    app.may_read_body = may_read_body
    for code in (400, 404, 405, 406, 413, 500):
        app.error(code)(_error_page)
    return app

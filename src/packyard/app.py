"""The WSGI application: a route table of thin adapters over the index and storage.

``create_app(config, services)`` is the one place things are wired; importing this
module has no side effects. It is the only module that imports bottle.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote

import bottle

from packyard import __version__
from packyard.auth import REALM, Action, Authenticator, Permissions, parse_basic
from packyard.config import Config
from packyard.httputil import (
    UNSATISFIABLE,
    base_url,
    etag_matches,
    http_date,
    if_range_allows,
    parse_http_date,
    parse_range,
    prefers_json,
    reason_phrase,
    relative_location,
)
from packyard.index import render
from packyard.index.model import Distribution, IndexSnapshot
from packyard.index.names import is_valid_name, normalize
from packyard.storage.cache import IndexCache
from packyard.storage.digests import DigestCache
from packyard.upload import Uploader, UploadError

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
_CHUNK = 1 << 16


@dataclass
class Services:
    """What the application needs at run time, built by ``server``."""

    cache: IndexCache
    digests: DigestCache = field(default_factory=DigestCache)
    welcome_template: str | None = None
    authenticator: Authenticator | None = None
    uploader: Uploader | None = None


class _PageCache:
    """Rendered pages, valid while the snapshot part they were made from is the same
    object (the snapshot is copy-on-write, so identity means "unchanged")."""

    def __init__(self) -> None:
        self._pages: dict[object, tuple[object, bytes]] = {}

    def get(self, key: object, source: object, make: Callable[[], tuple[bytes, bool]]) -> bytes:
        """The page for ``key`` made from ``source``; ``make`` says if it may be kept."""
        hit = self._pages.get(key)
        if hit is not None and hit[0] is source:
            return hit[1]
        page, keep = make()
        if keep:
            self._pages[key] = (source, page)
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


def _file_range(fh: IO[bytes], first: int, length: int) -> Iterator[bytes]:
    try:
        fh.seek(first)
        while length > 0:
            chunk = fh.read(min(_CHUNK, length))
            if not chunk:
                return
            length -= len(chunk)
            yield chunk
    finally:
        fh.close()


def serve_file(dist: Distribution, cache_control: int | None) -> bottle.HTTPResponse:
    """A distribution file with validators, conditional requests and single ranges."""
    environ = bottle.request.environ
    try:
        fh = open(dist.path, "rb")  # noqa: SIM115 - handed to the WSGI server, which closes it
    except OSError:
        return _text(404, f"Not Found: {dist.relpath} is no longer available")
    try:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            fh.close()
            return _text(404, f"Not Found: {dist.relpath}")
        etag = f'"{st.st_size:x}-{st.st_mtime_ns:x}"'
        headers = {
            "Content-Type": "application/octet-stream",
            "ETag": etag,
            "Last-Modified": http_date(st.st_mtime),
            "Accept-Ranges": "bytes",
        }
        if cache_control is not None:
            headers["Cache-Control"] = f"public, max-age={cache_control}"

        inm = environ.get("HTTP_IF_NONE_MATCH")
        ims = environ.get("HTTP_IF_MODIFIED_SINCE")
        not_modified = False
        if inm is not None:
            not_modified = etag_matches(inm, etag)
        elif ims is not None:
            since = parse_http_date(ims)
            not_modified = since is not None and int(st.st_mtime) <= since
        if not_modified:
            fh.close()
            return bottle.HTTPResponse(b"", status=304, **headers)

        size = st.st_size
        range_header = environ.get("HTTP_RANGE")
        if range_header is not None and if_range_allows(
            environ.get("HTTP_IF_RANGE"), etag, st.st_mtime
        ):
            wanted = parse_range(range_header, size)
            if wanted == UNSATISFIABLE:
                fh.close()
                headers["Content-Range"] = f"bytes */{size}"
                headers["Content-Type"] = TEXT
                return bottle.HTTPResponse(
                    f"Range Not Satisfiable: {range_header} (the file has {size} bytes)\n",
                    status=416,
                    **headers,
                )
            if wanted is not None:
                first, last = wanted
                headers["Content-Range"] = f"bytes {first}-{last}/{size}"
                headers["Content-Length"] = str(last - first + 1)
                return bottle.HTTPResponse(
                    _file_range(fh, first, last - first + 1), status=206, **headers
                )
        headers["Content-Length"] = str(size)
        # bottle hands a file object to the server's wsgi.file_wrapper (sendfile).
        return bottle.HTTPResponse(fh, status=200, **headers)
    except BaseException:
        fh.close()
        raise


def _error_page(error: bottle.HTTPError) -> str:
    bottle.response.content_type = TEXT
    if error.status_code >= 500:
        return "Internal Server Error: the server could not answer; see its log.\n"
    body = error.body if isinstance(error.body, str) and error.body else error.status_line
    return f"{body}\n"


class _Bottle(bottle.Bottle):  # type: ignore[misc]
    """Refuses paths that are not UTF-8 before bottle sees them: bottle would drop the
    bad bytes and answer for another URL (``/health%ff`` as ``/health``)."""

    def wsgi(self, environ: dict[str, Any], start_response: Any) -> Any:
        try:
            str(environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8")
        except UnicodeError:
            body = b"Bad Request: the path is not valid UTF-8 once percent-decoded\n"
            start_response(
                "400 Bad Request",
                [("Content-Type", TEXT), ("Content-Length", str(len(body)))],
            )
            return [body]
        return super().wsgi(environ, start_response)


def create_app(config: Config, services: Services) -> bottle.Bottle:
    app = _Bottle(catchall=True)
    app.config["json.enable"] = False
    pages = _PageCache()
    cache = services.cache
    digests = services.digests
    algo = config.hash_algo
    permissions = Permissions(config.authenticate, services.authenticator)

    def refused(
        action: Action, answer: Callable[..., bottle.HTTPResponse] = _text
    ) -> bottle.HTTPResponse | None:
        """The answer (made by ``answer(status, message, **headers)``) to a request that
        ``action`` is not allowed for, else None."""
        decision = permissions.decide(action, bottle.request.environ.get("HTTP_AUTHORIZATION"))
        if decision.allowed:
            return None
        extra = {"WWW-Authenticate": REALM} if decision.status == 401 else {}
        return answer(decision.status, decision.message, **extra)

    def request_path() -> str:
        return str(bottle.request.environ.get("PATH_INFO") or "/")

    def query() -> str:
        return str(bottle.request.environ.get("QUERY_STRING", ""))

    def digest_of(dist: Distribution) -> str | None:
        return digests.get(dist, algo) if algo else None

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
    def simple_noslash() -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        return _redirect(301, relative_location(request_path(), "/simple/", query()))

    @app.get("/simple/")  # type: ignore[untyped-decorator]
    def simple_index() -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        snap = cache.snapshot
        names = snap.project_names
        return _html(pages.get("simple", names, lambda: (render.project_list_html(names), True)))

    def project_page(snap: IndexSnapshot, project: str) -> bytes:
        files = snap.projects[project]

        def make() -> tuple[bytes, bool]:
            complete = True  # a page missing a digest (file vanished) is not kept

            def digest(dist: Distribution) -> str | None:
                nonlocal complete
                found = digest_of(dist)
                complete = complete and (algo is None or found is not None)
                return found

            return render.project_html(project, files, digest, algo), complete

        return pages.get(("project", project), files, make)

    @app.get("/simple/<name>")  # type: ignore[untyped-decorator]
    def simple_project_noslash(name: str) -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        if not is_valid_name(name):
            return _text(404, f"Not Found: {name!r} is not a valid project name")
        target = "/simple/" + quote(normalize(name)) + "/"
        return _redirect(301, relative_location(request_path(), target, query()))

    @app.get("/simple/<name>/")  # type: ignore[untyped-decorator]
    def simple_project(name: str) -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        if not is_valid_name(name):
            return _text(404, f"Not Found: {name!r} is not a valid project name")
        project = normalize(name)
        if project != name:
            target = "/simple/" + quote(project) + "/"
            return _redirect(301, relative_location(request_path(), target, query()))
        snap = cache.snapshot
        if project in snap.projects:
            return _html(project_page(snap, project))
        if config.disable_fallback:
            return _text(404, f"Not Found: {project} does not exist on this index")
        location = config.fallback_url.rstrip("/") + "/" + quote(project) + "/"
        return _redirect(303, location)

    # --- files ----------------------------------------------------------------

    @app.get("/packages")  # type: ignore[untyped-decorator]
    def packages_noslash() -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        return _redirect(301, relative_location(request_path(), "/packages/", query()))

    @app.get("/packages/")  # type: ignore[untyped-decorator]
    def packages_index() -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        snap = cache.snapshot
        files = snap.files

        def make() -> tuple[bytes, bool]:
            return render.packages_html(files[r] for r in sorted(files)), True

        return _html(pages.get("packages", files, make))

    @app.get("/packages/<relpath:path>")  # type: ignore[untyped-decorator]
    def package_file(relpath: str) -> bottle.HTTPResponse:
        if (denied := refused(Action.DOWNLOAD)) is not None:
            return denied
        dist = cache.snapshot.files.get(relpath)
        if dist is None:
            return _text(404, f"Not Found: {relpath} is not a file of this index")
        return serve_file(dist, config.cache_control)

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
        if (denied := refused(Action.UPDATE, api_error)) is not None:
            return denied
        uploader = services.uploader
        if uploader is None:
            return api_error(405, "Method Not Allowed: this server does not take uploads")
        credentials = parse_basic(environ.get("HTTP_AUTHORIZATION"))
        user = credentials[0] if credentials else ""
        try:
            form, staged = uploader.read_form(environ)
            outcome = uploader.dispatch(form, staged, user)
        except UploadError as exc:
            return api_error(exc.status, exc.message)
        return _text(outcome.status, outcome.message)

    app.post("/")(upload)
    app.post("/legacy/")(upload)
    app.post("/legacy")(upload)

    # --- pip's old use of the index root as --index-url -------------------------

    def to_simple(name: str) -> bottle.HTTPResponse:
        if not is_valid_name(name):
            return _text(404, f"Not Found: {name!r}")
        target = "/simple/" + quote(normalize(name)) + "/"
        return _redirect(303, relative_location(request_path(), target, query()))

    app.get("/<name>")(to_simple)
    app.get("/<name>/")(to_simple)

    for code in (400, 404, 405, 413, 500):
        app.error(code)(_error_page)
    return app

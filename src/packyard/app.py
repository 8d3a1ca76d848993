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
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

import bottle
from packaging.version import InvalidVersion, Version

from packyard import __version__, rpc
from packyard.auth import REALM, Action, Authenticator, Permissions, parse_basic
from packyard.config import Config
from packyard.httputil import (
    JSON_V1,
    SIMPLE_TYPES,
    TEXT_HTML,
    UNSATISFIABLE,
    base_url,
    etag_matches,
    http_date,
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
from packyard.storage.cache import IndexCache
from packyard.storage.ledger import PYPI_ALGOS, FileFacts, format_time, version_key
from packyard.upload import Uploader, UploadError

log = logging.getLogger(__name__)

HTML = "text/html; charset=utf-8"
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
METADATA_TYPE = "text/plain; charset=utf-8"
_CHUNK = 1 << 16


@dataclass
class Services:
    """What the application needs at run time, built by ``server``."""

    cache: IndexCache
    welcome_template: str | None = None
    authenticator: Authenticator | None = None
    uploader: Uploader | None = None


class _PageCache:
    """Rendered pages, valid while the snapshot part they were made from is the same
    object (the snapshot is copy-on-write, so identity means "unchanged") and the yank
    state has the same serial number."""

    def __init__(self) -> None:
        self._pages: dict[object, tuple[object, int, bytes]] = {}

    def get(
        self,
        key: object,
        source: object,
        make: Callable[[], tuple[bytes, bool]],
        serial: int = 0,
    ) -> bytes:
        """The page for ``key`` made from ``source``; ``make`` says if it may be kept."""
        hit = self._pages.get(key)
        if hit is not None and hit[0] is source and hit[1] == serial:
            return hit[2]
        page, keep = make()
        if keep:
            self._pages[key] = (source, serial, page)
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
    ledger = cache.ledger
    algo = config.hash_algo
    # Digests a page needs: the configured one for the links, and sha256 for JSON.
    page_algos: tuple[str, ...] = () if algo is None else tuple(dict.fromkeys((algo, "sha256")))
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

    def negotiated() -> str | None:
        """The simple-API format this request asks for (PEP 691), None if none we have."""
        environ = bottle.request.environ
        return negotiate(environ.get("HTTP_ACCEPT"), bottle.request.query.get("format"))

    def simple_answer(body: bytes, fmt: str) -> bottle.HTTPResponse:
        content_type = HTML if fmt == TEXT_HTML else fmt
        return bottle.HTTPResponse(body, status=200, Content_Type=content_type, Vary="Accept")

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
    def simple_noslash() -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        return _redirect(301, relative_location(request_path(), "/simple/", query()))

    @app.get("/simple/")  # type: ignore[untyped-decorator]
    def simple_index() -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        fmt = negotiated()
        if fmt is None:
            return not_acceptable()
        names = cache.snapshot.project_names

        def make() -> tuple[bytes, bool]:
            if fmt == JSON_V1:
                return render.project_list_json(names), True
            return render.project_list_html(names), True

        return simple_answer(pages.get(("simple", fmt), names, make), fmt)

    def project_page(snap: IndexSnapshot, project: str, fmt: str) -> bytes:
        files = snap.projects[project]
        yanks = ledger.yanks

        def make() -> tuple[bytes, bool]:
            # A page missing a file's facts (it vanished meanwhile) is not kept.
            found, complete = entries(files)
            if fmt == JSON_V1:
                return render.project_json(project, found), complete
            return render.project_html(project, found, algo), complete

        return pages.get(("project", project, fmt), files, make, yanks.serial)

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
            fmt = negotiated()
            if fmt is None:
                return not_acceptable()
            return simple_answer(project_page(snap, project, fmt), fmt)
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
            if relpath.endswith(".metadata"):
                return metadata_file(relpath)
            return _text(404, f"Not Found: {relpath} is not a file of this index")
        return serve_file(dist, config.cache_control)

    def metadata_file(relpath: str) -> bottle.HTTPResponse:
        """PEP 658: a wheel's METADATA, byte for byte, at <file URL>.metadata."""
        dist = cache.snapshot.files.get(relpath.removesuffix(".metadata"))
        if dist is None:
            return _text(404, f"Not Found: {relpath} is not a file of this index")
        facts = ledger.facts(dist, page_algos)
        body = ledger.metadata_body(dist, facts) if facts and facts.core_metadata else None
        if facts is None or facts.core_metadata is None or body is None:
            return _text(404, f"Not Found: {dist.filename} has no core metadata file")
        headers = {"Content-Type": METADATA_TYPE, "ETag": f'"{facts.core_metadata}"'}
        if config.cache_control is not None:
            headers["Cache-Control"] = f"public, max-age={config.cache_control}"
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
            except InvalidVersion:
                return False

        yanks = ledger.yanks
        versions = list(dict.fromkeys(d.version for d in files))  # ascending
        live_set = {d.version for d in files if yanks.reason(ledger.root_index(d), d) is None}
        live = [v for v in versions if v in live_set]
        final = [v for v in live if is_final(v)]
        return (final or live or versions)[-1]

    def pypi_project_json(name: str, version: str | None) -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST, json_error)) is not None:
            return denied
        if not is_valid_name(name):
            return json_error(404, f"Not Found: {name!r} is not a valid project name")
        project = normalize(name)
        if project != name:
            # Only the name segment changes; keep the rest of the path as it came.
            path = request_path()
            head, sep, tail = path.rpartition("/" + name + "/")
            target = head + "/" + quote(project) + "/" + tail if sep else path
            return _redirect(301, relative_location(path, target, query()))
        snap = cache.snapshot
        files = snap.projects.get(project)
        if files is None:
            return json_error(404, f"Not Found: {project} does not exist on this index")
        base = base_url(bottle.request.environ)
        yanks = ledger.yanks

        def make() -> tuple[bytes, bool]:
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

        body = pages.get(("pypi", project, version, base), files, make, yanks.serial)
        if not body:
            return json_error(404, f"Not Found: {project} has no release {version}")
        return bottle.HTTPResponse(body, status=200, Content_Type=JSON)

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
        files = cache.snapshot.projects.get(project)
        if not files:
            return None
        latest = latest_version(files)
        release = [d for d in files if d.version == latest]
        meta = release_metadata([(d, ledger.facts(d, page_algos)) for d in release])
        summary = (meta.get("summary") if meta else None) or ""
        shown = (meta.get("name") if meta else None) or project
        return rpc.Hit(name=shown, version=latest, summary=summary)

    def versions_of(name: str) -> list[str]:
        files = cache.snapshot.projects.get(normalize(name), ())
        return list(dict.fromkeys(d.version for d in reversed(files)))

    catalogue = rpc.Catalogue(
        project_names=lambda: cache.snapshot.project_names,
        versions=versions_of,
        describe=describe,
    )

    @app.post("/RPC2")  # type: ignore[untyped-decorator]
    def rpc2() -> bottle.HTTPResponse:
        if (denied := refused(Action.LIST)) is not None:
            return denied
        body = bottle.request.environ["wsgi.input"].read(rpc.MAX_BODY + 1)
        try:
            answer = rpc.handle(body, catalogue)
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
        if str(environ.get("CONTENT_TYPE", "")).lower().startswith("text/xml"):
            # XML-RPC clients given the index root (pip search --index URL/) post here.
            return rpc2()
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

    for code in (400, 404, 405, 406, 413, 500):
        app.error(code)(_error_page)
    return app

"""Builds the services, runs waitress, and owns start-up and shutdown."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import waitress
from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser, ParsingError
from waitress.task import WSGITask

from packyard import __version__, multipart, proxy
from packyard.accesslog import AccessLog
from packyard.app import Services, create_app
from packyard.auth import HtpasswdAuthenticator
from packyard.config import Config
from packyard.storage.cache import IndexCache
from packyard.storage.directory import Root
from packyard.storage.ledger import Ledger
from packyard.storage.watcher import Watcher
from packyard.upload import Uploader, cleanup_staging

log = logging.getLogger(__name__)
# The start-up line is always logged (tests and users read the address from it).
banner = logging.getLogger("packyard.startup")
banner.setLevel(logging.INFO)


@dataclass
class Running:
    """A started server: its WSGI server, address and background services."""

    server: Any
    watcher: Watcher
    services: Services
    url: str

    def stop(self) -> None:
        self.watcher.stop()
        self.server.close()
        self.services.cache.ledger.close()


class _RequestParser(HTTPRequestParser):  # type: ignore[misc]
    """waitress's request parser, with a header it cannot convert (a Content-Length of
    more digits than int() takes) answered 400 like its other malformed headers;
    waitress itself closes the connection without an answer."""

    def parse_header(self, header_plus: bytes) -> None:
        try:
            super().parse_header(header_plus)
        except ParsingError:
            raise
        except ValueError:
            raise ParsingError("a header value is invalid (Content-Length?)") from None


class _Task(WSGITask):  # type: ignore[misc]
    """waitress's request task, keeping an HTTP/1.1 connection open after an answer
    that has no body by definition (304 Not Modified, 204, 1xx). waitress closes every
    HTTP/1.1 answer without a Content-Length, and those must not carry one, so each
    revalidation (uv's If-None-Match) cost a new connection."""

    _bodiless_keep_alive = False

    def build_response_header(self) -> Any:
        self._bodiless_keep_alive = (
            not self.has_body
            and self.version == "1.1"
            and not self.close_on_finish
            and self.request.headers.get("CONNECTION", "").lower() != "close"
        )
        try:
            return super().build_response_header()
        finally:
            self._bodiless_keep_alive = False

    def set_close_on_finish(self) -> None:
        if self._bodiless_keep_alive:
            return  # nothing follows the head: the next request can use the connection
        super().set_close_on_finish()


class _Channel(HTTPChannel):  # type: ignore[misc]
    parser_class = _RequestParser
    task_class = _Task


def _use_our_channel(server: Any) -> None:
    """Every listening socket of ``server`` (one, or several with their own maps)."""
    if hasattr(server, "channel_class"):
        server.channel_class = _Channel
    for sub in getattr(server, "map", {}).values():
        if hasattr(sub, "channel_class"):
            sub.channel_class = _Channel


def build(config: Config, welcome_template: str | None = None) -> tuple[Any, Services, Watcher]:
    """Scan, start the watcher, and make the WSGI application (with the access log at
    -v). Raises ConfigError for a password file that cannot be used."""
    authenticator = (
        HtpasswdAuthenticator(config.password_file) if config.password_file is not None else None
    )
    roots = [Root.of(str(root)) for root in config.roots]
    cache = IndexCache(roots, Ledger(roots))
    for root in cache.roots:
        removed = cleanup_staging(root.path)
        if removed:
            log.warning("removed %d unfinished upload(s) left in %s", removed, root.path)
    cache.rescan()
    watcher = Watcher(cache)
    watcher.start()
    limits = multipart.Limits(
        max_field_bytes=min(multipart.Limits.max_field_bytes, config.max_form_size),
        max_text_bytes=config.max_form_size,
        max_fields=config.max_form_fields,
    )
    uploader = Uploader(
        cache, overwrite=config.overwrite, max_size=config.max_upload_size, limits=limits
    )
    services = Services(
        cache=cache,
        welcome_template=welcome_template,
        authenticator=authenticator,
        uploader=uploader,
    )
    app: Any = create_app(config, services)
    app = proxy.wrap(app, config.trusted_proxy, config.server_base_url)
    if config.verbose >= 1:
        # Outermost, so it also logs what the proxy layer answered itself (400, 404).
        app = AccessLog(app)
    return app, services, watcher


def start(config: Config, welcome_template: str | None = None) -> Running:
    """Build the application and bind the socket; ``Running.server.run()`` serves.

    Raises ConfigError for a password file that cannot be used, OSError when the
    address cannot be bound.
    """
    app, services, watcher = build(config, welcome_template)
    snap = services.cache.snapshot
    try:
        server = waitress.create_server(
            app,
            host=config.host,
            port=config.port,
            ident="packyard",
            threads=config.threads,
            connection_limit=config.connection_limit,
            max_request_header_size=config.max_header_size,
            channel_timeout=config.channel_timeout,
            # How often waitress looks for silent connections (its default, 30 s, would
            # let a short --channel-timeout run much longer).
            cleanup_interval=max(1, min(30, config.channel_timeout // 2)),
            # waitress would drop every X-Forwarded-* header; packyard.proxy decides
            # which peers to believe (--trusted-proxy), and ignores them otherwise.
            clear_untrusted_proxy_headers=not config.trusted_proxy,
            # Room for the form fields around the largest file; our own check answers
            # first with a clear 413.
            max_request_body_size=config.max_upload_size + (128 << 20),
        )
    except BaseException:
        watcher.stop()
        services.cache.ledger.close()
        raise
    _use_our_channel(server)
    listening = getattr(server, "effective_listen", None) or [
        (server.effective_host, server.effective_port)
    ]
    urls = [f"http://{f'[{h}]' if ':' in str(h) else h}:{p}/" for h, p in listening]
    url = urls[0]
    banner.info(
        "packyard %s serving %d files of %d projects from %s at %s (file events: %s, %d threads)",
        __version__,
        len(snap.files),
        len(snap.project_names),
        ", ".join(str(r) for r in config.roots),
        " and ".join(urls),
        watcher.mode,
        config.threads,
    )
    return Running(server=server, watcher=watcher, services=services, url=url)


def run(config: Config, welcome_template: str | None = None) -> int:
    running = start(config, welcome_template)
    stop_requested = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        stop_requested.set()
        raise SystemExit(0)

    previous: dict[signal.Signals, Callable[..., Any] | int | None] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        previous[sig] = signal.signal(sig, on_signal)
    try:
        running.server.run()  # returns on SystemExit / KeyboardInterrupt
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        running.stop()
        banner.info("packyard stopped")
    return 0

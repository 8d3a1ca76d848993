"""Builds the services, runs waitress, and owns start-up and shutdown."""

from __future__ import annotations

import io
import logging
import signal
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import Any

import waitress

from packyard import __version__, multipart, proxy, transport
from packyard.accesslog import AccessLog
from packyard.app import Services, create_app
from packyard.auth import HtpasswdAuthenticator
from packyard.config import Config
from packyard.guards import Guards
from packyard.httputil import BODY_PROBE
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
    app = Guards(app, cache)  # UTF-8 paths, cross-process sync, 503 while a root is gone
    app = proxy.wrap(app, config.trusted_proxy, config.server_base_url)
    services.may_read_body = _body_gate(app)
    if config.verbose >= 1:
        # Outermost, so it also logs what the proxy layer answered itself (400, 404).
        app = AccessLog(app)
    return app, services, watcher


def _body_gate(app: Any) -> transport.Gate:
    """Asks the application, through the middleware in front of it (packyard.proxy's
    path prefix and forwarded headers), whether a request's body may be read."""

    def gate(head: Mapping[str, Any]) -> bool:
        verdict: list[bool] = []
        app({**head, "wsgi.input": io.BytesIO(), BODY_PROBE: verdict}, _ignore)
        return verdict == [True]

    return gate


def _ignore(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    """start_response for a probe: what a middleware would answer is not sent."""


def _limits(config: Config, gate: transport.Gate | None) -> transport.Limits:
    per_address = config.max_connections_per_address
    if per_address is None:
        # At least 16: a client closing one connection and opening the next may be
        # accepted before its close is seen, and pip or uv open several at once.
        per_address = max(16, config.connection_limit // 4)
    exempt = None
    if config.trusted_proxy:
        # A proxy carries many clients' connections; it limits them itself.
        exempt = proxy.Forwarded(_no_app, config.trusted_proxy).trusts
    return transport.Limits(
        gate=gate,
        header_timeout=config.header_timeout,
        per_address=per_address,
        exempt=exempt,
    )


def _no_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    raise NotImplementedError  # only Forwarded.trusts is used


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
            cleanup_interval=max(
                1, min(30, config.channel_timeout // 2, config.header_timeout // 2)
            ),
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
    transport.install(server, _limits(config, services.may_read_body))
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

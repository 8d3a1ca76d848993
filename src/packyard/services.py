"""The composition root: Config -> the services every entry point runs on.

``pypi-server run`` (through ``server``), ``packyard.wsgi.create`` and every command build
what they need here and nowhere else: the start-up checks of the files the configuration
names, the logging set-up, the storage objects over the packages directories
(``open_storage``), and for serving the authenticator, the uploader, the watcher and
the WSGI application with its middleware (``build``). Nothing happens at import.
"""

from __future__ import annotations

import io
import logging
import os
import stat
import sys
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from packyard import multipart, proxy, transport
from packyard.accesslog import AccessLog
from packyard.app import Services, create_app
from packyard.auth import HtpasswdAuthenticator
from packyard.config import Config
from packyard.errors import ConfigError, read_text_file
from packyard.guards import Guards
from packyard.httputil import BODY_PROBE
from packyard.index.render import unknown_placeholders
from packyard.storage.cache import IndexCache
from packyard.storage.directory import Root
from packyard.storage.ledger import Ledger
from packyard.storage.local import DirectoryRepository
from packyard.storage.staging import cleanup_staging
from packyard.storage.watcher import Watcher
from packyard.upload import Uploader

log = logging.getLogger(__name__)
# The start-up line ("serving N files ... at URL") is always logged: tests and users
# read the address from it. setup_logging sets its level (an import sets nothing).
STARTUP_LOG = "packyard.startup"


def prepare(config: Config) -> str | None:
    """The start-up steps every server (``run`` and ``wsgi``) takes before ``build``:
    check the files the configuration names, set up logging, log what the checks
    noticed. Returns the welcome template; raises ConfigError with one line."""
    welcome, notes = check_environment(config)
    setup_logging(config)
    for note in notes:
        log.warning("%s", note)
    return welcome


def open_storage(roots: Sequence[Path | str]) -> IndexCache:
    """The storage objects over the packages directories, not yet scanned (the caller
    closes ``.ledger``)."""
    dirs = [Root.of(str(root)) for root in roots]
    return IndexCache(dirs, Ledger(dirs))


def build(config: Config, welcome_template: str | None = None) -> tuple[Any, Services, Watcher]:
    """Scan, start the watcher, and make the WSGI application (with the access log at
    -v). Raises ConfigError for a password file that cannot be used."""
    authenticator = (
        HtpasswdAuthenticator(config.password_file) if config.password_file is not None else None
    )
    cache = open_storage(config.roots)
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
    repository = DirectoryRepository(cache)
    uploader = Uploader(
        repository, overwrite=config.overwrite, max_size=config.max_upload_size, limits=limits
    )
    services = Services(
        cache=cache,
        welcome_template=welcome_template,
        authenticator=authenticator,
        uploader=uploader,
        repository=repository,
    )
    app: Any = create_app(config, services)
    # UTF-8 paths, other processes' changes, 503 while a directory is gone: before
    # the routes, behind the proxy layer (which may answer 400 itself).
    app = Guards(app, cache)
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


def _check_upload_directory(config: Config) -> None:
    """Refuse to start when uploads are possible but would all fail: the first packages
    directory (where uploads go) is not writable. The Docker entrypoint refuses too."""
    uploads = config.password_file is not None or "update" not in config.authenticate
    if not uploads or not config.roots or os.access(config.roots[0], os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(config.roots[0]).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    why = "it is on a read-only file system" if read_only else "permission denied"
    raise ConfigError(
        f"packages directory {config.roots[0]} is not writable ({why}), so every upload "
        "would fail: make it writable, or start without -P and -a for an index without uploads"
    )


def check_environment(config: Config) -> tuple[str | None, list[str]]:
    """Start-up checks of the files the configuration names.

    Returns the welcome template and warnings to log; raises ConfigError with a
    one-line message. Runs before logging is set up, so it logs nothing itself."""
    for root in config.roots:
        try:
            mode = root.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise ConfigError(f"packages directory {root} does not exist") from None
        except OSError as exc:
            raise ConfigError(
                f"packages directory {root} cannot be examined: {exc.strerror or exc}"
            ) from None
        if not stat.S_ISDIR(mode):
            raise ConfigError(f"packages directory {root} is not a directory")
        try:
            with os.scandir(root):
                pass
        except OSError as exc:
            raise ConfigError(
                f"packages directory {root} cannot be read: {exc.strerror or exc}"
            ) from None
    _check_upload_directory(config)
    if config.password_file is not None:
        try:
            with config.password_file.open("rb"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"password file {config.password_file} cannot be read: {exc.strerror or exc}"
            ) from None
    welcome = None
    notes: list[str] = []
    if config.welcome_file is not None:
        welcome = read_text_file(config.welcome_file, "welcome file")
        unknown = unknown_placeholders(welcome)
        if unknown:
            notes.append(
                f"welcome file {config.welcome_file}: unknown placeholders left as they "
                f"are: {', '.join(unknown)}"
            )
    if config.log_file is not None:
        try:
            with config.log_file.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"log file {config.log_file} cannot be written: {exc.strerror or exc}"
            ) from None
    return welcome, notes


def setup_logging(config: Config) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(config.verbose, logging.DEBUG)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(config.log_format)
    handlers: list[logging.Handler] = []
    if config.log_stream != "none":
        handlers.append(
            logging.StreamHandler(sys.stdout if config.log_stream == "stdout" else sys.stderr)
        )
    if config.log_file is not None:
        handlers.append(logging.FileHandler(config.log_file, encoding="utf-8"))
    if not handlers:
        handlers.append(logging.NullHandler())
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger(STARTUP_LOG).setLevel(logging.INFO)
    # Python warnings (from libraries too) go where the log goes, not to bare stderr.
    logging.captureWarnings(True)
    warnings.filterwarnings(
        "ignore", message="Callback with id", category=RuntimeWarning, module="watchdog"
    )
    # watchdog's per-event debugging is noise even at -vv.
    logging.getLogger("watchdog").setLevel(max(level, logging.INFO))
    # waitress warns "Task queue depth is N" on nearly every request under load: a
    # line per request that fills disks and costs 10% of the CPU (seen in the
    # benchmark). Busy is not an error; the access log (-v) shows the load.
    logging.getLogger("waitress.queue").setLevel(max(level, logging.ERROR))

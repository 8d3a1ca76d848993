"""The whole WSGI app in-process, built by the same code ``packyard run`` uses.

Component tests that need the whole app get it from here: ``app_from_args`` (the ``serve_app``
fixture, the arguments of ``packyard run``) or ``build_app`` (the ``app`` and ``make_app``
fixtures, ``Config`` fields). Both end in ``_build``, so when the composition root or the
storage backend changes, this module is the one place to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.forms import Reply
from helpers.server import Response
from helpers.wsgi import call, post_form, request
from packyard.commands.run import parse_config
from packyard.config import Config
from packyard.services import build, check_environment


@dataclass
class App:
    """A built app, the packages directory it serves, and the way to stop it."""

    wsgi: Any
    packages: Path
    close: Callable[[], None]
    url: str = "http://127.0.0.1:8080/"  # what the app sees: the Host of helpers.wsgi.request

    def call(self, path: str, *args: Any, **kwargs: Any) -> tuple[str, dict[str, str], bytes]:
        """One request through the shared WSGI client (see ``helpers.wsgi.call``)."""
        return call(self.wsgi, path, *args, **kwargs)

    def http(
        self,
        target: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
    ) -> Response:
        """Like ``helpers.server.http``: ``target`` is a URL under ``self.url`` (as a
        ``Server``'s) or a path with its query; a #fragment is not sent."""
        if target.startswith(self.url):
            target = "/" + target.removeprefix(self.url)
        elif "://" in target:
            raise ValueError(f"{target} is not under {self.url}")
        return request(self.wsgi, target.partition("#")[0], method, headers, data)

    def post(self, body: bytes, content_type: str, **kwargs: Any) -> Reply:
        """Like ``helpers.forms.post``, in-process."""
        return post_form(self.wsgi, body, content_type, **kwargs)


def build_app(packages: Path, **options: Any) -> App:
    """The app over ``packages`` (one root) with ``Config`` fields as ``options``."""
    return _build(Config(roots=(packages,), **options))


def app_from_args(*args: str | Path) -> App:
    """The app ``packyard run *args`` would serve (the same arguments as the ``serve``
    fixture takes; no environment variable is read)."""
    config, _ = parse_config(["run", *map(str, args)], {})
    welcome, _notes = check_environment(config)
    return _build(config, welcome)


def _build(config: Config, welcome: str | None = None) -> App:
    wsgi_app, services, watcher = build(config, welcome)

    def close() -> None:
        watcher.stop()
        services.cache.ledger.close()

    return App(wsgi_app, config.roots[0] if config.roots else Path(), close)

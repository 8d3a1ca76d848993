"""The whole WSGI app in-process, built by the same code ``packyard run`` uses.

Every component test gets its app from ``build_app`` (through the ``app`` and ``make_app``
fixtures), so when the composition root or the storage backend changes, this is the one place
to change.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.wsgi import call
from packyard.config import Config
from packyard.server import build


@dataclass
class App:
    """A built app, the packages directory it serves, and the way to stop it."""

    wsgi: Any
    packages: Path
    close: Callable[[], None]

    def call(self, path: str, *args: Any, **kwargs: Any) -> tuple[str, dict[str, str], bytes]:
        """One request through the shared WSGI client (see ``helpers.wsgi.call``)."""
        return call(self.wsgi, path, *args, **kwargs)


def build_app(packages: Path, **options: Any) -> App:
    """The app over ``packages`` (one root) with ``Config`` fields as ``options``."""
    config = Config(roots=(packages,), **options)
    wsgi_app, services, watcher = build(config)

    def close() -> None:
        watcher.stop()
        services.cache.ledger.close()

    return App(wsgi_app, packages, close)

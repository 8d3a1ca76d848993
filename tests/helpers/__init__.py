"""Test helpers, one of each: the server (``server``), clients (``clients``), password files
(``htpasswd``), distributions (``dists``, ``bombs``), forms and uploads (``forms``,
``upload``), and the in-process app with its WSGI client (``app``, ``wsgi``).

The fixtures are in ``helpers.plugin``, which tests/conftest.py loads; tests import the
functions from here (``from helpers import http``) or from the submodules.
"""

from __future__ import annotations

from helpers.clients import Clients, uv_binary
from helpers.htpasswd import HTPASSWD, add_user
from helpers.server import (
    BIN,
    Response,
    Server,
    Site,
    clean_environ,
    have,
    http,
    start_server,
    wait_for,
)

__all__ = [
    "BIN",
    "HTPASSWD",
    "Clients",
    "Response",
    "Server",
    "Site",
    "add_user",
    "clean_environ",
    "have",
    "http",
    "start_server",
    "uv_binary",
    "wait_for",
]

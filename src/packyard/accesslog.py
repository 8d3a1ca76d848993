"""One log line per request (at -v): client address, method, path, status, bytes,
duration."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

log = logging.getLogger("packyard.access")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


def _encoded(text: str, safe: str) -> str:
    """``text`` percent-encoded. WSGI strings carry the request's bytes as latin-1
    characters, so they are encoded back to those bytes (not to UTF-8, which would
    show a non-ASCII byte as two)."""
    return quote(text, safe=safe, encoding="latin-1", errors="backslashreplace")


class AccessLog:
    """WSGI middleware. The duration is the time the application took to produce the
    response; sending a large file to a slow client is not part of it. It returns the
    application's iterable unchanged so file responses keep the server's sendfile path.
    """

    def __init__(self, app: WSGIApp) -> None:
        self._app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        seen: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen["status"] = status
            seen["headers"] = headers
            return start_response(status, headers, exc_info)

        result = self._app(environ, capture)
        elapsed_ms = (time.perf_counter() - started) * 1000
        length = next((v for k, v in seen.get("headers", ()) if k.lower() == "content-length"), "-")
        # Everything the client sent is percent-encoded, so no client can write control
        # characters to the log. The whole path the request came with (a path prefix
        # moves into SCRIPT_NAME).
        whole = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        path = _encoded(whole, "/:@!$&'()*+,;=-._~")
        qs = environ.get("QUERY_STRING")
        if qs:
            path += "?" + _encoded(str(qs), "/:@!$&'()*+,;=-._~%?")
        log.info(
            "%s %s %s %s %s %.1fms",
            # The client's address (as a trusted proxy reported it, see packyard.proxy).
            _encoded(str(environ.get("REMOTE_ADDR") or "-"), ":"),
            _encoded(str(environ.get("REQUEST_METHOD", "-")), ""),
            path,
            str(seen.get("status", "-")).split(" ", 1)[0],
            length,
            elapsed_ms,
        )
        return result

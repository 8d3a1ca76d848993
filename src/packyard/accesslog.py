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
        # Paths are percent-encoded so no client can write control characters to the log.
        # The whole path the request came with (a path prefix moves into SCRIPT_NAME).
        whole = str(environ.get("SCRIPT_NAME", "")) + str(environ.get("PATH_INFO", ""))
        path = quote(whole, safe="/:@!$&'()*+,;=-._~")
        qs = environ.get("QUERY_STRING")
        if qs:
            path += "?" + quote(str(qs), safe="/:@!$&'()*+,;=-._~%?")
        log.info(
            "%s %s %s %s %s %.1fms",
            # The client's address (as a trusted proxy reported it, see packyard.proxy).
            quote(str(environ.get("REMOTE_ADDR") or "-"), safe=":"),
            quote(str(environ.get("REQUEST_METHOD", "-")), safe=""),
            path,
            str(seen.get("status", "-")).split(" ", 1)[0],
            length,
            elapsed_ms,
        )
        return result

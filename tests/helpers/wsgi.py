"""The tiny WSGI client of the component tests: one request to an app in-process.

No socket and no server: the environ is built here, the app is called, and its whole answer
(status line, headers with lower-case names, body) is returned after the iterable is closed.
"""

from __future__ import annotations

import io
from typing import Any


def call(
    app: Any,
    path: str,
    script_name: str = "",
    query: str = "",
    *,
    method: str = "GET",
    body: bytes = b"",
    content_type: str = "",
    scheme: str = "https",
    host: str = "proxy.example",
    port: str = "443",
    remote_addr: str | None = None,
    **headers: str,
) -> tuple[str, dict[str, str], bytes]:
    """``headers`` are given as keyword arguments (``if_none_match="..."`` is the
    If-None-Match header); the request body is sent with its Content-Length."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": script_name,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": host.rsplit(":", 1)[0],
        "SERVER_PORT": port,
        "HTTP_HOST": host,
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        **{"HTTP_" + k.upper(): v for k, v in headers.items()},
    }
    if body or method not in ("GET", "HEAD"):
        environ["CONTENT_LENGTH"] = str(len(body))
    if content_type:
        environ["CONTENT_TYPE"] = content_type
    if remote_addr is not None:
        environ["REMOTE_ADDR"] = remote_addr
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"] = status
        seen["headers"] = {k.lower(): v for k, v in headers}

    result = app(environ, start_response)
    try:
        payload = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return str(seen["status"]), seen["headers"], payload

"""The tiny WSGI client of the component tests: one request to an app in-process.

No socket and no server: the environ is built here, the app is called, and its whole answer
(status line, headers with lower-case names, body) is returned after the iterable is closed.
"""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import unquote_to_bytes

from helpers.forms import Reply
from helpers.server import Response


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


def request(
    app: Any,
    target: str,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
) -> Response:
    """``helpers.server.http`` in-process: ``target`` is the path with its query, headers
    are given by their HTTP names; a plain http://127.0.0.1:8080 request."""
    path, _, query = target.partition("?")
    path = unquote_to_bytes(path).decode("latin-1")  # as a server decodes PATH_INFO (PEP 3333)
    fields = {k.lower(): v for k, v in (headers or {}).items()}
    content_type = fields.pop("content-type", "")
    fields.setdefault("host", "127.0.0.1:8080")
    status, answer, body = call(
        app,
        path,
        query=query,
        method=method,
        body=data or b"",
        content_type=content_type,
        scheme="http",
        host=fields.pop("host"),
        port="8080",
        remote_addr="127.0.0.1",
        **{k.replace("-", "_"): v for k, v in fields.items()},
    )
    return Response(int(status.split(" ", 1)[0]), answer, body)


def post_form(
    app: Any,
    body: bytes,
    content_type: str,
    *,
    path: str = "/",
    authorization: str | None = None,
    accept: str | None = "*/*",
) -> Reply:
    """``helpers.forms.post`` in-process (the same checks on the answer)."""
    headers = {"Content-Type": content_type}
    if authorization is not None:
        headers["Authorization"] = authorization
    if accept is not None:
        headers["Accept"] = accept
    status, answer, payload = call(
        app,
        path,
        method="POST",
        body=body,
        content_type=content_type,
        scheme="http",
        host="127.0.0.1:8080",
        port="8080",
        remote_addr="127.0.0.1",
        **{k.lower(): v for k, v in headers.items() if k != "Content-Type"},
    )
    code, _, reason = status.partition(" ")
    reply = Reply(int(code), reason, answer, payload)
    # The upload URL never redirects: twine and poetry fail on any 3xx.
    assert not 300 <= reply.status < 400, reply
    return reply

"""Bounded HTTP fetching for ``pypi-server update``: what a hostile upstream cannot do.

``update`` downloads from an index it does not control, and urllib alone trusts it too
much: its default opener follows a redirect to ``ftp://`` and has handlers for
``file:`` and ``data:`` URLs, and its timeout bounds each socket operation, not a
whole download, so a server that sends one byte a second keeps a download going for
ever. This module gives ``update``:

- ``opener``: http(s) handlers only (no ftp, file or data handler at all), and a
  redirect to any other scheme refused with a one-line ``FetchError``;
- ``Deadline``: a wall-clock limit on one request, from the connection to the last
  byte. When it passes, a timer thread shuts the request's sockets down, which is the
  one way to end a ``recv`` blocked in another thread; the reader then sees an error
  or an early end and asks ``expired``;
- ``read_bounded``: reads a body in chunks and stops at a byte limit + 1.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import string
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from functools import partial
from typing import IO, Any

CHUNK = 1 << 16
SCHEMES = ("http", "https")


class FetchError(Exception):
    """A fetch refused or cut short; the message is one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TooLarge(FetchError):
    """The body has more bytes than allowed."""


class Deadline:
    """A wall-clock limit on one request: use as a context manager around it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def watch(self, sock: socket.socket) -> socket.socket:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        with self._lock:
            self._sockets.append(sock)
            expired = self.expired
        if expired:
            _shut(sock)
        return sock

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for a TLS socket: it ends a blocked recv
    # without touching the TLS object another thread is using.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _watch(connection: http.client.HTTPConnection, deadline: Deadline) -> None:
    create = connection._create_connection  # type: ignore[attr-defined]

    def watched(*args: Any, **kwargs: Any) -> socket.socket:
        return deadline.watch(create(*args, **kwargs))

    connection._create_connection = watched  # type: ignore[attr-defined]


class _WatchedHTTP(http.client.HTTPConnection):
    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _watch(self, deadline)


class _WatchedHTTPS(http.client.HTTPSConnection):
    def __init__(self, *args: Any, deadline: Deadline, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        _watch(self, deadline)

    def connect(self) -> None:
        super().connect()
        self._deadline.watch(self.sock)  # the TLS socket that replaced the plain one


class _HTTP(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_WatchedHTTP, deadline=self.deadline), req)


class _HTTPS(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_WatchedHTTPS, deadline=self.deadline), req)


def printable(url: str) -> str:
    """``url`` with control characters, spaces and non-ASCII percent-encoded."""
    return urllib.parse.quote(url, safe=string.punctuation)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) only. urllib itself follows ``ftp://`` too, and
    answers ``file:`` with an HTTPError that reads like a server's failure."""

    def http_error_302(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
    ) -> Any:
        location = headers.get("Location") or headers.get("URI")
        if location is not None:
            target = urllib.parse.urljoin(req.full_url, location.strip())
            if urllib.parse.urlsplit(target).scheme.lower() not in SCHEMES:
                fp.close()
                raise FetchError(
                    f"{req.full_url}: redirected to {printable(target)}; refused, "
                    "only http(s) redirects are followed"
                )
        return super().http_error_302(req, fp, code, msg, headers)

    http_error_301 = http_error_303 = http_error_307 = http_error_308 = http_error_302


def opener(
    deadline: Deadline, extra: Sequence[urllib.request.BaseHandler] = ()
) -> urllib.request.OpenerDirector:
    """An opener for http(s) URLs only, whose sockets ``deadline`` watches."""
    director = urllib.request.OpenerDirector()
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(),
        urllib.request.UnknownHandler(),
        _HTTP(deadline),
        _HTTPS(deadline),
        urllib.request.HTTPDefaultErrorHandler(),
        _Redirects(),
        urllib.request.HTTPErrorProcessor(),
        *extra,
    ]
    for handler in handlers:
        director.add_handler(handler)
    return director


def read_bounded(
    response: http.client.HTTPResponse, limit: int, write: Callable[[bytes], None]
) -> int:
    """Pass the body to ``write`` chunk by chunk; returns its size.

    Reads at most ``limit`` + 1 bytes: one more than ``limit`` raises ``TooLarge``
    (and nothing past ``limit`` is written). A body that ends before its
    Content-Length raises ``FetchError``. Each read returns what one ``recv`` gives, so
    a trickle is read as it comes and a ``Deadline`` can end it.
    """
    received = 0
    while chunk := response.read1(min(CHUNK, limit + 1 - received)):
        received += len(chunk)
        if received > limit:
            raise TooLarge(f"more than {limit} bytes")
        write(chunk)
    if response.length:  # what Content-Length announced and never came
        raise FetchError(
            f"the connection closed after {received} of {received + response.length} bytes"
        )
    return received

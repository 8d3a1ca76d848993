"""The checks every request passes before the application: WSGI middleware.

``Guards`` sits directly in front of the bottle app (inside ``proxy.wrap``, so it sees
the path with the mount prefix already removed) and does the three things that used to
be hidden in the app's own ``wsgi`` method:

- refuses a path that is not UTF-8 once percent-decoded (400): bottle would drop the
  bad bytes and answer for another URL (``/health%ff`` as ``/health``);
- takes in other processes' uploads and yanks (``sync()``), once per request;
- answers 503 while a packages directory cannot be read, rather than an index that
  silently lacks its files.

A body probe from ``packyard.transport`` (the head of a request, asking whether its
body may be read) passes the UTF-8 check (a bad path gets no verdict, so no body) but
not the sync: it is not a request yet, and the request itself syncs a moment later.

The storage seam is one object with ``sync()`` and ``unavailable`` (a mapping, empty
while every directory can be read): today ``storage.cache.IndexCache``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from packyard.httputil import BODY_PROBE

TEXT = "text/plain; charset=utf-8"
BAD_PATH = b"Bad Request: the path is not valid UTF-8 once percent-decoded\n"
UNAVAILABLE = (
    b"Service Unavailable: a packages directory of this index cannot be read "
    b"(see the server's log); try again later\n"
)


class Syncing(Protocol):
    """What the guards need of the storage."""

    @property
    def unavailable(self) -> Mapping[int, str]: ...

    def sync(self) -> None: ...


class Guards:
    """WSGI middleware: UTF-8 paths, cross-process sync, 503 while storage is gone."""

    def __init__(self, app: Any, storage: Syncing) -> None:
        self.app = app
        self.storage = storage

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        try:
            str(environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8")
        except UnicodeError:
            return _plain(start_response, "400 Bad Request", BAD_PATH)
        if BODY_PROBE not in environ:
            storage = self.storage
            storage.sync()
            if storage.unavailable:
                return _plain(
                    start_response,
                    "503 Service Unavailable",
                    UNAVAILABLE,
                    ("Retry-After", "30"),
                )
        return self.app(environ, start_response)  # type: ignore[no-any-return]


def _plain(start_response: Any, status: str, body: bytes, *extra: tuple[str, str]) -> list[bytes]:
    start_response(status, [("Content-Type", TEXT), ("Content-Length", str(len(body))), *extra])
    return [body]

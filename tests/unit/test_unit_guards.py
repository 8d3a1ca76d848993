"""Guards: the middleware every request passes before the app."""

from __future__ import annotations

from typing import Any

from packyard.guards import Guards
from packyard.httputil import BODY_PROBE


class Storage:
    def __init__(self) -> None:
        self.unavailable: dict[int, str] = {}
        self.syncs = 0

    def sync(self) -> None:
        self.syncs += 1


def inner(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Length", "2")])
    return [b"ok"]


def call(app: Any, path: str, **extra: Any) -> tuple[str, dict[str, str], bytes]:
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        seen["status"], seen["headers"] = status, dict(headers)

    body = b"".join(app({"PATH_INFO": path, **extra}, start_response))
    return seen.get("status", ""), seen.get("headers", {}), body


def test_a_path_that_is_not_utf8_is_refused() -> None:
    storage = Storage()
    status, headers, body = call(Guards(inner, storage), "/health\xff")
    assert status == "400 Bad Request"
    assert body == b"Bad Request: the path is not valid UTF-8 once percent-decoded\n"
    assert headers["Content-Length"] == str(len(body))
    assert call(Guards(inner, storage), "/simple/caf\xc3\xa9/")[0] == "200 OK"


def test_every_request_syncs_and_503_while_storage_is_unavailable() -> None:
    storage = Storage()
    app = Guards(inner, storage)
    assert call(app, "/simple/")[2] == b"ok"
    assert storage.syncs == 1
    storage.unavailable[0] = "gone"
    status, headers, body = call(app, "/simple/")
    assert status == "503 Service Unavailable"
    assert headers["Retry-After"] == "30"
    assert body.startswith(b"Service Unavailable: a packages directory")
    assert storage.syncs == 2


def test_a_body_probe_is_not_synced_nor_refused_for_unavailable_storage() -> None:
    storage = Storage()
    storage.unavailable[0] = "gone"
    verdict: list[bool] = []
    assert call(Guards(inner, storage), "/", **{BODY_PROBE: verdict})[0] == "200 OK"
    assert storage.syncs == 0

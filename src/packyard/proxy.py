"""Requests that reach packyard through a reverse proxy, or under a path prefix.

Two independent pieces, both applied by ``wrap`` around the application (and only
when configured, so a plain set-up pays nothing per request):

- ``--trusted-proxy``: for a request whose peer address is one of the trusted
  proxies, the X-Forwarded-For, -Proto, -Host, -Port and -Prefix headers say how the
  client addressed the index. They become the WSGI environ's REMOTE_ADDR,
  ``wsgi.url_scheme``, HTTP_HOST and SCRIPT_NAME, from which the application builds
  its absolute URLs (the welcome page, the PyPI JSON API). From any other peer they
  are ignored: anyone can send them. A header with several values (a chain of
  proxies) counts by its last value, the one the nearest proxy set; for
  X-Forwarded-For the client is the last address that is not a trusted proxy.
- ``--server-base-url``: the index lives under a path prefix that the proxy passes
  on unchanged (pypiserver's option): /pypi/simple/ is the index's /simple/. Paths
  outside the prefix are 404, and the prefix itself without its slash redirects.

Everything else in the application links relatively, so it is right under any
prefix without knowing it.

Prefixes are given percent-encoded (``/my%20index``), as they appear in URLs; WSGI's
PATH_INFO and SCRIPT_NAME are decoded (each byte one latin-1 character). So a prefix
is decoded once (``wsgi_path``) to be compared with PATH_INFO and put into SCRIPT_NAME,
and ``httputil.base_url`` encodes SCRIPT_NAME once to render it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Sequence
from functools import lru_cache
from typing import Any

from packyard.values import parse_base_path, wsgi_path
from packyard.values import parse_trusted_proxies as parse_trusted_proxies  # for callers

StartResponse = Callable[..., Any]
App = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

TEXT = "text/plain; charset=utf-8"
# Host names, IPv4 addresses and bracketed IPv6 addresses, with an optional port.
_HOST = re.compile(
    r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_PORT = re.compile(r"[0-9]{1,5}")  # ASCII digits: str.isdigit() also takes '²'; int() not


class ProxyHeaderError(ValueError):
    """A trusted proxy sent a header packyard cannot use (answered with 400)."""


def _last(value: str) -> str:
    return value.rsplit(",", 1)[-1].strip()


_ADDRESS_MAX = 64  # characters: longer than any address; not remembered (see _address)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address in ``text`` (a peer, or an X-Forwarded-For item), or None. Short
    texts are remembered; longer ones cannot be addresses and are not kept, so made-up
    X-Forwarded-For items cannot fill the memory."""
    if len(text) <= _ADDRESS_MAX:
        return _address_memo(text)
    return None


@lru_cache(maxsize=1024)
def _address_memo(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


class Forwarded:
    """WSGI middleware: takes in a trusted proxy's X-Forwarded-* headers, and serves
    the application under a path prefix. See the module's documentation."""

    def __init__(self, app: App, trusted: Sequence[str] = (), base_path: str = "") -> None:
        self.app = app
        self.trust_all = tuple(trusted) == ("*",)
        self.networks: tuple[Network, ...] = (
            () if self.trust_all else tuple(ipaddress.ip_network(n) for n in trusted)
        )
        self.base_path = base_path  # percent-encoded, for messages and Locations
        self.base_match = wsgi_path(base_path)  # decoded, as PATH_INFO is

    def trusts(self, peer: object) -> bool:
        if self.trust_all:
            return True
        address = _address(str(peer or ""))
        return address is not None and any(address in net for net in self.networks)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if (self.trust_all or self.networks) and self.trusts(environ.get("REMOTE_ADDR")):
            try:
                self.take_in(environ)
            except ProxyHeaderError as exc:
                return _answer(start_response, "400 Bad Request", f"Bad Request: {exc}")
        if self.base_path:
            path = str(environ.get("PATH_INFO", ""))
            if path == self.base_match:
                # Relative, so it also holds under a prefix a proxy added in front.
                location = self.base_path.rsplit("/", 1)[-1] + "/"
                query = environ.get("QUERY_STRING")
                return _answer(
                    start_response,
                    "301 Moved Permanently",
                    f"Moved Permanently: {self.base_path}/",
                    Location=location + (f"?{query}" if query else ""),
                )
            if not path.startswith(self.base_match + "/"):
                return _answer(
                    start_response,
                    "404 Not Found",
                    f"Not Found: this index is served under {self.base_path}/",
                )
            environ["SCRIPT_NAME"] = str(environ.get("SCRIPT_NAME", "")) + self.base_match
            environ["PATH_INFO"] = path[len(self.base_match) :]
        return self.app(environ, start_response)

    def take_in(self, environ: dict[str, Any]) -> None:
        """Rewrite ``environ`` from a trusted peer's forwarding headers."""
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR")
        if forwarded_for:
            client = None
            for item in reversed(str(forwarded_for).split(",")):
                address = _address(item)
                if address is None:
                    break
                client = str(address)
                if not self.trusts(client):
                    break
            if client is not None:
                environ["REMOTE_ADDR"] = client

        scheme = str(environ.get("wsgi.url_scheme", "http"))
        proto = environ.get("HTTP_X_FORWARDED_PROTO")
        if proto:
            scheme = _last(str(proto)).lower()
            if scheme not in _DEFAULT_PORTS:
                raise ProxyHeaderError(
                    f"X-Forwarded-Proto must be http or https, not {_last(str(proto))!r}"
                )
            environ["wsgi.url_scheme"] = scheme

        prefix = ""
        host = environ.get("HTTP_X_FORWARDED_HOST")
        if host:
            # pypiserver's recipe puts the prefix there too: "proxy.example/pypi".
            value, slash, path = _last(str(host)).partition("/")
            if not _HOST.match(value):
                raise ProxyHeaderError(f"X-Forwarded-Host is not a host name: {value!r}")
            environ["HTTP_HOST"] = value
            if slash:
                prefix = _checked_prefix("/" + path, "X-Forwarded-Host")
        port = environ.get("HTTP_X_FORWARDED_PORT")
        if port:
            port_text = _last(str(port))
            if not _PORT.fullmatch(port_text) or not 0 < int(port_text) < 65536:
                raise ProxyHeaderError(f"X-Forwarded-Port is not a port number: {port_text!r}")
            current = str(environ.get("HTTP_HOST") or environ.get("SERVER_NAME", ""))
            if not (host and _has_port(current)):  # a port in X-Forwarded-Host wins
                name = _host_name(current)
                default = port_text == _DEFAULT_PORTS[scheme]
                environ["HTTP_HOST"] = name if default else f"{name}:{port_text}"
            environ["SERVER_PORT"] = port_text
        if host or port:
            environ["SERVER_NAME"] = _host_name(str(environ["HTTP_HOST"]))

        explicit = environ.get("HTTP_X_FORWARDED_PREFIX")
        if explicit:
            prefix = _checked_prefix(_last(str(explicit)), "X-Forwarded-Prefix")
        if prefix:
            environ["SCRIPT_NAME"] = wsgi_path(prefix) + str(environ.get("SCRIPT_NAME", ""))


def _checked_prefix(value: str, header: str) -> str:
    try:
        return parse_base_path(value) if value not in ("", "/") else ""
    except ValueError:
        raise ProxyHeaderError(f"{header} has an unusable path prefix: {value!r}") from None


def _has_port(host: str) -> bool:
    return "]:" in host if host.startswith("[") else ":" in host


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host[: host.index("]") + 1]
    return host.rsplit(":", 1)[0]


def _answer(
    start_response: StartResponse, status: str, message: str, **headers: str
) -> list[bytes]:
    body = (message + "\n").encode()
    start_response(
        status,
        [("Content-Type", TEXT), ("Content-Length", str(len(body))), *headers.items()],
    )
    return [body]


def wrap(app: App, trusted: Sequence[str], base_path: str) -> App:
    """``app`` behind the middleware, or ``app`` itself when neither is configured."""
    if not trusted and not base_path:
        return app
    return Forwarded(app, trusted, base_path)

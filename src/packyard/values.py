"""The option value parsers: text (from the command line or a PYPISERVER_* variable)
-> value, raising ValueError with a message for the user. Pure; the option table that
uses them is ``packyard.config``."""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable
from urllib.parse import unquote_to_bytes, urlsplit

AUTH_ACTIONS = ("download", "list", "update")
LOG_STREAMS = ("stdout", "stderr", "none")
_DISABLED_WORDS = frozenset({"off", "no", "false", "0", "n", "f", "none"})
_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off", "n", "f", ""})
# Paths the application itself answers; the health endpoint must not shadow them.
RESERVED_PATHS = ("/simple", "/packages", "/favicon.ico")


def parse_port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise ValueError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range 0-65535: {port}")
    return port


def parse_host(text: str) -> str:
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not host or any(c.isspace() for c in host) or "/" in host:
        raise ValueError(f"not a host name or address: {text!r}")
    return host


def parse_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"not a whole number of seconds: {text!r}") from None
    if value < 0:
        raise ValueError(f"must not be negative: {value}")
    return value


def parse_hash_algo(text: str) -> str | None:
    algo = text.strip().lower()
    if algo in _DISABLED_WORDS:
        return None
    # The simple-repository spec asks for an algorithm every Python has.
    usable = sorted(a for a in hashlib.algorithms_guaranteed if not a.startswith("shake"))
    if algo not in usable:
        raise ValueError(
            f"unknown hash algorithm {text!r} (use one of: {', '.join(usable)}; or off)"
        )
    return algo


def parse_authenticate(text: str) -> frozenset[str]:
    words = [w.strip().lower() for w in text.split(",") if w.strip()]
    if not words:
        raise ValueError("empty list (use '.' for no authentication)")
    if "." in words:
        if len(words) > 1:
            raise ValueError("'.' must be given alone")
        return frozenset()
    unknown = [w for w in words if w not in AUTH_ACTIONS]
    if unknown:
        raise ValueError(
            f"unknown action {unknown[0]!r} (use a comma-separated list of "
            f"{', '.join(AUTH_ACTIONS)}, or '.')"
        )
    return frozenset(words)


def parse_passwords(text: str) -> str:
    if not text.strip():
        raise ValueError("empty path (use '.' for no password file)")
    return text


def parse_url(text: str) -> str:
    parts = urlsplit(text.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"not an http(s) URL: {text!r}")
    return text.strip()


_HEALTH = re.compile(r"^/[A-Za-z0-9/_.-]*$")


def parse_health_endpoint(text: str) -> str:
    if not _HEALTH.match(text) or text == "/" or "//" in text or "/./" in text + "/":
        raise ValueError(
            f"invalid path {text!r} (a path such as /health: letters, digits, / _ . -)"
        )
    for reserved in RESERVED_PATHS:
        if text == reserved or text.startswith(reserved + "/"):
            raise ValueError(f"{text!r} collides with the index's own {reserved} route")
    return text


def parse_log_stream(text: str) -> str:
    stream = text.strip().lower()
    if stream not in LOG_STREAMS:
        raise ValueError(f"must be one of {', '.join(LOG_STREAMS)}, not {text!r}")
    return stream


def parse_log_format(text: str) -> str:
    try:
        text % {"asctime": "", "name": "", "levelname": "", "thread": 0, "message": ""}
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"not a usable logging format {text!r}: {exc}") from None
    return text


_SIZE = re.compile(r"^\s*(\d+)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes, or a number with K, M, G or T (powers of 1024): 500M, 10G."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"not a size: {text!r} (use bytes, or a number with K, M, G or T)")
    value = int(match.group(1))
    if match.group(2):
        value *= 1024 ** ("kmgt".index(match.group(2).lower()) + 1)
    if value <= 0:
        raise ValueError("must be more than 0 bytes")
    return value


def parse_bool(text: str) -> bool:
    word = text.strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise ValueError(f"not a yes/no value: {text!r} (use 1/0, true/false, yes/no, on/off)")


def parse_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise ValueError(f"must not be negative: {value}")
    return value


def _parse_range(low: int, high: int, what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"not a whole number: {text!r}") from None
        if not low <= value <= high:
            raise ValueError(f"{what} must be from {low} to {high}: {value}")
        return value

    return parse


parse_threads = _parse_range(1, 1024, "the number of threads")
parse_connection_limit = _parse_range(1, 100_000, "the connection limit")


def parse_path(text: str) -> str:
    if not text.strip():
        raise ValueError("empty path")
    return text


def parse_dirs(text: str) -> tuple[str, ...]:
    """Several directories in one environment variable, separated by ':'."""
    dirs = tuple(p for p in text.split(":") if p.strip())
    if not dirs:
        raise ValueError("no directory given")
    return dirs


# The reverse-proxy options (the middleware is packyard.proxy).


def parse_trusted_proxies(text: str) -> tuple[str, ...]:
    """'*' or a comma-separated list of IP addresses and networks (CIDR)."""
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise ValueError("empty list (give addresses or networks such as 127.0.0.1,10.0.0.0/8)")
    if "*" in items:
        if len(items) > 1:
            raise ValueError("'*' must be given alone")
        return ("*",)
    result = []
    for item in items:
        try:
            result.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ValueError(
                f"not an IP address or network: {item!r} (e.g. 127.0.0.1, 172.16.0.0/12, ::1)"
            ) from None
    return tuple(dict.fromkeys(result))


# A path prefix: segments of unreserved and sub-delimiter characters (or %XX).
_PREFIX = re.compile(r"^(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})+)*$")


def parse_base_path(text: str) -> str:
    """A path prefix such as /pypi (given as /pypi, /pypi/ or a URL ending in it);
    '' for none ('/')."""
    value = text.strip()
    if "://" in value:
        raise ValueError(
            f"give the path only, not a URL: {text!r} (e.g. /pypi; the scheme and host "
            "come from the request, or from a trusted proxy's headers)"
        )
    if not value.startswith("/"):
        raise ValueError(f"must start with '/': {text!r}")
    value = value.rstrip("/")
    if (
        "//" in value
        or not _PREFIX.match(value)
        or any(seg in (".", "..") for seg in wsgi_path(value).split("/"))
    ):
        raise ValueError(f"not a usable path prefix: {text!r} (e.g. /pypi)")
    if "%2f" in value.lower():
        raise ValueError(f"an encoded '/' (%2F) in a path prefix is ambiguous: {text!r}")
    return value


def wsgi_path(encoded: str) -> str:
    """A percent-encoded path as WSGI gives paths: decoded, one latin-1 character per
    byte (``/my%20index`` -> ``/my index``)."""
    return unquote_to_bytes(encoded).decode("latin-1")


def parse_deadline(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86_400:
        raise ValueError(f"must be more than 0 and at most 86400 seconds: {text!r}")
    return value


def parse_timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number of seconds: {text!r}") from None
    if not 0 < value < float("inf"):
        raise ValueError(f"not a positive number of seconds: {text!r}")
    return value

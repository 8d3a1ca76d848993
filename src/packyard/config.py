"""Configuration: one option table, and the frozen Config built from it.

The table below is the single source of every option: ``cli`` builds argparse from
it, ``from_environment`` reads the PYPISERVER_* variables from it, and
``render_markdown`` writes docs/configuration.md from it. Nothing here does I/O
beyond reading ``os.environ`` when asked.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote_to_bytes, urlsplit

from packyard.errors import ConfigError

ENV_PREFIX = "PYPISERVER_"
DEFAULT_PACKAGES_DIR = "~/packages"
AUTH_ACTIONS = ("download", "list", "update")
LOG_STREAMS = ("stdout", "stderr", "none")
DEFAULT_LOG_FORMAT = "%(asctime)s|%(name)s|%(levelname)s|%(thread)d|%(message)s"
_DISABLED_WORDS = frozenset({"off", "no", "false", "0", "n", "f", "none"})
_TRUE_WORDS = frozenset({"1", "true", "yes", "on", "y", "t"})
_FALSE_WORDS = frozenset({"0", "false", "no", "off", "n", "f", ""})
# Paths the application itself answers; the health endpoint must not shadow them.
RESERVED_PATHS = ("/simple", "/packages", "/favicon.ico")


# ---------------------------------------------------------------------------
# value parsers: str -> value, raising ValueError with a message for the user


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


# ---------------------------------------------------------------------------
# the option table

Kind = Literal["value", "flag", "count"]


@dataclass(frozen=True)
class Option:
    """One option: its flags, environment variable (PYPISERVER_ + DEST), parser, default
    and help. ``to_field`` turns a value into the Config field's value, when they differ."""

    dest: str
    flags: tuple[str, ...]
    help: str
    default: Any = None
    parse: Callable[[str], Any] = str
    kind: Kind = "value"
    metavar: str | None = None
    doc_default: str | None = None  # how the default reads in the docs, when not obvious
    to_field: Callable[[Any], Any] | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @property
    def takes_value(self) -> bool:
        return self.kind == "value"

    @property
    def shown_default(self) -> str:
        if self.doc_default is not None:
            return self.doc_default
        if self.kind == "flag":
            return "off"
        return str(self.default)


_OPTION = "option"  # the key of a Config field's Option in its metadata
_ALSO = "also"  # options that decide the same field together with it (listed before it)


def _option(option: Option, also: tuple[Option, ...] = ()) -> Any:
    """A Config field declared with its option: the option's default is the field's."""
    default = option.to_field(option.default) if option.to_field else option.default
    return field(default=default, metadata={_OPTION: option, _ALSO: also})


def _user_path(value: str | None) -> Path | None:
    return Path(value).expanduser() if value else None


def _password_file(value: str | None) -> Path | None:
    return None if value in (None, ".") else Path(str(value)).expanduser()


PYPI_SIMPLE = "https://pypi.org/simple/"

DISABLE_FALLBACK = Option(
    "disable_fallback",
    ("--disable-fallback",),
    "Answer 404 for a project with no local files instead of redirecting to --fallback-url.",
    default=False,
    parse=parse_bool,
    kind="flag",
)


# ---------------------------------------------------------------------------
# the frozen configuration, and with it the option table of `run`


@dataclass(frozen=True)
class Config:
    """What ``run`` (and ``packyard.wsgi``) serves with. Each field is declared with its
    option (the table, in this order, is ``OPTIONS``); ``roots`` are the positional
    directories. ``fallback_url`` None is --disable-fallback."""

    roots: tuple[Path, ...] = (Path(DEFAULT_PACKAGES_DIR).expanduser(),)
    port: int = _option(
        Option(
            "port",
            ("-p", "--port"),
            "Port to listen on (0 picks a free port; the address is logged at start-up).",
            default=8080,
            parse=parse_port,
            metavar="PORT",
        )
    )
    host: str = _option(
        Option(
            "host",
            ("-i", "-H", "--interface", "--host"),
            "Address to listen on. 0.0.0.0 (all IPv4 interfaces) as pypiserver; "
            "use 127.0.0.1 for this machine only, :: for IPv6.",
            default="0.0.0.0",
            parse=parse_host,
            metavar="HOST",
        )
    )
    password_file: Path | None = _option(
        Option(
            "passwords",
            ("-P", "--passwords"),
            "htpasswd file used to authenticate the actions named by --authenticate; "
            "'.' together with '-a .' runs an open server.",
            parse=parse_passwords,
            metavar="HTPASSWD_FILE",
            doc_default="none: protected actions are refused",
            to_field=_password_file,
        )
    )
    authenticate: frozenset[str] = _option(
        Option(
            "authenticate",
            ("-a", "--authenticate"),
            "Comma-separated actions that need a password: update (upload, remove), "
            "download, list; or '.' (together with '-P .') for none.",
            default=frozenset({"update"}),
            parse=parse_authenticate,
            metavar="ACTIONS",
            doc_default="update",
        )
    )
    fallback_url: str | None = _option(
        Option(
            "fallback_url",
            ("--fallback-url",),
            "Index to redirect to (303) for projects with no local files.",
            default=PYPI_SIMPLE,
            parse=parse_url,
            metavar="URL",
        ),
        also=(DISABLE_FALLBACK,),
    )
    health_endpoint: str = _option(
        Option(
            "health_endpoint",
            ("--health-endpoint",),
            "Path of the health check, which answers 200 'ok' and is never protected.",
            default="/health",
            parse=parse_health_endpoint,
            metavar="PATH",
        )
    )
    overwrite: bool = _option(
        Option(
            "overwrite",
            ("-o", "--overwrite"),
            "Let an upload replace an existing file with different content (without it, "
            "that is a 409; an identical re-upload is always accepted).",
            default=False,
            parse=parse_bool,
            kind="flag",
        )
    )
    max_upload_size: int = _option(
        Option(
            "max_upload_size",
            ("--max-upload-size",),
            "Largest file an upload may carry (bytes, or with K, M, G, T); larger is a 413.",
            default=10 << 30,
            parse=parse_size,
            metavar="SIZE",
            doc_default="10G",
        )
    )
    hash_algo: str | None = _option(
        Option(
            "hash_algo",
            ("--hash-algo",),
            "Algorithm of the #<algo>=<hex> fragment on each file link; "
            "off (or no, false, 0) leaves the fragment out.",
            default="sha256",
            parse=parse_hash_algo,
            metavar="ALGO",
        )
    )
    welcome_file: Path | None = _option(
        Option(
            "welcome",
            ("--welcome",),
            "HTML file to show at / instead of the built-in page. Placeholders "
            "{{URL}}, {{SIMPLE}}, {{PACKAGES}}, {{NUMPKGS}}, {{NUMPROJECTS}}, {{VERSION}} "
            "are replaced (HTML-escaped); nothing in the file is executed.",
            parse=parse_path,
            metavar="HTML_FILE",
            doc_default="built-in page",
            to_field=_user_path,
        )
    )
    cache_control: int | None = _option(
        Option(
            "cache_control",
            ("--cache-control",),
            "Send 'Cache-Control: max-age=SECONDS' with every distribution file. Without "
            "it, files are sent as immutable for a year unless --overwrite is on.",
            parse=parse_seconds,
            metavar="SECONDS",
            doc_default="a year, immutable (none with --overwrite)",
        )
    )
    index_max_age: int = _option(
        Option(
            "index_max_age",
            ("--index-max-age",),
            "Send 'Cache-Control: max-age=SECONDS' with the index pages (/simple/, project "
            "pages, JSON): clients that cache (uv) may show a page this old before they "
            "revalidate it with its ETag; 0 makes them ask every time.",
            default=10,
            parse=parse_seconds,
            metavar="SECONDS",
        )
    )
    threads: int = _option(
        Option(
            "threads",
            ("--threads",),
            "Number of threads that answer requests.",
            default=8,
            parse=parse_threads,
            metavar="N",
        )
    )
    connection_limit: int = _option(
        Option(
            "connection_limit",
            ("--connection-limit",),
            "Most client connections open at once; more wait to be accepted.",
            default=1000,
            parse=parse_connection_limit,
            metavar="N",
        )
    )
    max_form_size: int = _option(
        Option(
            "max_form_size",
            ("--max-form-size",),
            "Largest total of an upload form's text fields (metadata, description), which "
            "are held in memory; the file itself counts against --max-upload-size.",
            default=32 << 20,
            parse=parse_size,
            metavar="SIZE",
            doc_default="32M",
        )
    )
    max_form_fields: int = _option(
        Option(
            "max_form_fields",
            ("--max-form-fields",),
            "Most fields (parts) an upload form may have; more is a 413.",
            default=1000,
            parse=_parse_range(1, 1_000_000, "the number of form fields"),
            metavar="N",
        )
    )
    max_header_size: int = _option(
        Option(
            "max_header_size",
            ("--max-header-size",),
            "Largest request head (request line and headers); larger is a 431.",
            default=64 << 10,
            parse=parse_size,
            metavar="SIZE",
            doc_default="64K",
        )
    )
    channel_timeout: int = _option(
        Option(
            "channel_timeout",
            ("--channel-timeout",),
            "Seconds a connection may stay silent (a client sending or reading nothing) "
            "before it is closed.",
            default=60,
            parse=_parse_range(1, 86_400, "the channel timeout"),
            metavar="SECONDS",
        )
    )
    header_timeout: int = _option(
        Option(
            "header_timeout",
            ("--header-timeout",),
            "Seconds a client may take to send a request's head (request line and headers) "
            "from its first byte; a slower client is disconnected, so one that trickles its "
            "headers cannot hold a connection for long.",
            default=20,
            parse=_parse_range(1, 3600, "the header timeout"),
            metavar="SECONDS",
        )
    )
    max_connections_per_address: int | None = _option(
        Option(
            "max_connections_per_address",
            ("--max-connections-per-address",),
            "Most connections one client address may hold open at once; a connection "
            "beyond it is closed as soon as it is accepted, without an answer. Trusted "
            "proxies (--trusted-proxy) are not limited.",
            parse=_parse_range(1, 100_000, "the connections per address"),
            metavar="N",
            doc_default="a quarter of --connection-limit, at least 16",
        )
    )
    trusted_proxy: tuple[str, ...] = _option(
        Option(
            "trusted_proxy",
            ("--trusted-proxy",),
            "Reverse proxies (comma-separated IP addresses or networks such as "
            "127.0.0.1,172.16.0.0/12, or '*' for any peer) whose X-Forwarded-For, -Proto, "
            "-Host, -Port and -Prefix headers say how clients address the index: its "
            "absolute URLs (welcome page, JSON API) and logged client addresses follow "
            "them. From other peers these headers are ignored.",
            default=(),
            parse=parse_trusted_proxies,
            metavar="ADDRS",
            doc_default="none: forwarding headers are ignored",
        )
    )
    server_base_url: str = _option(
        Option(
            "server_base_url",
            ("--server-base-url",),
            "Path prefix the index is served under, for a reverse proxy that passes it on "
            "unchanged: with /pypi the index is at /pypi/simple/ and other paths are 404. "
            "(A proxy that strips the prefix needs no option here; it sends "
            "X-Forwarded-Prefix, honoured with --trusted-proxy.)",
            default="",
            parse=parse_base_path,
            metavar="PATH",
            doc_default="/ (none)",
        )
    )
    verbose: int = _option(
        Option(
            "verbose",
            ("-v", "--verbose"),
            "More logging: -v logs one line per request, -vv adds debugging detail.",
            default=0,
            parse=parse_count,
            kind="count",
            doc_default="0 (warnings and errors only)",
        )
    )
    log_file: Path | None = _option(
        Option(
            "log_file",
            ("--log-file",),
            "Also write the log to this file.",
            parse=parse_path,
            metavar="FILE",
            doc_default="none",
            to_field=_user_path,
        )
    )
    log_stream: str = _option(
        Option(
            "log_stream",
            ("--log-stream",),
            "Stream to log to: stdout, stderr or none.",
            default="stdout",
            parse=parse_log_stream,
            metavar="STREAM",
        )
    )
    log_format: str = _option(
        Option(
            "log_frmt",
            ("--log-frmt",),
            "Python logging format, applied to every log destination.",
            default=DEFAULT_LOG_FORMAT,
            parse=parse_log_format,
            metavar="FORMAT",
        )
    )

    @property
    def disable_fallback(self) -> bool:
        return self.fallback_url is None

    @classmethod
    def from_values(cls, values: Mapping[str, Any], dirs: Sequence[str]) -> Config:
        """Build from parsed option values (dest -> value) and the directories given.

        Applies the rules that involve several options; raises ConfigError.
        """
        kwargs: dict[str, Any] = {}
        for item in fields(cls):
            option: Option | None = item.metadata.get(_OPTION)
            if option is not None and option.dest in values:
                value = values[option.dest]
                kwargs[item.name] = option.to_field(value) if option.to_field else value
        _check_open_server(values)
        if values.get("disable_fallback"):
            kwargs["fallback_url"] = None
        kwargs["roots"] = _unique_roots(dirs or (DEFAULT_PACKAGES_DIR,))
        return cls(**kwargs)


OPTIONS: tuple[Option, ...] = tuple(
    option
    for item in fields(Config)
    if _OPTION in item.metadata
    for option in (*item.metadata[_ALSO], item.metadata[_OPTION])
)
OPTIONS_BY_DEST = {o.dest: o for o in OPTIONS}


def _check_open_server(values: Mapping[str, Any]) -> None:
    """-P . (no password file) and -a . (nothing protected) go together."""
    passwords = values.get("passwords")
    auth: frozenset[str] = values.get("authenticate", OPTIONS_BY_DEST["authenticate"].default)
    if passwords == "." and auth:
        raise ConfigError(
            "-P . (no password file) needs -a . (nothing protected); "
            "give a password file to protect " + ",".join(sorted(auth))
        )
    if auth == frozenset() and passwords != ".":
        raise ConfigError(
            "-a . (nothing protected) needs -P . (no password file)"
            + (f", not -P {passwords}" if passwords else "")
        )


def _unique_roots(dirs: Sequence[str]) -> tuple[Path, ...]:
    unique: list[Path] = []
    for root in (Path(d).expanduser() for d in dirs):
        if root.absolute() not in [u.absolute() for u in unique]:
            unique.append(root)
    return tuple(unique)


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


# The options of `pypi-server update`. The upload limit and -v are shared with `run`
# (a download is capped as an upload would be), so are their environment variables.
UPDATE_OPTIONS: tuple[Option, ...] = (
    Option(
        "execute",
        ("-x", "--execute"),
        "Download the newer files (without it nothing is downloaded).",
        default=False,
        parse=parse_bool,
        kind="flag",
    ),
    Option(
        "download_directory",
        ("-d", "--download-directory"),
        "Download into DIR.",
        parse=parse_path,
        metavar="DIR",
        doc_default="the directory of the file being updated",
    ),
    Option(
        "allow_unstable",
        ("-u", "--allow-unstable"),
        "Also consider pre-releases and development releases.",
        default=False,
        parse=parse_bool,
        kind="flag",
    ),
    Option(
        "index_url",
        ("--index-url",),
        "Simple index to compare with; https://USER:PASSWORD@host/simple/ for basic auth.",
        default=PYPI_SIMPLE,
        parse=parse_url,
        metavar="URL",
    ),
    Option(
        "ignorelist_file",
        ("--ignorelist-file", "--blacklist-file"),
        "Projects to leave alone, one name per line ('#' comments).",
        parse=parse_path,
        metavar="FILE",
        doc_default="none",
    ),
    Option(
        "timeout",
        ("--timeout",),
        "Give up on a connection or a read after SECONDS.",
        default=30.0,
        parse=parse_timeout,
        metavar="SECONDS",
        doc_default="30",
    ),
    replace(
        OPTIONS_BY_DEST["max_upload_size"],
        help="Largest file to download (bytes, or with K, M, G, T), also when the index "
        "gives no size: a download stops at one byte more than this or than the size the "
        "index gives.",
    ),
    Option(
        "download_deadline",
        ("--download-deadline",),
        "Most seconds one download (a project page or a file) may take, from connecting "
        "to the last byte; a slower one is cut off and reported. A bound on a server that "
        "trickles bytes, which --timeout (per read) never ends.",
        default=900.0,
        parse=parse_deadline,
        metavar="SECONDS",
        doc_default="900 (15 minutes)",
    ),
    replace(
        OPTIONS_BY_DEST["verbose"],
        help="One line per project instead of a mark.",
        doc_default="0",
    ),
)

# The options of `pypi-server yank` (unyank has none).
YANK_OPTIONS: tuple[Option, ...] = (
    Option(
        "yank_reason",
        ("--reason",),
        "Why (shown by pip and uv).",
        default="",
        parse=str,
        metavar="TEXT",
        doc_default="none",
    ),
)


@dataclass(frozen=True)
class IgnoredOption:
    """A pypiserver option packyard accepts (so existing command lines keep working)
    and ignores, with a warning that says why."""

    flag: str
    metavar: str
    why: str


IGNORED_OPTIONS: tuple[IgnoredOption, ...] = (
    IgnoredOption(
        "--server",
        "METHOD",
        "packyard always serves with waitress; for several processes run gunicorn with "
        "packyard.wsgi (docs/serving.md)",
    ),
    IgnoredOption(
        "--backend",
        "BACKEND",
        "packyard has one storage backend, kept current by file events and a ledger",
    ),
    IgnoredOption("--log-req-frmt", "FORMAT", "requests are logged by -v in packyard's format"),
    IgnoredOption("--log-res-frmt", "FORMAT", "responses are logged by -v in packyard's format"),
    IgnoredOption("--log-err-frmt", "FORMAT", "errors are logged with packyard's --log-frmt"),
)

PACKAGES_ENV = ENV_PREFIX + "PACKAGES_DIR"


def values_from_environment(
    environ: Mapping[str, str], options: Sequence[Option] = OPTIONS
) -> dict[str, Any]:
    """The values of ``options`` set by PYPISERVER_* variables; raises ConfigError."""
    values: dict[str, Any] = {}
    for option in options:
        raw = environ.get(option.env)
        if raw is None or (raw == "" and option.kind != "flag"):
            continue
        try:
            values[option.dest] = option.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"environment variable {option.env}: {exc}") from None
    return values


def from_environment(environ: Mapping[str, str]) -> tuple[dict[str, Any], tuple[str, ...]]:
    """Option values and directories from PYPISERVER_* variables; raises ConfigError."""
    values = values_from_environment(environ)
    dirs: tuple[str, ...] = ()
    raw_dirs = environ.get(PACKAGES_ENV)
    if raw_dirs:
        try:
            dirs = parse_dirs(raw_dirs)
        except ValueError as exc:
            raise ConfigError(f"environment variable {PACKAGES_ENV}: {exc}") from None
    return values, dirs


def _row(option: Option) -> str:
    flags = ", ".join(
        f"`{flag}{' ' + option.metavar if option.metavar else ''}`" for flag in option.flags
    )
    help_text = option.help.replace("|", "\\|")
    return f"| {flags} | `{option.env}` | {option.shown_default} | {help_text} |"


def render_markdown() -> str:
    """docs/configuration.md, generated from the option table."""
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from the option table in src/packyard/config.py by",
        "     `python tools/gen_config_doc.py`; a test checks that it is up to date. -->",
        "",
        "```",
        "pypi-server run [OPTIONS] [PACKAGES_DIR ...]",
        "python -m packyard run [OPTIONS] [PACKAGES_DIR ...]",
        "```",
        "",
        "Options may come before or after `run`. The old form without a subcommand",
        "(`pypi-server -p 8080 ./packages`) still works and prints a one-line deprecation",
        "warning.",
        "",
        "Every option can also be set by an environment variable. The command line wins",
        "over the environment, which wins over the default. Flags take 1/0, true/false,",
        "yes/no or on/off in the environment; `-v` takes a number.",
        "",
        "| option | environment variable | default | meaning |",
        "|---|---|---|---|",
    ]
    lines += [_row(option) for option in OPTIONS]
    lines += [
        f"| `PACKAGES_DIR ...` (positional) | `{PACKAGES_ENV}` (several separated by `:`) "
        f"| `{DEFAULT_PACKAGES_DIR}` | Directories to serve, searched recursively. All are "
        "served; the first is where uploads go. Each must exist and be readable. |",
        "| `--version` | | | Print the version and exit. |",
        "| `-h`, `--help` | | | Show the options and exit. |",
        "",
        "## Rules",
        "",
        "- A bad value, a missing or unreadable packages directory, or an unreadable",
        "  `--welcome` file stops the server at start-up with a one-line error and exit",
        "  code 2.",
        "- `-P .` and `-a .` go together: an open server. Without `-P`, the actions named",
        "  by `-a` (by default `update`, i.e. uploads) are refused.",
        "- `--health-endpoint` must not collide with `/simple`, `/packages` or",
        "  `/favicon.ico`.",
        "- `-v` logs one line per request: client address, method, path, status, bytes,",
        "  duration (the time the server took to produce the response).",
        "",
        "## `pypi-server update`",
        "",
        "```",
        "pypi-server update [OPTIONS] [PACKAGES_DIR ...]",
        "```",
        "",
        "Looks for newer releases of the local projects on an upstream index; with `-x`",
        "downloads them (docs/update.md). Its options can be set by environment variables",
        "too, as `run`'s: the command line wins over the environment, which wins over the",
        "default. `PYPISERVER_MAX_UPLOAD_SIZE`, `PYPISERVER_VERBOSE` and",
        f"`{PACKAGES_ENV}` are the ones `run` reads (a download is capped as an upload",
        "would be).",
        "",
        "| option | environment variable | default | meaning |",
        "|---|---|---|---|",
        *(_row(option) for option in UPDATE_OPTIONS),
        "",
        "## `pypi-server yank` and `unyank`",
        "",
        "```",
        "pypi-server yank [--reason TEXT] PACKAGES_DIR PROJECT VERSION | FILENAME",
        "pypi-server unyank PACKAGES_DIR PROJECT VERSION | FILENAME",
        "```",
        "",
        "Marks a release (every file of PROJECT VERSION) or one file as yanked (PEP 592),",
        "or takes the yank back. A running server sees the change on its next request.",
        "",
        "| option | environment variable | default | meaning |",
        "|---|---|---|---|",
        *(_row(option) for option in YANK_OPTIONS),
        "",
        "## pypiserver options that are accepted and ignored",
        "",
        "So that existing command lines keep working, these pypiserver options are",
        "accepted with their value; each prints a warning at start-up and changes nothing.",
        "",
        "| option | why it is ignored |",
        "|---|---|",
        *(f"| `{o.flag} {o.metavar}` | {o.why} |" for o in IGNORED_OPTIONS),
        "",
    ]
    return "\n".join(lines)

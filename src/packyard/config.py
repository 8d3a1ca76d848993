"""Configuration: one option table, and the frozen Config built from it.

The table below is the single source of every option: ``cli`` builds argparse from
it, ``from_environment`` reads the PYPISERVER_* variables from it, and
``render_markdown`` writes docs/configuration.md from it. Nothing here does I/O
beyond reading ``os.environ`` when asked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from packyard.errors import ConfigError
from packyard.proxy import parse_base_path, parse_trusted_proxies

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


# ---------------------------------------------------------------------------
# the option table

Kind = Literal["value", "flag", "count"]


@dataclass(frozen=True)
class Option:
    dest: str
    flags: tuple[str, ...]
    help: str
    default: Any = None
    parse: Callable[[str], Any] = str
    kind: Kind = "value"
    metavar: str | None = None
    doc_default: str | None = None  # how the default reads in the docs, when not obvious

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()

    @property
    def takes_value(self) -> bool:
        return self.kind == "value"


OPTIONS: tuple[Option, ...] = (
    Option(
        "port",
        ("-p", "--port"),
        "Port to listen on (0 picks a free port; the address is logged at start-up).",
        default=8080,
        parse=parse_port,
        metavar="PORT",
    ),
    Option(
        "host",
        ("-i", "-H", "--interface", "--host"),
        "Address to listen on. 0.0.0.0 (all IPv4 interfaces) as pypiserver; "
        "use 127.0.0.1 for this machine only, :: for IPv6.",
        default="0.0.0.0",
        parse=parse_host,
        metavar="HOST",
    ),
    Option(
        "passwords",
        ("-P", "--passwords"),
        "htpasswd file used to authenticate the actions named by --authenticate; "
        "'.' together with '-a .' runs an open server.",
        parse=parse_passwords,
        metavar="HTPASSWD_FILE",
        doc_default="none: protected actions are refused",
    ),
    Option(
        "authenticate",
        ("-a", "--authenticate"),
        "Comma-separated actions that need a password: update (upload, remove), "
        "download, list; or '.' (together with '-P .') for none.",
        default=frozenset({"update"}),
        parse=parse_authenticate,
        metavar="ACTIONS",
        doc_default="update",
    ),
    Option(
        "disable_fallback",
        ("--disable-fallback",),
        "Answer 404 for a project with no local files instead of redirecting to --fallback-url.",
        default=False,
        parse=parse_bool,
        kind="flag",
    ),
    Option(
        "fallback_url",
        ("--fallback-url",),
        "Index to redirect to (303) for projects with no local files.",
        default="https://pypi.org/simple/",
        parse=parse_url,
        metavar="URL",
    ),
    Option(
        "health_endpoint",
        ("--health-endpoint",),
        "Path of the health check, which answers 200 'ok' and is never protected.",
        default="/health",
        parse=parse_health_endpoint,
        metavar="PATH",
    ),
    Option(
        "overwrite",
        ("-o", "--overwrite"),
        "Let an upload replace an existing file with different content (without it, "
        "that is a 409; an identical re-upload is always accepted).",
        default=False,
        parse=parse_bool,
        kind="flag",
    ),
    Option(
        "max_upload_size",
        ("--max-upload-size",),
        "Largest file an upload may carry (bytes, or with K, M, G, T); larger is a 413.",
        default=10 << 30,
        parse=parse_size,
        metavar="SIZE",
        doc_default="10G",
    ),
    Option(
        "hash_algo",
        ("--hash-algo",),
        "Algorithm of the #<algo>=<hex> fragment on each file link; "
        "off (or no, false, 0) leaves the fragment out.",
        default="sha256",
        parse=parse_hash_algo,
        metavar="ALGO",
    ),
    Option(
        "welcome",
        ("--welcome",),
        "HTML file to show at / instead of the built-in page. Placeholders "
        "{{URL}}, {{SIMPLE}}, {{PACKAGES}}, {{NUMPKGS}}, {{NUMPROJECTS}}, {{VERSION}} "
        "are replaced (HTML-escaped); nothing in the file is executed.",
        parse=parse_path,
        metavar="HTML_FILE",
        doc_default="built-in page",
    ),
    Option(
        "cache_control",
        ("--cache-control",),
        "Send 'Cache-Control: max-age=SECONDS' with every distribution file. Without "
        "it, files are sent as immutable for a year unless --overwrite is on.",
        parse=parse_seconds,
        metavar="SECONDS",
        doc_default="a year, immutable (none with --overwrite)",
    ),
    Option(
        "index_max_age",
        ("--index-max-age",),
        "Send 'Cache-Control: max-age=SECONDS' with the index pages (/simple/, project "
        "pages, JSON): clients that cache (uv) may show a page this old before they "
        "revalidate it with its ETag; 0 makes them ask every time.",
        default=10,
        parse=parse_seconds,
        metavar="SECONDS",
    ),
    Option(
        "threads",
        ("--threads",),
        "Number of threads that answer requests.",
        default=8,
        parse=parse_threads,
        metavar="N",
    ),
    Option(
        "connection_limit",
        ("--connection-limit",),
        "Most client connections open at once; more wait to be accepted.",
        default=1000,
        parse=parse_connection_limit,
        metavar="N",
    ),
    Option(
        "max_form_size",
        ("--max-form-size",),
        "Largest total of an upload form's text fields (metadata, description), which "
        "are held in memory; the file itself counts against --max-upload-size.",
        default=32 << 20,
        parse=parse_size,
        metavar="SIZE",
        doc_default="32M",
    ),
    Option(
        "max_form_fields",
        ("--max-form-fields",),
        "Most fields (parts) an upload form may have; more is a 413.",
        default=1000,
        parse=_parse_range(1, 1_000_000, "the number of form fields"),
        metavar="N",
    ),
    Option(
        "max_header_size",
        ("--max-header-size",),
        "Largest request head (request line and headers); larger is a 431.",
        default=64 << 10,
        parse=parse_size,
        metavar="SIZE",
        doc_default="64K",
    ),
    Option(
        "channel_timeout",
        ("--channel-timeout",),
        "Seconds a connection may stay silent (a client sending or reading nothing) "
        "before it is closed.",
        default=60,
        parse=_parse_range(1, 86_400, "the channel timeout"),
        metavar="SECONDS",
    ),
    Option(
        "header_timeout",
        ("--header-timeout",),
        "Seconds a client may take to send a request's head (request line and headers) "
        "from its first byte; a slower client is disconnected, so one that trickles its "
        "headers cannot hold a connection for long.",
        default=20,
        parse=_parse_range(1, 3600, "the header timeout"),
        metavar="SECONDS",
    ),
    Option(
        "max_connections_per_address",
        ("--max-connections-per-address",),
        "Most connections one client address may hold open at once; a connection "
        "beyond it is closed as soon as it is accepted, without an answer. Trusted "
        "proxies (--trusted-proxy) are not limited.",
        parse=_parse_range(1, 100_000, "the connections per address"),
        metavar="N",
        doc_default="a quarter of --connection-limit, at least 16",
    ),
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
    ),
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
    ),
    Option(
        "verbose",
        ("-v", "--verbose"),
        "More logging: -v logs one line per request, -vv adds debugging detail.",
        default=0,
        parse=parse_count,
        kind="count",
        doc_default="0 (warnings and errors only)",
    ),
    Option(
        "log_file",
        ("--log-file",),
        "Also write the log to this file.",
        parse=parse_path,
        metavar="FILE",
        doc_default="none",
    ),
    Option(
        "log_stream",
        ("--log-stream",),
        "Stream to log to: stdout, stderr or none.",
        default="stdout",
        parse=parse_log_stream,
        metavar="STREAM",
    ),
    Option(
        "log_frmt",
        ("--log-frmt",),
        "Python logging format, applied to every log destination.",
        default=DEFAULT_LOG_FORMAT,
        parse=parse_log_format,
        metavar="FORMAT",
    ),
)
OPTIONS_BY_DEST = {o.dest: o for o in OPTIONS}


def parse_deadline(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"not a number of seconds: {text!r}") from None
    if not 0 < value <= 86_400:
        raise ValueError(f"must be more than 0 and at most 86400 seconds: {text!r}")
    return value


# The options of `pypi-server update` that also have an environment variable: the
# upload limit is shared with `run` (a download is capped as an upload would be).
UPDATE_OPTIONS: tuple[Option, ...] = (
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


# ---------------------------------------------------------------------------
# the frozen configuration


@dataclass(frozen=True)
class Config:
    roots: tuple[Path, ...] = (Path(DEFAULT_PACKAGES_DIR).expanduser(),)
    port: int = 8080
    host: str = "0.0.0.0"
    password_file: Path | None = None
    authenticate: frozenset[str] = frozenset({"update"})
    disable_fallback: bool = False
    fallback_url: str = "https://pypi.org/simple/"
    health_endpoint: str = "/health"
    hash_algo: str | None = "sha256"
    welcome_file: Path | None = None
    cache_control: int | None = None
    index_max_age: int = 10
    threads: int = 8
    connection_limit: int = 1000
    max_form_size: int = 32 << 20
    max_form_fields: int = 1000
    max_header_size: int = 64 << 10
    channel_timeout: int = 60
    header_timeout: int = 20
    max_connections_per_address: int | None = None  # None: connection_limit // 4, >= 16
    trusted_proxy: tuple[str, ...] = ()
    server_base_url: str = ""
    overwrite: bool = False
    max_upload_size: int = 10 << 30
    verbose: int = 0
    log_file: Path | None = None
    log_stream: str = "stdout"
    log_format: str = DEFAULT_LOG_FORMAT

    @classmethod
    def from_values(cls, values: Mapping[str, Any], dirs: Sequence[str]) -> Config:
        """Build from parsed option values (dest -> value) and the directories given.

        Applies the rules that involve several options; raises ConfigError.
        """
        passwords = values.get("passwords")
        auth: frozenset[str] = values.get("authenticate", frozenset({"update"}))
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
        roots = tuple(Path(d).expanduser() for d in (dirs or (DEFAULT_PACKAGES_DIR,)))
        unique: list[Path] = []
        for root in roots:
            if root.absolute() not in [u.absolute() for u in unique]:
                unique.append(root)
        return cls(
            roots=tuple(unique),
            port=values.get("port", 8080),
            host=values.get("host", "0.0.0.0"),
            password_file=None if passwords in (None, ".") else Path(passwords).expanduser(),
            authenticate=auth,
            disable_fallback=values.get("disable_fallback", False),
            fallback_url=values.get("fallback_url", "https://pypi.org/simple/"),
            health_endpoint=values.get("health_endpoint", "/health"),
            hash_algo=values.get("hash_algo", "sha256"),
            welcome_file=Path(values["welcome"]).expanduser() if values.get("welcome") else None,
            cache_control=values.get("cache_control"),
            index_max_age=values.get("index_max_age", 10),
            threads=values.get("threads", 8),
            connection_limit=values.get("connection_limit", 1000),
            max_form_size=values.get("max_form_size", 32 << 20),
            max_form_fields=values.get("max_form_fields", 1000),
            max_header_size=values.get("max_header_size", 64 << 10),
            channel_timeout=values.get("channel_timeout", 60),
            header_timeout=values.get("header_timeout", 20),
            max_connections_per_address=values.get("max_connections_per_address"),
            trusted_proxy=values.get("trusted_proxy", ()),
            server_base_url=values.get("server_base_url", ""),
            overwrite=values.get("overwrite", False),
            max_upload_size=values.get("max_upload_size", 10 << 30),
            verbose=values.get("verbose", 0),
            log_file=Path(values["log_file"]).expanduser() if values.get("log_file") else None,
            log_stream=values.get("log_stream", "stdout"),
            log_format=values.get("log_frmt", DEFAULT_LOG_FORMAT),
        )


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


def _doc_default(option: Option) -> str:
    if option.doc_default is not None:
        return option.doc_default
    if option.kind == "flag":
        return "off"
    return str(option.default)


def _row(option: Option) -> str:
    flags = ", ".join(
        f"`{flag}{' ' + option.metavar if option.metavar else ''}`" for flag in option.flags
    )
    help_text = option.help.replace("|", "\\|")
    return f"| {flags} | `{option.env}` | {_doc_default(option)} | {help_text} |"


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
        "These options of `pypi-server update` (docs/update.md) can also be set by an",
        "environment variable; `PYPISERVER_MAX_UPLOAD_SIZE` is the one `run` reads, so a",
        "download is capped as an upload would be.",
        "",
        "| option | environment variable | default | meaning |",
        "|---|---|---|---|",
        *(_row(option) for option in UPDATE_OPTIONS),
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

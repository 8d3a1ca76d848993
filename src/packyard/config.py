"""Configuration: one option table, and the frozen Config that is declared with it.

Each field of ``Config`` is declared with its option (flags, parser, default, help), so
a default is written once; ``OPTIONS`` (the table of ``run``) is read off the fields,
and ``Config.from_values`` is a loop plus the rules that involve several options.
``UPDATE_OPTIONS`` and ``YANK_OPTIONS`` are the other commands' tables. The commands
build argparse from the tables, ``from_environment`` reads the PYPISERVER_* variables
from them, and ``render_markdown`` writes docs/configuration.md from them. The value
parsers are in ``packyard.values``. Nothing here does I/O beyond reading
``os.environ`` when asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from packyard.errors import ConfigError
from packyard.values import (
    _parse_range,
    parse_authenticate,
    parse_base_path,
    parse_bool,
    parse_connection_limit,
    parse_count,
    parse_deadline,
    parse_dirs,
    parse_hash_algo,
    parse_health_endpoint,
    parse_host,
    parse_log_format,
    parse_log_stream,
    parse_passwords,
    parse_path,
    parse_port,
    parse_seconds,
    parse_size,
    parse_threads,
    parse_timeout,
    parse_trusted_proxies,
    parse_url,
)

ENV_PREFIX = "PYPISERVER_"
DEFAULT_PACKAGES_DIR = "~/packages"
DEFAULT_LOG_FORMAT = "%(asctime)s|%(name)s|%(levelname)s|%(thread)d|%(message)s"


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


def _option(
    dest: str, flags: tuple[str, ...], help: str, also: tuple[Option, ...] = (), **more: Any
) -> Any:
    """A Config field declared with its option: the option's default is the field's."""
    option = Option(dest, flags, help, **more)
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
        "port",
        ("-p", "--port"),
        "Port to listen on (0 picks a free port; the address is logged at start-up).",
        default=8080,
        parse=parse_port,
        metavar="PORT",
    )
    host: str = _option(
        "host",
        ("-i", "-H", "--interface", "--host"),
        "Address to listen on. 0.0.0.0 (all IPv4 interfaces) as pypiserver; "
        "use 127.0.0.1 for this machine only, :: for IPv6.",
        default="0.0.0.0",
        parse=parse_host,
        metavar="HOST",
    )
    password_file: Path | None = _option(
        "passwords",
        ("-P", "--passwords"),
        "htpasswd file used to authenticate the actions named by --authenticate; "
        "'.' together with '-a .' runs an open server.",
        parse=parse_passwords,
        metavar="HTPASSWD_FILE",
        doc_default="none: protected actions are refused",
        to_field=_password_file,
    )
    authenticate: frozenset[str] = _option(
        "authenticate",
        ("-a", "--authenticate"),
        "Comma-separated actions that need a password: update (upload, remove), "
        "download, list; or '.' (together with '-P .') for none.",
        default=frozenset({"update"}),
        parse=parse_authenticate,
        metavar="ACTIONS",
        doc_default="update",
    )
    fallback_url: str | None = _option(
        "fallback_url",
        ("--fallback-url",),
        "Index to redirect to (303) for projects with no local files.",
        default=PYPI_SIMPLE,
        parse=parse_url,
        metavar="URL",
        also=(DISABLE_FALLBACK,),
    )
    health_endpoint: str = _option(
        "health_endpoint",
        ("--health-endpoint",),
        "Path of the health check, which answers 200 'ok' and is never protected.",
        default="/health",
        parse=parse_health_endpoint,
        metavar="PATH",
    )
    overwrite: bool = _option(
        "overwrite",
        ("-o", "--overwrite"),
        "Let an upload replace an existing file with different content (without it, "
        "that is a 409; an identical re-upload is always accepted).",
        default=False,
        parse=parse_bool,
        kind="flag",
    )
    max_upload_size: int = _option(
        "max_upload_size",
        ("--max-upload-size",),
        "Largest file an upload may carry (bytes, or with K, M, G, T); larger is a 413.",
        default=10 << 30,
        parse=parse_size,
        metavar="SIZE",
        doc_default="10G",
    )
    hash_algo: str | None = _option(
        "hash_algo",
        ("--hash-algo",),
        "Algorithm of the #<algo>=<hex> fragment on each file link; "
        "off (or no, false, 0) leaves the fragment out.",
        default="sha256",
        parse=parse_hash_algo,
        metavar="ALGO",
    )
    welcome_file: Path | None = _option(
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
    cache_control: int | None = _option(
        "cache_control",
        ("--cache-control",),
        "Send 'Cache-Control: max-age=SECONDS' with every distribution file. Without "
        "it, files are sent as immutable for a year unless --overwrite is on.",
        parse=parse_seconds,
        metavar="SECONDS",
        doc_default="a year, immutable (none with --overwrite)",
    )
    index_max_age: int = _option(
        "index_max_age",
        ("--index-max-age",),
        "Send 'Cache-Control: max-age=SECONDS' with the index pages (/simple/, project "
        "pages, JSON): clients that cache (uv) may show a page this old before they "
        "revalidate it with its ETag; 0 makes them ask every time.",
        default=10,
        parse=parse_seconds,
        metavar="SECONDS",
    )
    threads: int = _option(
        "threads",
        ("--threads",),
        "Number of threads that answer requests.",
        default=8,
        parse=parse_threads,
        metavar="N",
    )
    connection_limit: int = _option(
        "connection_limit",
        ("--connection-limit",),
        "Most client connections open at once; more wait to be accepted.",
        default=1000,
        parse=parse_connection_limit,
        metavar="N",
    )
    max_form_size: int = _option(
        "max_form_size",
        ("--max-form-size",),
        "Largest total of an upload form's text fields (metadata, description), which "
        "are held in memory; the file itself counts against --max-upload-size.",
        default=32 << 20,
        parse=parse_size,
        metavar="SIZE",
        doc_default="32M",
    )
    max_form_fields: int = _option(
        "max_form_fields",
        ("--max-form-fields",),
        "Most fields (parts) an upload form may have; more is a 413.",
        default=1000,
        parse=_parse_range(1, 1_000_000, "the number of form fields"),
        metavar="N",
    )
    max_header_size: int = _option(
        "max_header_size",
        ("--max-header-size",),
        "Largest request head (request line and headers); larger is a 431.",
        default=64 << 10,
        parse=parse_size,
        metavar="SIZE",
        doc_default="64K",
    )
    channel_timeout: int = _option(
        "channel_timeout",
        ("--channel-timeout",),
        "Seconds a connection may stay silent (a client sending or reading nothing) "
        "before it is closed.",
        default=60,
        parse=_parse_range(1, 86_400, "the channel timeout"),
        metavar="SECONDS",
    )
    header_timeout: int = _option(
        "header_timeout",
        ("--header-timeout",),
        "Seconds a client may take to send a request's head (request line and headers) "
        "from its first byte; a slower client is disconnected, so one that trickles its "
        "headers cannot hold a connection for long.",
        default=20,
        parse=_parse_range(1, 3600, "the header timeout"),
        metavar="SECONDS",
    )
    max_connections_per_address: int | None = _option(
        "max_connections_per_address",
        ("--max-connections-per-address",),
        "Most connections one client address may hold open at once; a connection "
        "beyond it is closed as soon as it is accepted, without an answer. Trusted "
        "proxies (--trusted-proxy) are not limited.",
        parse=_parse_range(1, 100_000, "the connections per address"),
        metavar="N",
        doc_default="a quarter of --connection-limit, at least 16",
    )
    trusted_proxy: tuple[str, ...] = _option(
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
    server_base_url: str = _option(
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
    verbose: int = _option(
        "verbose",
        ("-v", "--verbose"),
        "More logging: -v logs one line per request, -vv adds debugging detail.",
        default=0,
        parse=parse_count,
        kind="count",
        doc_default="0 (warnings and errors only)",
    )
    log_file: Path | None = _option(
        "log_file",
        ("--log-file",),
        "Also write the log to this file.",
        parse=parse_path,
        metavar="FILE",
        doc_default="none",
        to_field=_user_path,
    )
    log_stream: str = _option(
        "log_stream",
        ("--log-stream",),
        "Stream to log to: stdout, stderr or none.",
        default="stdout",
        parse=parse_log_stream,
        metavar="STREAM",
    )
    log_format: str = _option(
        "log_frmt",
        ("--log-frmt",),
        "Python logging format, applied to every log destination.",
        default=DEFAULT_LOG_FORMAT,
        parse=parse_log_format,
        metavar="FORMAT",
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

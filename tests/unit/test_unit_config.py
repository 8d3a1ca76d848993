"""The option table, the value parsers, Config.from_values and from_environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from packyard.config import (
    DEFAULT_LOG_FORMAT,
    ENV_PREFIX,
    IGNORED_OPTIONS,
    OPTIONS,
    OPTIONS_BY_DEST,
    PACKAGES_ENV,
    UPDATE_OPTIONS,
    YANK_OPTIONS,
    Config,
    from_environment,
    parse_authenticate,
    parse_bool,
    parse_count,
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
    parse_url,
    render_markdown,
)
from packyard.errors import ConfigError, PackyardError

REPO_ROOT = Path(__file__).resolve().parents[2]


# --- value parsers


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8080", 8080), ("0", 0), ("65535", 65535), ("1", 1), (" 80 ", 80)],
)
def test_parse_port(text: str, expected: int) -> None:
    assert parse_port(text) == expected


@pytest.mark.parametrize("text", ["abc", "70000", "65536", "-1", "", "80.0", "0x50"])
def test_parse_port_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="port"):
        parse_port(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("::", "::"),
        ("[::1]", "::1"),
        (" localhost ", "localhost"),
    ],
)
def test_parse_host(text: str, expected: str) -> None:
    assert parse_host(text) == expected


@pytest.mark.parametrize("text", ["", " ", "[]", "a b", "http://x/", "host/path"])
def test_parse_host_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="host"):
        parse_host(text)


@pytest.mark.parametrize(("text", "expected"), [("0", 0), ("3600", 3600)])
def test_parse_seconds(text: str, expected: int) -> None:
    assert parse_seconds(text) == expected


@pytest.mark.parametrize("text", ["-1", "abc", "1.5", ""])
def test_parse_seconds_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"seconds|negative"):
        parse_seconds(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sha256", "sha256"),
        ("SHA256", "sha256"),
        ("MD5", "md5"),
        ("md5", "md5"),
        ("sha1", "sha1"),
        ("sha512", "sha512"),
        (" sha384 ", "sha384"),
        ("off", None),
        ("OFF", None),
        ("no", None),
        ("false", None),
        ("False", None),
        ("0", None),
        ("none", None),
    ],
)
def test_parse_hash_algo(text: str, expected: str | None) -> None:
    assert parse_hash_algo(text) == expected


@pytest.mark.parametrize("text", ["shake_128", "shake_256", "nope", "sha-256", ""])
def test_parse_hash_algo_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="unknown hash algorithm") as info:
        parse_hash_algo(text)
    message = str(info.value)
    for algo in ("md5", "sha1", "sha256", "sha512"):
        assert algo in message
    assert "shake" not in message.split("use one of")[1]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("update", {"update"}),
        ("update,download", {"update", "download"}),
        (" LIST , update", {"list", "update"}),
        ("download,list,update", {"download", "list", "update"}),
        ("update,update", {"update"}),
        ("update,", {"update"}),
        (".", set()),
        (" . ", set()),
    ],
)
def test_parse_authenticate(text: str, expected: set[str]) -> None:
    result = parse_authenticate(text)
    assert isinstance(result, frozenset)
    assert result == frozenset(expected)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (". ,update", "alone"),
        ("update,.", "alone"),
        ("upload", "upload"),
        ("update,remove", "remove"),
        ("", "empty"),
        (" , ", "empty"),
    ],
)
def test_parse_authenticate_rejects(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_authenticate(text)


@pytest.mark.parametrize("text", ["htpasswd", ".", "/etc/htpasswd"])
def test_parse_passwords(text: str) -> None:
    assert parse_passwords(text) == text


@pytest.mark.parametrize("text", ["", "  "])
def test_parse_passwords_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="empty path"):
        parse_passwords(text)


@pytest.mark.parametrize(
    "text", ["/health", "/healthz/live", "/_status", "/health.json", "/simplex", "/pkgs"]
)
def test_parse_health_endpoint(text: str) -> None:
    assert parse_health_endpoint(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "health",
        "",
        "/",
        "//health",
        "/health//x",
        "/./health",
        "/health/.",
        "/simple",
        "/simple/",
        "/simple/x",
        "/packages",
        "/packages/x",
        "/favicon.ico",
        "/a b",
        "/health?x=1",
        "/héalth",
        "http://x/health",
    ],
)
def test_parse_health_endpoint_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"invalid path|collides"):
        parse_health_endpoint(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://pypi.org/simple/", "https://pypi.org/simple/"),
        ("http://mirror:3141/root/pypi/+simple/", "http://mirror:3141/root/pypi/+simple/"),
        (" https://x/ ", "https://x/"),
    ],
)
def test_parse_url(text: str, expected: str) -> None:
    assert parse_url(text) == expected


@pytest.mark.parametrize("text", ["", "pypi.org/simple", "ftp://x/", "https://", "/simple/"])
def test_parse_url_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="URL"):
        parse_url(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("stdout", "stdout"), ("STDERR", "stderr"), (" none ", "none")],
)
def test_parse_log_stream(text: str, expected: str) -> None:
    assert parse_log_stream(text) == expected


@pytest.mark.parametrize("text", ["file", "", "stdout,stderr"])
def test_parse_log_stream_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="stdout"):
        parse_log_stream(text)


@pytest.mark.parametrize(
    "text",
    [DEFAULT_LOG_FORMAT, "%(message)s", "%(levelname)s: %(message)s", "plain text", "100%%"],
)
def test_parse_log_format(text: str) -> None:
    assert parse_log_format(text) == text


@pytest.mark.parametrize("text", ["%(nope)s", "%(message)", "%d", "%(message)s %"])
def test_parse_log_format_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="logging format"):
        parse_log_format(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("yes", True),
        ("on", True),
        ("y", True),
        ("t", True),
        (" Yes ", True),
        ("0", False),
        ("false", False),
        ("no", False),
        ("off", False),
        ("Off", False),
        ("n", False),
        ("f", False),
        ("", False),
    ],
)
def test_parse_bool(text: str, expected: bool) -> None:
    assert parse_bool(text) is expected


@pytest.mark.parametrize("text", ["maybe", "2", "yess", "-1"])
def test_parse_bool_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="yes/no"):
        parse_bool(text)


@pytest.mark.parametrize(("text", "expected"), [("0", 0), ("2", 2)])
def test_parse_count(text: str, expected: int) -> None:
    assert parse_count(text) == expected


@pytest.mark.parametrize("text", ["-1", "x", ""])
def test_parse_count_rejects(text: str) -> None:
    with pytest.raises(ValueError, match=r"whole number|negative"):
        parse_count(text)


def test_parse_path() -> None:
    assert parse_path("a/b") == "a/b"
    with pytest.raises(ValueError, match="empty path"):
        parse_path(" ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a", ("a",)), ("a:b", ("a", "b")), ("a::b:", ("a", "b")), ("/x/y:~/z", ("/x/y", "~/z"))],
)
def test_parse_dirs(text: str, expected: tuple[str, ...]) -> None:
    assert parse_dirs(text) == expected


@pytest.mark.parametrize("text", ["", ":", " : "])
def test_parse_dirs_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="no directory"):
        parse_dirs(text)


# --- the option table


def test_option_table_is_consistent() -> None:
    flags = [f for o in OPTIONS for f in o.flags]
    assert len(flags) == len(set(flags)), "a flag is used twice"
    assert len(OPTIONS_BY_DEST) == len(OPTIONS)
    for option in OPTIONS:
        assert option.env == ENV_PREFIX + option.dest.upper()
        assert option.help.strip()
        assert all(f.startswith("-") for f in option.flags)
        assert option.takes_value == (option.kind == "value")
        if option.kind == "value":
            assert option.metavar, option.dest


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.dest)
def test_option_default_matches_config_default(option: Any) -> None:
    """Each option's default is what Config uses when nothing is given."""
    config = Config.from_values({}, [])
    field = {"passwords": "password_file", "welcome": "welcome_file", "log_frmt": "log_format"}
    value = getattr(config, field.get(option.dest, option.dest))
    assert value == option.default


# --- Config.from_values


def test_from_values_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = Config.from_values({}, [])
    assert config.roots == (tmp_path / "packages",)
    assert config.port == 8080
    assert config.authenticate == frozenset({"update"})
    assert config.password_file is None
    assert config.hash_algo == "sha256"
    assert config == Config(roots=(tmp_path / "packages",))


def test_from_values_expands_user_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    config = Config.from_values({"passwords": "~/htpasswd"}, ["~/pkgs", "other"])
    assert config.roots == (tmp_path / "pkgs", Path("other"))
    assert config.password_file == tmp_path / "htpasswd"


@pytest.mark.parametrize(
    ("dirs", "expected"),
    [
        (["a", "a"], ["a"]),
        (["a", "./a"], ["a"]),
        (["a", "b", "a"], ["a", "b"]),
        (["b", "a", "b/", "a"], ["b", "a"]),
        (["a", "b"], ["a", "b"]),
    ],
)
def test_from_values_deduplicates_dirs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dirs: list[str], expected: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    roots = Config.from_values({}, dirs).roots
    assert [p.absolute() for p in roots] == [(tmp_path / e).absolute() for e in expected]


def test_from_values_deduplicates_absolute_and_relative(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    roots = Config.from_values({}, [str(tmp_path / "a"), "a"]).roots
    assert roots == (tmp_path / "a",)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"passwords": "."}, "-P ."),
        ({"passwords": ".", "authenticate": frozenset({"download"})}, "download"),
        ({"authenticate": frozenset()}, "-a ."),
        ({"authenticate": frozenset(), "passwords": "htpasswd"}, "htpasswd"),
    ],
)
def test_from_values_auth_rules(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        Config.from_values(values, ["d"])
    assert "\n" not in str(info.value)
    assert isinstance(info.value, PackyardError)


def test_from_values_open_server() -> None:
    config = Config.from_values({"passwords": ".", "authenticate": frozenset()}, ["d"])
    assert config.password_file is None
    assert config.authenticate == frozenset()


def test_from_values_passes_every_value() -> None:
    values = {
        "port": 1234,
        "host": "127.0.0.1",
        "passwords": "pw",
        "authenticate": frozenset({"download", "update"}),
        "disable_fallback": True,
        "fallback_url": "https://mirror/simple/",
        "health_endpoint": "/healthz",
        "hash_algo": None,
        "welcome": "welcome.html",
        "cache_control": 60,
        "verbose": 2,
        "log_file": "log.txt",
        "log_stream": "none",
        "log_frmt": "%(message)s",
    }
    config = Config.from_values(values, ["d"])
    assert config == Config(
        roots=(Path("d"),),
        port=1234,
        host="127.0.0.1",
        password_file=Path("pw"),
        authenticate=frozenset({"download", "update"}),
        fallback_url=None,  # --disable-fallback: one decision, no URL to redirect to
        health_endpoint="/healthz",
        hash_algo=None,
        welcome_file=Path("welcome.html"),
        cache_control=60,
        verbose=2,
        log_file=Path("log.txt"),
        log_stream="none",
        log_format="%(message)s",
    )
    assert config.disable_fallback is True
    without = Config.from_values({**values, "disable_fallback": False}, ["d"])
    assert without.fallback_url == "https://mirror/simple/"
    assert without.disable_fallback is False


# --- from_environment


@pytest.mark.parametrize(
    ("environ", "values", "dirs"),
    [
        ({}, {}, ()),
        ({"PYPISERVER_PORT": "9000"}, {"port": 9000}, ()),
        ({"PYPISERVER_PORT": ""}, {}, ()),  # empty: not set
        ({"PYPISERVER_DISABLE_FALLBACK": "yes"}, {"disable_fallback": True}, ()),
        ({"PYPISERVER_DISABLE_FALLBACK": "0"}, {"disable_fallback": False}, ()),
        ({"PYPISERVER_VERBOSE": "2"}, {"verbose": 2}, ()),
        ({"PYPISERVER_HASH_ALGO": "off"}, {"hash_algo": None}, ()),
        ({"PYPISERVER_AUTHENTICATE": "update,list"}, {"authenticate": {"update", "list"}}, ()),
        ({"PYPISERVER_PACKAGES_DIR": "a:b"}, {}, ("a", "b")),
        ({"PYPISERVER_PACKAGES_DIR": "/srv/pkgs"}, {}, ("/srv/pkgs",)),
        ({"PYPISERVER_PACKAGES_DIR": ""}, {}, ()),
        ({"PYPISERVER_NOT_AN_OPTION": "x", "PORT": "1"}, {}, ()),
        (
            {"PYPISERVER_HOST": "127.0.0.1", "PYPISERVER_LOG_STREAM": "stderr"},
            {"host": "127.0.0.1", "log_stream": "stderr"},
            (),
        ),
    ],
)
def test_from_environment(
    environ: dict[str, str], values: dict[str, Any], dirs: tuple[str, ...]
) -> None:
    got_values, got_dirs = from_environment(environ)
    assert got_values == values
    assert got_dirs == dirs


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"PYPISERVER_PORT": "abc"}, "PYPISERVER_PORT"),
        ({"PYPISERVER_PORT": "70000"}, "PYPISERVER_PORT"),
        ({"PYPISERVER_HASH_ALGO": "nope"}, "PYPISERVER_HASH_ALGO"),
        ({"PYPISERVER_DISABLE_FALLBACK": "maybe"}, "PYPISERVER_DISABLE_FALLBACK"),
        ({"PYPISERVER_AUTHENTICATE": "upload"}, "PYPISERVER_AUTHENTICATE"),
        ({"PYPISERVER_VERBOSE": "-1"}, "PYPISERVER_VERBOSE"),
        ({"PYPISERVER_HEALTH_ENDPOINT": "/simple"}, "PYPISERVER_HEALTH_ENDPOINT"),
        ({PACKAGES_ENV: ":"}, PACKAGES_ENV),
    ],
)
def test_from_environment_rejects(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError, match=variable) as info:
        from_environment(environ)
    assert "\n" not in str(info.value)


# --- the generated documentation


def test_render_markdown_mentions_every_option() -> None:
    text = render_markdown()
    for option in OPTIONS:
        for flag in option.flags:
            assert f"`{flag}" in text, flag
        assert f"`{option.env}`" in text, option.env
    assert PACKAGES_ENV in text
    assert text.endswith("\n")


def test_render_markdown_has_one_table_row_per_option() -> None:
    rows = [line for line in render_markdown().splitlines() if line.startswith("| `")]
    # + PACKAGES_DIR, --version, -h; the update options; the pypiserver options ignored
    assert len(rows) == (
        len(OPTIONS) + 3 + len(UPDATE_OPTIONS) + len(YANK_OPTIONS) + len(IGNORED_OPTIONS)
    )


def test_docs_configuration_is_up_to_date() -> None:
    path = REPO_ROOT / "docs" / "configuration.md"
    assert path.is_file(), (
        f"{path} is missing: generate it from the option table "
        "(python tools/gen_config_doc.py, i.e. packyard.config.render_markdown())"
    )
    assert path.read_text(encoding="utf-8") == render_markdown(), (
        f"{path} is out of date: regenerate it with python tools/gen_config_doc.py"
    )

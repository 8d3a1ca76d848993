"""Command line: argv + environment -> Config, logging set-up, and the subcommands.

This is the only module that prints. A bad option, value or directory is one line on
stderr and exit code 2; a failure while running (the port is taken) is one line and
exit code 1. Never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
import sys
import warnings
from collections.abc import Sequence
from typing import Any, NoReturn

from packyard import __version__
from packyard.config import (
    IGNORED_OPTIONS,
    OPTIONS,
    PACKAGES_ENV,
    Config,
    Option,
    from_environment,
)
from packyard.errors import ConfigError, read_text_file
from packyard.index.render import unknown_placeholders

PROG = "pypi-server"
SUBCOMMANDS = ("run",)


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _converter(option: Option) -> Any:
    def convert(text: str) -> Any:
        try:
            return option.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = option.dest  # argparse names the type in some messages
    return convert


def build_run_parser(prog: str = f"{PROG} run") -> argparse.ArgumentParser:
    parser = _Parser(
        prog=prog,
        description="Serve the distributions in PACKAGES_DIR as a Python package index.",
        epilog=(
            "Every option can also be set with an environment variable, "
            f"e.g. PYPISERVER_PORT=8080; directories with {PACKAGES_ENV}. "
            "See docs/configuration.md."
        ),
        argument_default=argparse.SUPPRESS,
    )
    for option in OPTIONS:
        kwargs: dict[str, Any] = {"dest": option.dest, "help": option.help}
        if option.kind == "flag":
            kwargs["action"] = "store_true"
        elif option.kind == "count":
            kwargs["action"] = "count"
        else:
            kwargs["type"] = _converter(option)
            kwargs["metavar"] = option.metavar
        parser.add_argument(*option.flags, **kwargs)
    ignored = parser.add_argument_group("pypiserver options accepted and ignored")
    for item in IGNORED_OPTIONS:
        ignored.add_argument(
            item.flag,
            dest="ignored_" + item.flag.lstrip("-").replace("-", "_"),
            metavar=item.metavar,
            help=f"ignored: {item.why}",
        )
    parser.add_argument(
        "packages_dirs",
        nargs="*",
        metavar="PACKAGES_DIR",
        help="directories to serve (default ~/packages); uploads go to the first",
    )
    parser.add_argument("--version", action="version", version=__version__)
    return parser


def _value_flags() -> tuple[set[str], list[str]]:
    takes = {flag for o in OPTIONS if o.takes_value for flag in o.flags}
    takes.update(o.flag for o in IGNORED_OPTIONS)
    longs = [flag for o in OPTIONS for flag in o.flags if flag.startswith("--")]
    longs += [o.flag for o in IGNORED_OPTIONS]
    return takes, longs


def split_subcommand(argv: Sequence[str]) -> tuple[str | None, list[str]]:
    """Find the subcommand wherever it stands among the options.

    Returns (subcommand or None for the legacy form, the arguments without it).
    """
    takes, longs = _value_flags()
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            break
        if arg.startswith("--"):
            flag = arg.split("=", 1)[0]
            matches = [f for f in longs if f == flag] or [f for f in longs if f.startswith(flag)]
            if "=" not in arg and len(matches) == 1 and matches[0] in takes:
                i += 1
        elif arg.startswith("-") and arg != "-":
            # Grouped short flags (-vvp 8080): a value flag takes the rest of the
            # group, or the next argument when it is the group's last letter.
            for pos, letter in enumerate(arg[1:], start=1):
                if "-" + letter in takes:
                    if pos == len(arg) - 1:
                        i += 1
                    break
        else:
            if arg in SUBCOMMANDS:
                return arg, [*argv[:i], *argv[i + 1 :]]
            return None, list(argv)
        i += 1
    return None, list(argv)


def parse_config(
    argv: Sequence[str], environ: dict[str, str], warnings: list[str] | None = None
) -> tuple[Config, bool]:
    """(Config, whether the deprecated form without subcommand was used). A warning
    for each ignored pypiserver option is added to ``warnings``."""
    command, rest = split_subcommand(argv)
    parser = build_run_parser()
    namespace = parser.parse_intermixed_args(rest)
    given = vars(namespace)
    for item in IGNORED_OPTIONS:
        value = given.pop("ignored_" + item.flag.lstrip("-").replace("-", "_"), None)
        if value is not None and warnings is not None:
            warnings.append(f"{item.flag} {value} is ignored: {item.why}")
    env_values, env_dirs = from_environment(environ)
    values: dict[str, Any] = {o.dest: o.default for o in OPTIONS if o.default is not None}
    values.update(env_values)
    values.update({k: v for k, v in given.items() if k != "packages_dirs"})
    dirs = given.get("packages_dirs") or list(env_dirs)
    return Config.from_values(values, dirs), command is None


def _check_upload_directory(config: Config) -> None:
    """Refuse to start when uploads are possible but would all fail: the first packages
    directory (where uploads go) is not writable. The Docker entrypoint refuses too."""
    uploads = config.password_file is not None or "update" not in config.authenticate
    if not uploads or not config.roots or os.access(config.roots[0], os.W_OK | os.X_OK):
        return
    try:
        read_only = bool(os.statvfs(config.roots[0]).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    why = "it is on a read-only file system" if read_only else "permission denied"
    raise ConfigError(
        f"packages directory {config.roots[0]} is not writable ({why}), so every upload "
        "would fail: make it writable, or start without -P and -a for an index without uploads"
    )


def check_environment(config: Config) -> tuple[str | None, list[str]]:
    """Start-up checks of the files the configuration names.

    Returns the welcome template and warnings to log; raises ConfigError with a
    one-line message. Runs before logging is set up, so it logs nothing itself."""
    for root in config.roots:
        try:
            mode = root.stat().st_mode
        except (FileNotFoundError, NotADirectoryError):
            raise ConfigError(f"packages directory {root} does not exist") from None
        except OSError as exc:
            raise ConfigError(
                f"packages directory {root} cannot be examined: {exc.strerror or exc}"
            ) from None
        if not stat.S_ISDIR(mode):
            raise ConfigError(f"packages directory {root} is not a directory")
        try:
            with os.scandir(root):
                pass
        except OSError as exc:
            raise ConfigError(
                f"packages directory {root} cannot be read: {exc.strerror or exc}"
            ) from None
    _check_upload_directory(config)
    if config.password_file is not None:
        try:
            with config.password_file.open("rb"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"password file {config.password_file} cannot be read: {exc.strerror or exc}"
            ) from None
    welcome = None
    notes: list[str] = []
    if config.welcome_file is not None:
        welcome = read_text_file(config.welcome_file, "welcome file")
        unknown = unknown_placeholders(welcome)
        if unknown:
            notes.append(
                f"welcome file {config.welcome_file}: unknown placeholders left as they "
                f"are: {', '.join(unknown)}"
            )
    if config.log_file is not None:
        try:
            with config.log_file.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            raise ConfigError(
                f"log file {config.log_file} cannot be written: {exc.strerror or exc}"
            ) from None
    return welcome, notes


def setup_logging(config: Config) -> None:
    level = {0: logging.WARNING, 1: logging.INFO}.get(config.verbose, logging.DEBUG)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    formatter = logging.Formatter(config.log_format)
    handlers: list[logging.Handler] = []
    if config.log_stream != "none":
        handlers.append(
            logging.StreamHandler(sys.stdout if config.log_stream == "stdout" else sys.stderr)
        )
    if config.log_file is not None:
        handlers.append(logging.FileHandler(config.log_file, encoding="utf-8"))
    if not handlers:
        handlers.append(logging.NullHandler())
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    # Python warnings (from libraries too) go where the log goes, not to bare stderr.
    logging.captureWarnings(True)
    warnings.filterwarnings(
        "ignore", message="Callback with id", category=RuntimeWarning, module="watchdog"
    )
    # watchdog's per-event debugging is noise even at -vv.
    logging.getLogger("watchdog").setLevel(max(level, logging.INFO))
    # waitress warns "Task queue depth is N" on nearly every request under load: a
    # line per request that fills disks and costs 10% of the CPU (seen in the
    # benchmark). Busy is not an error; the access log (-v) shows the load.
    logging.getLogger("waitress.queue").setLevel(max(level, logging.ERROR))


def _top_level_help() -> str:
    text = build_run_parser(prog=f"{PROG} [run]").format_help()
    return (
        f"{PROG}: a Python package index (packyard {__version__}).\n\n"
        "commands:\n"
        "  run      serve packages directories (the default)\n"
        "  yank     mark a release or a file as yanked (PEP 592)\n"
        "  unyank   take a yank back\n"
        "  update   look for newer releases on an upstream index (-x downloads them)\n\n" + text
    )


def build_yank_parser(undo: bool) -> argparse.ArgumentParser:
    command = "unyank" if undo else "yank"
    parser = _Parser(
        prog=f"{PROG} {command}",
        description=(
            "Take back the yank of a release or a file."
            if undo
            else "Yank a release (every file of PROJECT VERSION) or one file (FILENAME): "
            "installers skip it unless it is pinned with == or ===. It stays listed "
            "and downloadable. A running server sees the change on its next request."
        ),
    )
    if not undo:
        parser.add_argument("--reason", default="", help="why (shown by pip and uv)")
    parser.add_argument("packages_dir", metavar="PACKAGES_DIR", help="the packages directory")
    parser.add_argument(
        "target", nargs="+", metavar="PROJECT VERSION | FILENAME", help="what to " + command
    )
    return parser


def yank_main(argv: Sequence[str], *, undo: bool) -> int:
    command = "unyank" if undo else "yank"
    try:
        namespace = build_yank_parser(undo).parse_args(argv)
    except UsageError as exc:
        return _fail(f"{exc} (see '{PROG} {command} --help')", 2)
    if len(namespace.target) > 2:
        return _fail(f"give PROJECT VERSION or one FILENAME (see '{PROG} {command} --help')", 2)
    directory = os.path.abspath(namespace.packages_dir)
    if not os.path.isdir(directory):
        return _fail(f"packages directory {namespace.packages_dir!r} does not exist", 2)

    from packyard import yanking
    from packyard.storage.cache import IndexCache
    from packyard.storage.directory import Root
    from packyard.storage.ledger import Ledger
    from packyard.storage.local import DirectoryRepository

    target_args = namespace.target
    try:
        if len(target_args) == 1:
            target = yanking.target_from(None, None, target_args[0])
        else:
            target = yanking.target_from(target_args[0], target_args[1], None)
        reason = yanking.check_reason(getattr(namespace, "reason", ""))
    except yanking.YankError as exc:
        return _fail(exc.message, 2)
    roots = [Root.of(directory)]
    ledger = Ledger(roots)
    try:
        if ledger.parts[0].path is None:
            return _fail(f"cannot write the ledger in {directory}/.packyard", 1)
        cache = IndexCache(roots, ledger)
        cache.rescan()
        repo = DirectoryRepository(cache)
        message = yanking.unyank(repo, target) if undo else yanking.yank(repo, target, reason)
    except yanking.YankError as exc:
        return _fail(exc.message, 1)
    finally:
        ledger.close()
    print(message)
    return 0


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("yank", "unyank"):
        return yank_main(args[1:], undo=args[0] == "unyank")
    if args and args[0] in ("update", "-U", "--update-packages"):
        from packyard import update

        if args[0] != "update":  # pypiserver 1.x's form, still accepted by 2.x
            print(
                f"{PROG}: warning: {args[0]} is deprecated; use '{PROG} update'",
                file=sys.stderr,
            )
        return update.main(args[1:])
    command, _rest = split_subcommand(args)
    if command is None and any(a in ("-h", "--help") for a in args):
        sys.stdout.write(_top_level_help())
        return 0
    try:
        warnings: list[str] = []
        config, legacy = parse_config(args, dict(os.environ), warnings)
        for warning in warnings:
            print(f"{PROG}: warning: {warning}", file=sys.stderr)
        if legacy and args:
            print(
                f"{PROG}: warning: options without a command are deprecated; "
                f"use '{PROG} run [OPTIONS] [PACKAGES_DIR ...]'",
                file=sys.stderr,
            )
        welcome, notes = check_environment(config)
        setup_logging(config)
    except UsageError as exc:
        return _fail(f"{exc} (see '{PROG} run --help')", 2)
    except ConfigError as exc:
        return _fail(str(exc), 2)

    for note in notes:
        logging.getLogger(__name__).warning("%s", note)

    from packyard import server  # imported late: waitress and watchdog are not needed above

    try:
        return server.run(config, welcome)
    except ConfigError as exc:
        return _fail(str(exc), 2)
    except OSError as exc:
        return _fail(f"cannot serve on {config.host}:{config.port}: {exc.strerror or exc}", 1)

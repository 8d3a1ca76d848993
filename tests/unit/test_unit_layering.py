"""The layering of the package, checked on the source, and imports without side effects."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "packyard"
STDLIB = sys.stdlib_module_names


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(module: str) -> set[str]:
    """Every module imported anywhere in ``module`` (also inside functions), absolute."""
    path = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base)
                target = f"{prefix}.{node.module}" if node.module else prefix
            else:
                target = node.module or ""
            found.add(target)
            # "from packyard import server" imports the module packyard.server
            for alias in node.names:
                candidate = f"{target}.{alias.name}"
                if candidate in MODULES:
                    found.add(candidate)
    found.discard("__future__")
    return found


def top(name: str) -> str:
    return name.split(".")[0]


def is_within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_package_is_found() -> None:
    assert {
        "packyard",
        "packyard.cli",
        "packyard.config",
        "packyard.app",
        "packyard.index.filenames",
        "packyard.index.model",
        "packyard.storage.directory",
        "packyard.index.metadata",
        "packyard.index.pypi_json",
        "packyard.storage.ledger",
        "packyard.rpc",
        "packyard.yanking",
        "packyard.services",
        "packyard.values",
        "packyard.commands.common",
        "packyard.commands.run",
        "packyard.commands.update",
        "packyard.commands.yank",
    } <= set(MODULES)


@pytest.mark.parametrize(
    ("module", "rule_set"),
    [
        ("packyard.index.metadata", "index"),
        ("packyard.index.pypi_json", "index"),
        ("packyard.index.render", "index"),
        ("packyard.storage.ledger", "storage"),
        ("packyard.storage.cache", "storage"),
    ],
)
def test_layered_modules_are_covered_by_their_rules(module: str, rule_set: str) -> None:
    assert module in {"index": INDEX_MODULES, "storage": STORAGE_MODULES}[rule_set]


INDEX_MODULES = sorted(m for m in MODULES if is_within(m, "packyard.index"))
STORAGE_MODULES = sorted(m for m in MODULES if is_within(m, "packyard.storage"))


@pytest.mark.parametrize("module", INDEX_MODULES)
def test_index_imports_only_stdlib_packaging_and_index(module: str) -> None:
    bad = {
        name
        for name in imports_of(module)
        if top(name) not in STDLIB
        and top(name) != "packaging"
        and not is_within(name, "packyard.index")
    }
    assert not bad, f"{module} imports {sorted(bad)}"


@pytest.mark.parametrize("module", STORAGE_MODULES)
def test_storage_does_not_import_the_upper_layers(module: str) -> None:
    upper = (
        "packyard.app",
        "packyard.cli",
        "packyard.commands",
        "packyard.server",
        "packyard.services",
        "packyard.accesslog",
        "bottle",
    )
    bad = {name for name in imports_of(module) if any(is_within(name, u) for u in upper)}
    assert not bad, f"{module} imports {sorted(bad)}"


WEB_LAYER = (
    "packyard.app",
    "packyard.cli",
    "packyard.commands",
    "packyard.server",
    "packyard.services",
    "packyard.accesslog",
)


@pytest.mark.parametrize("module", ["packyard.rpc", "packyard.yanking"])
def test_actions_do_not_import_the_web_layer(module: str) -> None:
    # The RPC and yank logic are called by the app and by the command line alike.
    bad = {
        name
        for name in imports_of(module)
        if any(is_within(name, u) for u in WEB_LAYER) or top(name) in ("bottle", "waitress")
    }
    assert not bad, f"{module} imports {sorted(bad)}"


def test_rpc_imports_only_stdlib_and_defusedxml() -> None:
    bad = {n for n in imports_of("packyard.rpc") if top(n) not in STDLIB and top(n) != "defusedxml"}
    assert not bad, f"packyard.rpc imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_main_imports_cli(module: str) -> None:
    # cli is the dispatcher of the command line; nothing else depends on it (the
    # commands, the WSGI factory and the update use case use packyard.commands).
    if module in ("packyard.__main__", "packyard.cli"):
        return
    assert "packyard.cli" not in imports_of(module)


COMMANDS = sorted(m for m in MODULES if is_within(m, "packyard.commands"))
# Who may use the commands package: the dispatcher, the WSGI factory (it reads the
# run options), the commands themselves; the update use case prints its report
# with the commands' one-line error (packyard.commands.common, nothing else).
COMMAND_USERS = {"packyard.cli", "packyard.wsgi", *COMMANDS}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_entry_points_import_the_commands(module: str) -> None:
    used = {n for n in imports_of(module) if is_within(n, "packyard.commands")}
    if module in COMMAND_USERS:
        return
    if module == "packyard.update":
        assert used <= {"packyard.commands", "packyard.commands.common"}, used
        return
    assert not used, f"{module} imports {sorted(used)}"


def test_the_command_helper_imports_only_the_option_table() -> None:
    bad = {
        n
        for n in imports_of("packyard.commands.common")
        if top(n) not in STDLIB and n not in ("packyard", "packyard.config")
    }
    assert not bad, f"packyard.commands.common imports {sorted(bad)}"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "packyard.commands"))
def test_commands_do_not_import_each_other(module: str) -> None:
    if module not in COMMANDS or module == "packyard.commands.common":
        return
    others = {
        n
        for n in imports_of(module)
        if is_within(n, "packyard.commands")
        and n not in (module, "packyard.commands", "packyard.commands.common")
    }
    assert not others, f"{module} imports {sorted(others)}"


def _cycles() -> list[list[str]]:
    """The strongly connected components (more than one module) of the import graph."""
    graph = {m: {i for i in imports_of(m) if i in MODULES and i != m} for m in MODULES}
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        order[node] = low[node] = len(order)
        stack.append(node)
        for other in graph[node]:
            if other not in order:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], order[other])
        if low[node] == order[node]:
            component = []
            while True:
                top_node = stack.pop()
                component.append(top_node)
                if top_node == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in order:
            visit(node)
    return found


def test_no_import_cycles() -> None:
    # Imports inside functions count too: a late import is still a dependency.
    assert _cycles() == []


def test_cycle_finder_finds_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = {"packyard.a": {"packyard.b"}, "packyard.b": {"packyard.a"}, "packyard.c": set()}
    monkeypatch.setattr(sys.modules[__name__], "MODULES", dict.fromkeys(fake, PACKAGE))
    monkeypatch.setattr(sys.modules[__name__], "imports_of", lambda m: fake[m])
    assert _cycles() == [["packyard.a", "packyard.b"]]


def test_main_imports_cli() -> None:
    assert "packyard.cli" in imports_of("packyard.__main__")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_app_imports_bottle(module: str) -> None:
    uses_bottle = any(top(name) == "bottle" for name in imports_of(module))
    assert uses_bottle == (module == "packyard.app")


@pytest.mark.parametrize("module", sorted(MODULES))
def test_only_server_and_transport_import_waitress(module: str) -> None:
    uses_waitress = any(top(name) == "waitress" for name in imports_of(module))
    assert not uses_waitress or module in ("packyard.server", "packyard.transport")


@pytest.mark.parametrize(
    "module",
    [
        "packyard.config",
        "packyard.values",
        "packyard.errors",
        "packyard.httputil",
        "packyard.proxy",
        "packyard.commands.common",
    ],
)
def test_pure_modules_import_no_third_party(module: str) -> None:
    bad = {n for n in imports_of(module) if top(n) not in STDLIB and top(n) != "packyard"}
    assert not bad, f"{module} imports {sorted(bad)}"


_CHECK = """
import importlib, logging, sys, threading
module = importlib.import_module(sys.argv[1])
assert threading.active_count() == 1, [t.name for t in threading.enumerate()]
assert logging.getLogger().handlers == [], logging.getLogger().handlers
levels = {
    name: logger.level
    for name, logger in logging.root.manager.loggerDict.items()
    if name.split(".")[0] == "packyard" and isinstance(logger, logging.Logger) and logger.level
}
assert not levels, f"logger levels set at import: {levels}"
print("ok", module.__name__)
"""


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != "packyard.__main__"))
def test_import_has_no_side_effects(module: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _CHECK, module],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"ok {module}\n"
    assert result.stderr == ""

"""Real clients against a real server: pip, uv and pypi-simple as an independent parser."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from helpers import Clients, Server, http, start_server, wait_for
from helpers.dists import sdist_bytes, wheel_bytes
from pypi_simple import PyPISimple


@dataclass
class Tree:
    root: Path
    files: dict[str, bytes]  # relpath -> bytes


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Tree:
    root = tmp_path_factory.mktemp("clients") / "packages"
    (root / "lib").mkdir(parents=True)
    files: dict[str, bytes] = {}

    def put(directory: str, made: tuple[str, bytes]) -> None:
        filename, data = made
        relpath = f"{directory}/{filename}" if directory else filename
        (root / relpath).write_bytes(data)
        files[relpath] = data

    put("lib", wheel_bytes("chain-lib", "1.0"))
    put("lib", wheel_bytes("chain-lib", "2.0"))
    put("lib", sdist_bytes("chain-lib", "2.1"))  # the highest final release: pip must build it
    put("lib", wheel_bytes("chain-lib", "3.0rc1"))  # a pre-release
    put("", wheel_bytes("chain-app", "1.0", requires=("chain-lib>=1.0,<2",)))
    put("", wheel_bytes("chain-app", "2.0", requires=("chain-lib>=2",)))
    put("", wheel_bytes("chain-app", "2.1b1", requires=("chain-lib>=3.0rc1",)))
    put("", wheel_bytes("Demo_Pkg", "0.5"))
    put("", sdist_bytes("Demo_Pkg", "0.4"))
    return Tree(root, files)


@pytest.fixture(scope="module")
def server(tree: Tree) -> Iterator[Server]:
    # no fallback: nothing may be fetched from the internet
    srv = start_server("-v", "--disable-fallback", tree.root)
    yield srv
    srv.stop()


def installed(clients: Clients) -> dict[str, str]:
    """name -> version of every distribution in the target environment."""
    out = clients.run_python(
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    return json.loads(out)


# --- pip -------------------------------------------------------------------------------------


def test_pip_resolves_a_chain_and_ignores_pre_releases(server: Server, clients: Clients) -> None:
    index = server.url + "simple/"
    clients.pip("install", "--index-url", index, "chain-app")
    assert installed(clients) == {"chain-app": "2.0", "chain-lib": "2.1"}
    # 2.1 exists only as an sdist: pip built it
    assert clients.run_python("import chain_lib; print(chain_lib.FROM_SDIST)").strip() == "True"

    clients.pip("install", "--index-url", index, "--pre", "--upgrade", "chain-app")
    assert installed(clients) == {"chain-app": "2.1b1", "chain-lib": "3.0rc1"}


def test_pip_honours_a_version_constraint(server: Server, clients: Clients) -> None:
    clients.pip("install", "--index-url", server.url + "simple/", "chain-app<2")
    assert installed(clients) == {"chain-app": "1.0", "chain-lib": "1.0"}


def test_pip_installs_a_non_normalized_name(server: Server, clients: Clients) -> None:
    clients.pip("install", "--index-url", server.url + "simple/", "Demo_Pkg")
    assert installed(clients) == {"demo_pkg": "0.5"}
    assert clients.run_python("import demo_pkg; print(demo_pkg.VERSION)").strip() == "0.5"


def test_pip_with_the_server_root_as_index_url(server: Server, clients: Clients) -> None:
    # pip's old usage: --index-url http://host:port/ works through /<project>/ -> 303
    redirect = http(server.url + "demo-pkg/")
    assert redirect.status == 303
    assert urlsplit(urljoin(server.url + "demo-pkg/", redirect.header("Location"))).path == (
        "/simple/demo-pkg/"
    )
    line = "GET /demo-pkg/ 303 "
    assert wait_for(lambda: line in server.log_text())
    before = server.log_text().count(line)
    clients.pip("install", "--index-url", server.url, "Demo_Pkg==0.4")
    assert installed(clients) == {"demo_pkg": "0.4"}
    assert clients.run_python("import demo_pkg; print(demo_pkg.FROM_SDIST)").strip() == "True"
    # pip really went through the redirect
    assert wait_for(lambda: server.log_text().count(line) > before)


def test_pip_fails_cleanly_for_a_missing_project(server: Server, clients: Clients) -> None:
    result = clients.pip(
        "install", "--index-url", server.url + "simple/", "no-such-project", check=False
    )
    assert result.returncode != 0
    assert "no-such-project" in (result.stdout + result.stderr).lower()
    assert installed(clients) == {}


# --- uv -------------------------------------------------------------------------------------


def test_uv_pip_install(server: Server, clients: Clients) -> None:
    index = server.url + "simple/"
    clients.uv("pip", "install", "--python", str(clients.python), "--index-url", index, "chain-app")
    assert installed(clients) == {"chain-app": "2.0", "chain-lib": "2.1"}
    assert clients.run_python("import chain_lib; print(chain_lib.FROM_SDIST)").strip() == "True"


def test_uv_pip_install_non_normalized_name(server: Server, clients: Clients) -> None:
    index = server.url + "simple/"
    clients.uv("pip", "install", "--python", str(clients.python), "--index-url", index, "DEMO.pkg")
    assert installed(clients) == {"demo_pkg": "0.5"}


# --- pypi-simple ---------------------------------------------------------------------------


@pytest.fixture
def simple(server: Server) -> Iterator[PyPISimple]:
    session = requests.Session()
    session.trust_env = False  # no proxy from this machine's environment
    with PyPISimple(server.url + "simple/", session=session) as client:
        yield client


def test_pypi_simple_index_page(simple: PyPISimple) -> None:
    page = simple.get_index_page()
    assert page.projects == ["chain-app", "chain-lib", "demo-pkg"]


@pytest.mark.parametrize("project", ["chain-lib", "chain-app", "demo-pkg"])
def test_pypi_simple_project_page(simple: PyPISimple, tree: Tree, project: str) -> None:
    page = simple.get_project_page(project)
    expected = {
        relpath.rpartition("/")[2]: data
        for relpath, data in tree.files.items()
        if relpath.rpartition("/")[2].lower().replace("_", "-").startswith(project + "-")
    }
    assert expected
    assert sorted(p.filename for p in page.packages) == sorted(expected)
    for pkg in page.packages:
        data = expected[pkg.filename]
        stem = pkg.filename.removesuffix(".tar.gz").removesuffix("-py3-none-any.whl")
        assert pkg.version == stem.rpartition("-")[2]
        assert pkg.package_type == ("wheel" if pkg.filename.endswith(".whl") else "sdist")
        assert pkg.digests == {"sha256": hashlib.sha256(data).hexdigest()}
        assert pkg.project is not None
        assert pkg.project.lower().replace("_", "-") == project
        got = http(pkg.url)
        assert got.status == 200
        assert got.body == data


def test_pypi_simple_non_normalized_name(simple: PyPISimple) -> None:
    page = simple.get_project_page("Demo_Pkg")
    assert sorted(p.version for p in page.packages) == ["0.4", "0.5"]

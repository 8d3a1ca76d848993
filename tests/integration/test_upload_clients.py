"""Uploads with the real publishing clients: twine, uv publish, pdm and poetry.

Every client runs with an isolated environment (HOME, XDG dirs and caches in tmp_path, no
PIP_/UV_/TWINE_ settings, no keyring), so nothing of the developer's ~/.pypirc or config is
read. The server is started with ``-P <htpasswd> -a update`` unless a test says otherwise.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import Clients, Server, Site, add_user, clean_environ, http, uv_binary, wait_for
from helpers.dists import make_sdist, make_wheel, wheel_bytes

TWINE = Path(sys.executable).parent / "twine"
USER, PASSWORD = "uploader", "s3cret-pw"


def stored(directory: Path) -> list[Path]:
    """The entries of the packages directory, without the server's ledger (.packyard)."""
    return sorted(p for p in directory.iterdir() if p.name != ".packyard")


HREF = re.compile(r'href="([^"#]*)#sha256=([0-9a-f]{64})"')


@pytest.fixture
def site(tmp_path: Path, serve) -> Site:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    server = serve("-v", "-P", htpasswd, "-a", "update", "--disable-fallback", packages)
    return Site(server, packages)


@pytest.fixture
def overwrite_site(tmp_path: Path, serve) -> Site:
    packages = tmp_path / "packages"
    packages.mkdir()
    htpasswd = tmp_path / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    server = serve("-P", htpasswd, "-a", "update", "-o", "--disable-fallback", packages)
    return Site(server, packages)


def client_env(clients: Clients) -> dict[str, str]:
    env = dict(clients.env)
    env.update(
        {
            # never the developer's keyring (twine asks it when a password is missing)
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "COLUMNS": "250",  # rich would wrap twine's messages at 80 columns
            "NO_COLOR": "1",
        }
    )
    return env


def twine(
    clients: Clients, url: str, *files: Path, creds: tuple[str, ...] | None = None
) -> subprocess.CompletedProcess[str]:
    """``twine upload`` to ``url``; ``creds`` are extra arguments (-u/-p)."""
    assert not (Path(clients.env["HOME"]) / ".pypirc").exists()
    cmd = [
        str(TWINE),
        "--no-color",
        "upload",
        "--repository-url",
        url,
        "--non-interactive",
        "--disable-progress-bar",
        *(creds if creds is not None else ("-u", USER, "-p", PASSWORD)),
        *(str(f) for f in files),
    ]
    return subprocess.run(
        cmd,
        env=client_env(clients),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=clients.root,
    )


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def logged(server: Server, pattern: str) -> bool:
    """The server's log has (or soon has: it is read by a thread) a line matching."""
    return wait_for(lambda: re.search(pattern, server.log_text()) is not None)


def simple_links(server: Server, project: str) -> dict[str, str]:
    """filename -> sha256 of the links on /simple/<project>/."""
    resp = http(server.url + f"simple/{project}/")
    assert resp.status == 200, resp.text
    return {href.rsplit("/", 1)[-1]: digest for href, digest in HREF.findall(resp.text)}


# --- twine ---------------------------------------------------------------------------


def test_twine_uploads_wheel_and_sdist_then_pip_installs(
    site: Site, clients: Clients, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = make_wheel(dist, "up-demo", "1.0")
    sdist = make_sdist(dist, "up-demo", "1.0")

    result = twine(clients, site.server.url, wheel, sdist)
    assert result.returncode == 0, output(result)

    for path in (wheel, sdist):
        kept = site.packages / path.name
        assert kept.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in stored(site.packages)) == sorted([wheel.name, sdist.name])

    # read-your-writes: the very next request lists both, with the right digests
    links = simple_links(site.server, "up-demo")
    assert links == {
        wheel.name: hashlib.sha256(wheel.read_bytes()).hexdigest(),
        sdist.name: hashlib.sha256(sdist.read_bytes()).hexdigest(),
    }
    assert logged(site.server, f"{USER} uploaded {re.escape(wheel.name)}")
    assert logged(site.server, f"{USER} uploaded {re.escape(sdist.name)}")

    clients.pip("install", "--index-url", site.server.url + "simple/", "up-demo")
    assert clients.run_python("import up_demo; print(up_demo.VERSION)").strip() == "1.0"


def test_twine_without_credentials_fails_with_401(
    site: Site, clients: Clients, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "up-demo", "1.0")

    # no credentials at all: --non-interactive makes twine give up instead of prompting
    nothing = twine(clients, site.server.url, wheel, creds=())
    assert nothing.returncode != 0
    # empty credentials are sent and refused with 401
    empty = twine(clients, site.server.url, wheel, creds=("-u", "", "-p", ""))
    assert empty.returncode != 0
    assert "401" in output(empty), output(empty)
    assert logged(site.server, r"POST / 401 "), site.server.log_text()

    # the server's own answer to an upload without an Authorization header
    fname, data = wheel_bytes("up-demo", "1.0")
    boundary = "b0undary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name=":action"\r\n\r\nfile_upload\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="content"; '
            f'filename="{fname}"\r\n\r\n'
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    resp = http(
        site.server.url,
        "POST",
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
        body,
    )
    assert resp.status == 401
    assert resp.header("WWW-Authenticate") == 'Basic realm="pypi"'
    assert list(stored(site.packages)) == []


def test_twine_with_wrong_password_fails_with_403(
    site: Site, clients: Clients, tmp_path: Path
) -> None:
    wheel = make_wheel(tmp_path, "up-demo", "1.0")
    result = twine(clients, site.server.url, wheel, creds=("-u", USER, "-p", "not-it"))
    assert result.returncode != 0
    assert "403" in output(result), output(result)
    assert list(stored(site.packages)) == []


def test_twine_reupload_identical_ok_different_refused(
    site: Site, clients: Clients, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    wheel = make_wheel(first, "up-demo", "1.0")
    other = make_wheel(second, "up-demo", "1.0", module_body="CHANGED = True\n")
    assert wheel.name == other.name
    assert wheel.read_bytes() != other.read_bytes()

    assert twine(clients, site.server.url, wheel).returncode == 0
    again = twine(clients, site.server.url, wheel)
    assert again.returncode == 0, output(again)
    # answered 200 twice (twine would have failed on anything else, too)
    assert wait_for(lambda: len(re.findall(r"POST / 200 ", site.server.log_text())) == 2)

    conflict = twine(clients, site.server.url, other)
    assert conflict.returncode != 0
    assert "File already exists" in output(conflict), output(conflict)
    assert (site.packages / wheel.name).read_bytes() == wheel.read_bytes()
    assert simple_links(site.server, "up-demo") == {
        wheel.name: hashlib.sha256(wheel.read_bytes()).hexdigest()
    }


def test_twine_overwrite_server_replaces_file(
    overwrite_site: Site, clients: Clients, tmp_path: Path
) -> None:
    site = overwrite_site
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    wheel = make_wheel(first, "up-demo", "1.0")
    other = make_wheel(second, "up-demo", "1.0", module_body="CHANGED = True\n")

    assert twine(clients, site.server.url, wheel).returncode == 0
    old_sha = hashlib.sha256(wheel.read_bytes()).hexdigest()
    assert simple_links(site.server, "up-demo") == {wheel.name: old_sha}

    replaced = twine(clients, site.server.url, other)
    assert replaced.returncode == 0, output(replaced)
    assert (site.packages / other.name).read_bytes() == other.read_bytes()
    new_sha = hashlib.sha256(other.read_bytes()).hexdigest()
    assert simple_links(site.server, "up-demo") == {other.name: new_sha}
    # and the file served is the new one
    served = http(site.server.url + f"packages/{other.name}")
    assert served.status == 200
    assert served.body == other.read_bytes()
    assert [p.name for p in stored(site.packages)] == [other.name]  # no temp file left


# --- uv publish ----------------------------------------------------------------------


def test_uv_publish_uploads_and_shows_conflict_message(
    site: Site, clients: Clients, tmp_path: Path
) -> None:
    first = tmp_path / "first"
    second = tmp_path / "second"
    first.mkdir()
    second.mkdir()
    wheel = make_wheel(first, "uv-pub", "2.0")
    other = make_wheel(second, "uv-pub", "2.0", module_body="CHANGED = True\n")
    publish = ("publish", "--no-progress", "--publish-url", site.server.url + "legacy/")

    ok = clients.uv(*publish, "--username", USER, "--password", PASSWORD, str(wheel))
    assert (site.packages / wheel.name).read_bytes() == wheel.read_bytes()
    assert "error" not in output(ok).lower()
    assert logged(site.server, r"POST /legacy/ 200 ")
    assert wheel.name in simple_links(site.server, "uv-pub")

    # credentials from the environment, and a conflicting file
    conflict = uv_with_env(
        clients,
        {"UV_PUBLISH_USERNAME": USER, "UV_PUBLISH_PASSWORD": PASSWORD},
        *publish,
        str(other),
    )
    assert conflict.returncode != 0
    text = output(conflict)
    assert "409" in text, text
    # uv shows what the server says: PyPI's JSON error ("code" holds status and message)
    assert "File already exists" in text, text
    assert (site.packages / wheel.name).read_bytes() == wheel.read_bytes()


def uv_with_env(
    clients: Clients, extra: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    env = dict(clients.env)
    env.update(extra)
    return subprocess.run(
        [str(uv_binary()), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=clients.root,
    )


# --- pdm and poetry ------------------------------------------------------------------


@dataclass
class Tools:
    pdm: Path
    poetry: Path
    install_seconds: dict[str, float]


# ``pdm[locked]`` pins pdm's tested dependency set: plain ``pdm`` 2.29 picks up hishel
# 2.0, which it cannot import.
TOOL_REQUIREMENTS = {"pdm": "pdm[locked]", "poetry": "poetry"}


@pytest.fixture(scope="module")
def tools(tmp_path_factory: pytest.TempPathFactory) -> Tools:
    """pdm and poetry from PyPI, each in a throwaway venv, installed once for this
    module and in parallel (about 10-15 s each on this machine)."""
    root = tmp_path_factory.mktemp("publish-tools")
    home = root / "home"
    home.mkdir()
    # Reaching PyPI may need this machine's proxy and CA settings: keep them for the
    # install, but no PIP_* overrides and a temporary HOME.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "PYPISERVER_", "TWINE_", "PDM_", "POETRY_"))
    }
    env.update({"HOME": str(home), "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"})

    def install(tool: str) -> tuple[subprocess.CompletedProcess[str], float]:
        venv = root / tool
        subprocess.run(
            [sys.executable, "-m", "venv", "--without-pip", str(venv)],
            check=True,
            capture_output=True,
        )
        started = time.monotonic()
        # this interpreter's pip installs into the venv (no ensurepip: faster)
        pip = (sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"))
        result = subprocess.run(
            [*pip, "install", "-q", TOOL_REQUIREMENTS[tool]],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        return result, time.monotonic() - started

    with ThreadPoolExecutor(len(TOOL_REQUIREMENTS)) as pool:
        done = dict(zip(TOOL_REQUIREMENTS, pool.map(install, TOOL_REQUIREMENTS), strict=True))
    for tool, (result, _) in done.items():
        assert result.returncode == 0, f"installing {tool} failed:\n{result.stdout}{result.stderr}"
    seconds = {tool: elapsed for tool, (_, elapsed) in done.items()}
    return Tools(root / "pdm" / "bin" / "pdm", root / "poetry" / "bin" / "poetry", seconds)


def tool_env(home: Path) -> dict[str, str]:
    """No PDM_/POETRY_ settings of this machine; config, cache and data in ``home``."""
    env = {k: v for k, v in clean_environ().items() if not k.startswith(("PDM_", "POETRY_"))}
    env.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "PYTHON_KEYRING_BACKEND": "keyring.backends.null.Keyring",
            "NO_COLOR": "1",
        }
    )
    return env


def test_pdm_publish_uploads_prebuilt_dists(
    tools: Tools, site: Site, tmp_path: Path, record_property
) -> None:
    record_property("pdm_install_seconds", round(tools.install_seconds["pdm"], 1))
    project = tmp_path / "pdm-project"
    dist = project / "dist"
    dist.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "pdm-demo"\nversion = "1.0"\nrequires-python = ">=3.8"\n\n'
        '[build-system]\nrequires = ["pdm-backend"]\nbuild-backend = "pdm.backend"\n'
    )
    wheel = make_wheel(dist, "pdm-demo", "1.0")
    sdist = make_sdist(dist, "pdm-demo", "1.0")

    home = tmp_path / "pdm-home"
    env = tool_env(home)
    env.update({"PDM_CHECK_UPDATE": "false", "PDM_NON_INTERACTIVE": "1"})
    result = subprocess.run(
        [
            str(tools.pdm),
            "publish",
            "--no-build",
            "--repository",
            site.server.url + "legacy/",
            "--username",
            USER,
            "--password",
            PASSWORD,
        ],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, output(result)
    for path in (wheel, sdist):
        assert (site.packages / path.name).read_bytes() == path.read_bytes()
    assert simple_links(site.server, "pdm-demo") == {
        wheel.name: hashlib.sha256(wheel.read_bytes()).hexdigest(),
        sdist.name: hashlib.sha256(sdist.read_bytes()).hexdigest(),
    }
    assert logged(site.server, r"POST /legacy/ 200 ")


def test_poetry_publish_uploads_and_reports_conflict(
    tools: Tools, site: Site, tmp_path: Path, record_property
) -> None:
    record_property("poetry_install_seconds", round(tools.install_seconds["poetry"], 1))
    project = tmp_path / "poetry-project"
    dist = project / "dist"
    dist.mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        '[project]\nname = "poetry-demo"\nversion = "1.0"\n\n'
        '[build-system]\nrequires = ["poetry-core"]\nbuild-backend = "poetry.core.masonry.api"\n'
    )
    wheel = make_wheel(dist, "poetry-demo", "1.0")
    sdist = make_sdist(dist, "poetry-demo", "1.0")
    first_wheel = wheel.read_bytes()

    home = tmp_path / "poetry-home"
    env = tool_env(home)
    env.update(
        {
            "POETRY_CONFIG_DIR": str(home / "poetry-config"),
            "POETRY_CACHE_DIR": str(home / "poetry-cache"),
            "POETRY_DATA_DIR": str(home / "poetry-data"),
            "POETRY_REPOSITORIES_PRIVATE_URL": site.server.url + "legacy/",
            "POETRY_HTTP_BASIC_PRIVATE_USERNAME": USER,
            "POETRY_HTTP_BASIC_PRIVATE_PASSWORD": PASSWORD,
        }
    )

    def publish() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(tools.poetry), "publish", "--repository", "private", "--no-interaction"],
            env=env,
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
        )

    result = publish()
    assert result.returncode == 0, output(result)
    for path in (wheel, sdist):
        assert (site.packages / path.name).read_bytes() == path.read_bytes()
    assert set(simple_links(site.server, "poetry-demo")) == {wheel.name, sdist.name}

    # the same wheel name with other bytes: the identical sdist is a no-op, the wheel a 409
    make_wheel(dist, "poetry-demo", "1.0", module_body="CHANGED = True\n")
    assert wheel.read_bytes() != first_wheel
    conflict = publish()
    assert conflict.returncode != 0
    assert "File already exists" in output(conflict), output(conflict)
    assert (site.packages / wheel.name).read_bytes() == first_wheel

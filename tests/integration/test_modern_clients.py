"""The modern index features with real clients: pip, uv and pypi-simple.

* PEP 658/714: pip and uv resolve a dependency chain from the ``.metadata`` files alone,
  the access log shows that no wheel was downloaded;
* PEP 592: a release yanked with ``python -m packyard yank`` while the server runs, and a
  single file yanked over HTTP, are skipped unless pinned, and come back when un-yanked;
* PEP 700: ``upload-time`` drives ``uv pip compile --exclude-newer`` and
  ``pip install --uploaded-prior-to``, and it survives a restart of the server;
* PEP 691: pypi-simple reads the same facts from the JSON and the HTML pages.

Clients are isolated (see the ``clients`` fixture) and the servers run with
``--disable-fallback``: nothing is fetched from any other index.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import secrets
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from helpers import Clients, Response, Server, Site, clean_environ, http, start_server, wait_for
from helpers.dists import make_sdist, make_wheel, sdist_bytes, wheel_bytes
from helpers.forms import encode_form
from helpers.upload import upload_fields
from pypi_simple import ACCEPT_HTML_ONLY, ACCEPT_JSON_ONLY, NoMetadataError, PyPISimple

JSON_V1 = "application/vnd.pypi.simple.v1+json"
WHEEL_GET = re.compile(r"(?:GET|HEAD) (/packages/\S+\.whl) ")


# --- helpers ---------------------------------------------------------------------------


def packyard(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """``python -m packyard ...`` (the yank/unyank commands), checked."""
    result = subprocess.run(
        [sys.executable, "-m", "packyard", *(str(a) for a in args)],
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_environ(),
    )
    assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stdout}{result.stderr}"
    return result


@dataclass
class Resolution:
    versions: dict[str, str]  # name -> version
    urls: dict[str, str]  # name -> URL of the chosen file (pip only)
    output: str


def pip_resolve(clients: Clients, server: Server, *args: str) -> Resolution:
    """``pip install --dry-run --report``: what pip would install, and from which file."""
    report = clients.root / f"report-{secrets.token_hex(4)}.json"
    result = clients.pip(
        "install",
        "--dry-run",
        "--ignore-installed",
        "--index-url",
        server.url + "simple/",
        "--report",
        str(report),
        *args,
    )
    items = json.loads(report.read_text())["install"]
    return Resolution(
        {i["metadata"]["name"].lower(): i["metadata"]["version"] for i in items},
        {i["metadata"]["name"].lower(): i["download_info"]["url"] for i in items},
        result.stdout + result.stderr,
    )


def uv_compile(
    clients: Clients, server: Server, *requirements: str, extra: tuple[str, ...] = ()
) -> Resolution:
    """``uv pip compile`` of ``requirements`` for the clients' interpreter."""
    req = clients.root / f"requirements-{secrets.token_hex(4)}.in"
    req.write_text("\n".join(requirements) + "\n")
    result = clients.uv(
        "pip",
        "compile",
        "--python",
        str(clients.python),
        "--index-url",
        server.url + "simple/",
        "--no-header",
        "--no-annotate",
        *extra,
        str(req),
    )
    pins = dict(line.split("==", 1) for line in result.stdout.splitlines() if "==" in line)
    return Resolution({k.lower(): v for k, v in pins.items()}, {}, result.stdout + result.stderr)


def post_form(
    server: Server, fields: list[tuple[str, str]], file: tuple[str, bytes] | None = None
) -> Response:
    """POST a form to the server root (no credentials: the test servers run -P . -a .)."""
    body, content_type = encode_form(fields, file)
    return http(server.url, method="POST", data=body, headers={"Content-Type": content_type})


def json_page(server: Server, project: str) -> dict[str, Any]:
    resp = http(server.url + f"simple/{project}/", headers={"Accept": JSON_V1})
    assert resp.status == 200, resp.text
    assert resp.header("Content-Type").startswith(JSON_V1)  # type: ignore[union-attr]
    return json.loads(resp.body)


def log_since(server: Server, offset: int) -> str:
    return server.log_text()[offset:]


def wheel_metadata(data: bytes) -> bytes:
    """The METADATA member of a wheel, byte for byte."""
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        (name,) = [n for n in zf.namelist() if n.endswith(".dist-info/METADATA")]
        return zf.read(name)


def drop_in(staging: Path, packages: Path, made: tuple[str, bytes]) -> Path:
    """Put a file into the packages directory in one step (as a finished copy would)."""
    filename, data = made
    staging.mkdir(exist_ok=True)
    tmp = staging / filename
    tmp.write_bytes(data)
    target = packages / filename
    os.replace(tmp, target)
    return target


# --- 1 & 2: resolving from the metadata files alone ------------------------------------------


CHAIN = [
    ("chain-top", "1.0", ("chain-middle>=2",)),
    ("chain-middle", "1.0", ("chain-bottom",)),
    ("chain-middle", "2.0", ("chain-bottom<2",)),
    ("chain-bottom", "1.0", ()),
    ("chain-bottom", "2.0", ()),
]
CHOSEN = {"chain-top": "1.0", "chain-middle": "2.0", "chain-bottom": "1.0"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    packages = tmp_path_factory.mktemp("chain") / "packages"
    packages.mkdir()
    for name, version, requires in CHAIN:
        make_wheel(packages, name, version, requires=requires)
    server = start_server("-v", "--disable-fallback", packages)
    yield server
    server.stop()


def assert_metadata_only(server: Server, offset: int) -> None:
    """Every chosen wheel's .metadata was fetched, and no wheel itself."""
    wanted = [
        f"GET /packages/{name.replace('-', '_')}-{version}-py3-none-any.whl.metadata 200 "
        for name, version in CHOSEN.items()
    ]
    fetched = wait_for(lambda: all(line in log_since(server, offset) for line in wanted))
    assert fetched, log_since(server, offset)
    log = log_since(server, offset)
    assert WHEEL_GET.findall(log) == [], log


def test_pip_resolves_a_chain_from_metadata_files_only(chain: Server, clients: Clients) -> None:
    offset = len(chain.log_text())
    resolution = pip_resolve(clients, chain, "chain-top")
    assert resolution.versions == CHOSEN
    assert_metadata_only(chain, offset)


def test_uv_compiles_a_chain_from_metadata_files_only(chain: Server, clients: Clients) -> None:
    offset = len(chain.log_text())
    resolution = uv_compile(clients, chain, "chain-top")
    assert resolution.versions == CHOSEN, resolution.output
    assert_metadata_only(chain, offset)


# --- 3: yanking ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def open_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """A server that takes updates without credentials (-P . -a .)."""
    packages = tmp_path_factory.mktemp("yank") / "packages"
    packages.mkdir()
    for version in ("1.0", "2.0"):
        make_wheel(packages, "yank-cli", version)
        make_wheel(packages, "yank-uv", version)
        make_wheel(packages, "yank-file", version)
    make_sdist(packages, "yank-file", "2.0")
    # uv keeps index pages for their max-age (10 s by default); with 0 it revalidates
    # every time, so each yank below shows on uv's very next run.
    server = start_server(
        "-v", "-P", ".", "-a", ".", "--index-max-age", "0", "--disable-fallback", packages
    )
    yield Site(server, packages)
    server.stop()


def yanked_state(server: Server, project: str) -> dict[str, object]:
    return {f["filename"]: f["yanked"] for f in json_page(server, project)["files"]}


def test_pip_skips_a_release_yanked_from_the_command_line(
    open_site: Site, clients: Clients, tmp_path: Path
) -> None:
    server, packages = open_site.server, open_site.packages
    assert pip_resolve(clients, server, "yank-cli").versions == {"yank-cli": "2.0"}

    done = packyard("yank", "--reason", "broken build, use 1.0", packages, "yank-cli", "2.0")
    assert "yank-cli 2.0" in done.stdout
    # the running server sees it on its next request
    assert yanked_state(server, "yank-cli") == {
        "yank_cli-1.0-py3-none-any.whl": False,
        "yank_cli-2.0-py3-none-any.whl": "broken build, use 1.0",
    }
    assert pip_resolve(clients, server, "yank-cli").versions == {"yank-cli": "1.0"}
    pinned = pip_resolve(clients, server, "yank-cli==2.0")
    assert pinned.versions == {"yank-cli": "2.0"}
    assert "yanked" in pinned.output
    assert "broken build, use 1.0" in pinned.output

    # the yank covers the whole release, files added to it later included
    drop_in(tmp_path / "staging", packages, sdist_bytes("yank-cli", "2.0"))
    assert wait_for(lambda: len(yanked_state(server, "yank-cli")) == 3)
    assert yanked_state(server, "yank-cli")["yank_cli-2.0.tar.gz"] == "broken build, use 1.0"
    assert pip_resolve(clients, server, "yank-cli").versions == {"yank-cli": "1.0"}

    packyard("unyank", packages, "yank-cli", "2.0")
    assert set(yanked_state(server, "yank-cli").values()) == {False}
    back = pip_resolve(clients, server, "yank-cli")
    assert back.versions == {"yank-cli": "2.0"}
    assert back.urls["yank-cli"].endswith("/yank_cli-2.0-py3-none-any.whl")


def test_uv_skips_a_release_yanked_from_the_command_line(open_site: Site, clients: Clients) -> None:
    server, packages = open_site.server, open_site.packages
    assert uv_compile(clients, server, "yank-uv").versions == {"yank-uv": "2.0"}

    packyard("yank", "--reason", "broken", packages, "yank-uv", "2.0")
    assert uv_compile(clients, server, "yank-uv").versions == {"yank-uv": "1.0"}
    pinned = uv_compile(clients, server, "yank-uv==2.0")
    assert pinned.versions == {"yank-uv": "2.0"}
    assert "yanked" in pinned.output
    assert "broken" in pinned.output

    packyard("unyank", packages, "yank-uv", "2.0")
    assert uv_compile(clients, server, "yank-uv").versions == {"yank-uv": "2.0"}


def test_pip_skips_one_file_yanked_over_http(open_site: Site, clients: Clients) -> None:
    server = open_site.server
    wheel = "yank_file-2.0-py3-none-any.whl"
    sdist = "yank_file-2.0.tar.gz"
    before = pip_resolve(clients, server, "yank-file")
    assert before.versions == {"yank-file": "2.0"}
    assert before.urls["yank-file"].endswith("/" + wheel)  # pip prefers the wheel

    reply = post_form(
        server, [(":action", "yank"), ("filename", wheel), ("reason", "bad wheel tag")]
    )
    assert reply.status == 200, reply.text
    assert yanked_state(server, "yank-file") == {
        "yank_file-1.0-py3-none-any.whl": False,
        wheel: "bad wheel tag",
        sdist: False,
    }
    # only that file is skipped: 2.0 is still there as an sdist (pip builds its metadata)
    after = pip_resolve(clients, server, "yank-file")
    assert after.versions == {"yank-file": "2.0"}
    assert after.urls["yank-file"].endswith("/" + sdist)
    assert "bad wheel tag" not in after.output

    reply = post_form(server, [(":action", "unyank"), ("filename", wheel)])
    assert reply.status == 200, reply.text
    again = pip_resolve(clients, server, "yank-file")
    assert again.urls["yank-file"].endswith("/" + wheel)


# --- 4: upload times -------------------------------------------------------------------------


def upload_times(server: Server, project: str) -> dict[str, str]:
    return {f["filename"]: f["upload-time"] for f in json_page(server, project)["files"]}


def parse_time(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text[:-1] + "+00:00")


def cutoff_now() -> tuple[datetime, str]:
    """Now, to the second (earlier, never later), and as RFC 3339 with Z."""
    moment = datetime.now(UTC).replace(microsecond=0)
    return moment, moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_release_age_cutoffs_and_upload_times_survive_a_restart(
    tmp_path: Path, clients: Clients
) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "aged", "1.0")  # seen when the server starts
    server = start_server("-v", "-P", ".", "-a", ".", "--disable-fallback", packages)
    try:
        assert set(upload_times(server, "aged")) == {"aged-1.0-py3-none-any.whl"}
        time.sleep(1.5)
        first, first_stamp = cutoff_now()
        time.sleep(1.5)
        # 2.0: a wheel copied in by hand (the watcher finds it) and an sdist uploaded
        drop_in(tmp_path / "staging", packages, wheel_bytes("aged", "2.0"))
        filename, data = sdist_bytes("aged", "2.0")
        reply = post_form(server, upload_fields(filename, data, "aged", "2.0"), (filename, data))
        assert reply.status == 200, reply.text
        assert wait_for(lambda: len(upload_times(server, "aged")) == 3)
        time.sleep(1.5)
        second, second_stamp = cutoff_now()
        time.sleep(1.5)
        # 2.1: a wheel uploaded
        filename, data = wheel_bytes("aged", "2.1")
        reply = post_form(server, upload_fields(filename, data, "aged", "2.1"), (filename, data))
        assert reply.status == 200, reply.text

        times = upload_times(server, "aged")
        assert len(times) == 4
        assert parse_time(times["aged-1.0-py3-none-any.whl"]) < first
        assert first < parse_time(times["aged-2.0-py3-none-any.whl"]) < second
        assert first < parse_time(times["aged-2.0.tar.gz"]) < second
        assert second < parse_time(times["aged-2.1-py3-none-any.whl"])

        offset = len(server.log_text())
        assert uv_compile(clients, server, "aged").versions == {"aged": "2.1"}
        for stamp, expected in ((first_stamp, "1.0"), (second_stamp, "2.0")):
            got = uv_compile(clients, server, "aged", extra=("--exclude-newer", stamp))
            assert got.versions == {"aged": expected}, (stamp, times, got.output)
        assert pip_resolve(clients, server, "aged").versions == {"aged": "2.1"}
        for stamp, expected in ((first_stamp, "1.0"), (second_stamp, "2.0")):
            got = pip_resolve(clients, server, "--uploaded-prior-to", stamp, "aged")
            assert got.versions == {"aged": expected}, (stamp, times, got.output)
        # the wheels found by the watcher and uploaded are resolved from .metadata too
        for version in ("1.0", "2.0", "2.1"):
            line = f"GET /packages/aged-{version}-py3-none-any.whl.metadata 200 "
            assert wait_for(lambda line=line: line in log_since(server, offset))
        assert WHEEL_GET.findall(log_since(server, offset)) == []
    finally:
        server.stop()

    restarted = start_server("-P", ".", "-a", ".", "--disable-fallback", packages)
    try:
        assert upload_times(restarted, "aged") == times
        got = uv_compile(clients, restarted, "aged", extra=("--exclude-newer", second_stamp))
        assert got.versions == {"aged": "2.0"}
    finally:
        restarted.stop()


# --- 5: pypi-simple, JSON and HTML ------------------------------------------------------------

# characters that must be escaped in HTML attributes and in JSON strings
ODD_REASON = 'CVE-0000 <b>"quoted"</b> & \u00e9t\u00e9 \\ done'


@pytest.fixture
def conform(tmp_path: Path, serve) -> tuple[Server, dict[str, bytes]]:
    packages = tmp_path / "packages"
    packages.mkdir()
    files: dict[str, bytes] = {}
    for made in (
        wheel_bytes("conform-demo", "1.0", requires_python=">=3.8"),
        sdist_bytes("conform-demo", "1.0", requires_python=">=3.8"),
        wheel_bytes("conform-demo", "0.9"),
        wheel_bytes("conform-demo", "0.8"),
    ):
        (packages / made[0]).write_bytes(made[1])
        files[made[0]] = made[1]
    server = serve("-P", ".", "-a", ".", "--disable-fallback", packages)
    for fields in (
        [("filename", "conform_demo-0.9-py3-none-any.whl"), ("reason", ODD_REASON)],
        [("filename", "conform_demo-0.8-py3-none-any.whl")],  # no reason
    ):
        reply = post_form(server, [(":action", "yank"), *fields])
        assert reply.status == 200, reply.text
    return server, files


def test_pypi_simple_reads_the_same_facts_from_json_and_html(conform) -> None:
    server, files = conform
    session = requests.Session()
    session.trust_env = False
    with PyPISimple(server.url + "simple/", session=session) as simple:
        as_json = simple.get_project_page("conform-demo", accept=ACCEPT_JSON_ONLY)
        as_html = simple.get_project_page("conform-demo", accept=ACCEPT_HTML_ONLY)

        assert as_json.versions == ["0.8", "0.9", "1.0"]  # PEP 700
        assert as_html.versions is None  # really the HTML page
        assert as_json.repository_version == as_html.repository_version == "1.1"

        def facts(page) -> dict[str, tuple]:
            return {
                p.filename: (
                    p.version,
                    p.package_type,
                    p.digests,
                    p.requires_python,
                    p.is_yanked,
                    p.yanked_reason or None,  # HTML: data-yanked="" ; JSON: true
                    bool(p.has_metadata),  # HTML: absent ; JSON: false
                    p.metadata_digests or None,
                )
                for p in page.packages
            }

        got_json, got_html = facts(as_json), facts(as_html)
        assert got_json == got_html
        assert sorted(got_json) == sorted(files)
        for filename, data in files.items():
            _, _, digests, requires_python, yanked, reason, has_md, md_digests = got_json[filename]
            assert digests == {"sha256": hashlib.sha256(data).hexdigest()}
            assert requires_python == (">=3.8" if "-1.0" in filename else None)
            assert yanked == ("0.9" in filename or "0.8" in filename)
            assert reason == (ODD_REASON if "0.9" in filename else None)
            if filename.endswith(".whl"):
                assert has_md
                assert md_digests == {"sha256": hashlib.sha256(wheel_metadata(data)).hexdigest()}
            else:
                assert not has_md
                assert md_digests is None

        # PEP 700 facts of the JSON page
        for pkg in as_json.packages:
            assert pkg.size == len(files[pkg.filename])
            assert pkg.upload_time is not None

        # the .metadata files, verified by pypi-simple against the advertised digest
        for page in (as_json, as_html):
            for pkg in page.packages:
                if pkg.filename.endswith(".whl"):
                    body = simple.get_package_metadata_bytes(pkg)
                    assert body == wheel_metadata(files[pkg.filename])
                else:
                    with pytest.raises(NoMetadataError):
                        simple.get_package_metadata_bytes(pkg, verify=False)

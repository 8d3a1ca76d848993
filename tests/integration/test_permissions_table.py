"""docs/security.md's "Who can do what" table, checked row by row against a running
server (issue 12, item 10). The table is read from the page itself, so the page and
the behaviour cannot drift apart: change a cell and this test checks the new claim.

Each row is a set-up (its first code span is the command line, ``FILE`` standing for
an htpasswd file); each column a family of requests; each cell "anyone", "users" or
"no one" (see the page for what they mean).
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import Response, Server, http, start_server
from helpers.dists import make_wheel, metadata_text, wheel_bytes
from helpers.forms import encode_form, post

SECURITY_MD = Path(__file__).resolve().parents[2] / "docs" / "security.md"
USER, PASSWORD = "table-user", "table-pw"
PROJECT, WHEEL = "perm-demo", "perm_demo-1.0-py3-none-any.whl"
SUMMARY = "Summary only readers who may download may see"
JSON_V1 = "application/vnd.pypi.simple.v1+json"

# The columns, in the page's order: the start of each header cell.
COLUMNS = {
    "welcome": "`/` and the health endpoint",
    "listing": "listing:",
    "files": "files and their `.metadata`",
    "metadata": "core metadata:",
    "changes": "changes:",
}
# The set-ups the table must keep (it may gain rows; it may not lose these).
SETUPS = {
    "-P . -a .",
    "-a update",
    "-P FILE",
    "-P FILE -a download,update",
    "-P FILE -a list,update",
    "-P FILE -a list,download,update",
    "-P FILE -a download",
    "-P FILE -a list",
}
WHO = ("anyone", "users", "no one")


def read_table() -> tuple[list[str], list[list[str]]]:
    """The header cells and the rows of the first table of "## Who can do what"."""
    text = SECURITY_MD.read_text(encoding="utf-8")
    section = text.split("## Who can do what", 1)[1].split("\n## ", 1)[0]
    lines = [line for line in section.splitlines() if line.startswith("|")]
    cells = [[c.strip() for c in line.strip().strip("|").split("|")] for line in lines]
    header, rule, *rows = cells
    assert all(set(c) <= set("-:") for c in rule), rule
    return header, rows


HEADER, ROWS = read_table()


def setup_args(cell: str) -> str:
    found = re.match(r"`([^`]+)`", cell)
    assert found, f"the set-up cell {cell!r} does not start with its command line"
    return found.group(1)


def test_the_table_has_every_column_and_set_up() -> None:
    assert len(HEADER) == 1 + len(COLUMNS)
    for cell, start in zip(HEADER[1:], COLUMNS.values(), strict=True):
        assert cell.startswith(start), (cell, start)
    assert {setup_args(row[0]) for row in ROWS} >= SETUPS
    for row in ROWS:
        assert len(row) == len(HEADER), row
        assert all(cell in WHO for cell in row[1:]), row


# --- the requests of each column ---------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Client:
    server: Server
    authorization: str | None

    def get(self, path: str, accept: str | None = None) -> Response:
        headers = {"Authorization": self.authorization} if self.authorization else {}
        if accept:
            headers["Accept"] = accept
        return http(self.server.url + path.lstrip("/"), headers=headers)

    def rpc(self, method: str, *params: object) -> Response:
        body = xmlrpc.client.dumps(params, methodname=method).encode()
        reply = post(
            self.server.url, body, "text/xml", path="/RPC2", authorization=self.authorization
        )
        return Response(reply.status, reply.headers, reply.body)

    def form(self, fields: list[tuple[str, str]], file: tuple[str, bytes] | None) -> Response:
        body, content_type = encode_form(fields, file)
        reply = post(self.server.url, body, content_type, authorization=self.authorization)
        return Response(reply.status, reply.headers, reply.body)


# Each check makes its column's requests as ``client`` and returns, per request, the
# answer and whether it was the allowed answer.
Check = Callable[[Client, int], list[tuple[str, Response, bool]]]


def check_welcome(client: Client, _: int) -> list[tuple[str, Response, bool]]:
    home, health = client.get("/"), client.get("/health")
    return [("/", home, home.status == 200), ("/health", health, health.text == "ok\n")]


def check_listing(client: Client, _: int) -> list[tuple[str, Response, bool]]:
    found = []
    for path, accept in (
        ("/simple/", None),
        ("/simple/", JSON_V1),
        (f"/simple/{PROJECT}/", None),
        (f"/simple/{PROJECT}/", JSON_V1),
        ("/packages/", None),
    ):
        resp = client.get(path, accept)
        found.append((f"{path} {accept or ''}", resp, resp.status == 200 and b"perm" in resp.body))
    names = client.rpc("list_packages")
    found.append(("list_packages", names, names.status == 200 and PROJECT.encode() in names.body))
    releases = client.rpc("package_releases", PROJECT)
    found.append(("package_releases", releases, releases.status == 200 and b"1.0" in releases.body))
    return found


def check_files(client: Client, _: int) -> list[tuple[str, Response, bool]]:
    found = []
    for path in (f"/packages/{WHEEL}", f"/packages/{WHEEL}.metadata"):
        resp = client.get(path)
        found.append((path, resp, resp.status == 200 and len(resp.body) > 0))
    return found


def check_metadata(client: Client, _: int) -> list[tuple[str, Response, bool]]:
    found = []
    for path in (f"/pypi/{PROJECT}/json", f"/pypi/{PROJECT}/1.0/json", f"/{PROJECT}/json"):
        resp = client.get(path)
        found.append((path, resp, resp.status == 200 and SUMMARY.encode() in resp.body))
    hits = client.rpc("search", {"name": ["perm"]})
    found.append(("search", hits, hits.status == 200 and SUMMARY.encode() in hits.body))
    return found


def check_changes(client: Client, attempt: int) -> list[tuple[str, Response, bool]]:
    version = f"2.{attempt}"
    filename, data = wheel_bytes("perm-changes", version)
    fields = [
        (":action", "file_upload"),
        ("name", "perm-changes"),
        ("version", version),
        ("filetype", "bdist_wheel"),
        ("sha256_digest", hashlib.sha256(data).hexdigest()),
    ]
    uploaded = client.form(fields, (filename, data))
    release = [("name", "perm-changes"), ("version", version)]
    yanked = client.form([(":action", "yank"), *release], None)
    removed = client.form([(":action", "remove_pkg"), *release], None)
    return [
        ("upload", uploaded, uploaded.status == 200),
        ("yank", yanked, yanked.status == 200),
        ("remove_pkg", removed, removed.status == 200),
    ]


CHECKS: dict[str, Check] = {
    "welcome": check_welcome,
    "listing": check_listing,
    "files": check_files,
    "metadata": check_metadata,
    "changes": check_changes,
}


# --- one server per row ------------------------------------------------------------------


def serve_row(args: str, directory: Path, htpasswd: Path) -> Server:
    packages = directory / "packages"
    packages.mkdir()
    meta = metadata_text(PROJECT, "1.0", summary=SUMMARY) + "A description for readers.\n"
    make_wheel(packages, PROJECT, "1.0", metadata=meta.encode())
    argv = [str(htpasswd) if word == "FILE" else word for word in shlex.split(args)]
    return start_server(*argv, "--disable-fallback", packages)


@pytest.mark.parametrize("row", ROWS, ids=[setup_args(row[0]) for row in ROWS])
def test_every_cell_of_the_row(row: list[str], tmp_path: Path, htpasswd: Path) -> None:
    args = setup_args(row[0])
    server = serve_row(args, tmp_path, htpasswd)
    anonymous = Client(server, None)
    wrong = Client(server, basic(USER, "wrong"))
    user = Client(server, basic(USER, PASSWORD))
    problems: list[str] = []
    try:
        for attempt, (column, who) in enumerate(zip(COLUMNS, row[1:], strict=True)):
            check = CHECKS[column]
            for what, resp, allowed in check(anonymous, attempt * 10):
                if who == "anyone" and not allowed:
                    problems.append(f"{column}/{what}: anonymous got {resp.status}")
                if who == "users" and (
                    resp.status != 401 or resp.header("WWW-Authenticate") is None
                ):
                    problems.append(f"{column}/{what}: anonymous got {resp.status}, not 401")
                if who == "no one" and resp.status != 403:
                    problems.append(f"{column}/{what}: anonymous got {resp.status}, not 403")
                if who != "anyone" and SUMMARY.encode() in resp.body:
                    problems.append(f"{column}/{what}: the summary reached an anonymous client")
            if who == "users":
                for what, resp, _ in check(wrong, attempt * 10 + 1):
                    if resp.status != 403:
                        problems.append(f"{column}/{what}: a wrong password got {resp.status}")
                for what, resp, allowed in check(user, attempt * 10 + 2):
                    if not allowed:
                        problems.append(f"{column}/{what}: the user got {resp.status}")
            if who == "no one":
                for what, resp, _ in check(user, attempt * 10 + 3):
                    if resp.status != 403:
                        problems.append(f"{column}/{what}: a user got {resp.status}, not 403")
    finally:
        server.stop()
    assert not problems, f"{args}:\n" + "\n".join(problems)

"""What a reader can make the server hold and read (issue 12, items 5 and 7), against a
real server: the PyPI JSON document is cached once whatever the ``Host`` header says,
and XML-RPC search reads neither archives nor stored metadata files per request."""

from __future__ import annotations

import base64
import http.client
import json
import os
import xmlrpc.client
from pathlib import Path
from urllib.parse import urlsplit

from helpers import Server
from helpers.dists import make_wheel, metadata_text

MIB = 1 << 20


def big_description(size: int) -> str:
    """``size`` bytes of text that does not compress: a zip of it is as large."""
    raw = base64.b64encode(os.urandom(size * 3 // 4)).decode()
    return "\n".join(raw[i : i + 76] for i in range(0, len(raw), 76))


def bulky_wheel(packages: Path, name: str, summary: str, size: int) -> Path:
    meta = metadata_text(name, "1.0", summary=summary) + big_description(size) + "\n"
    return make_wheel(packages, name, "1.0", metadata=meta.encode())


def proc_field(pid: int, name: str, field: str) -> int:
    """A number from /proc/<pid>/<name> ("VmRSS:  1234 kB" in status, "rchar: 1234" in io)."""
    for line in Path(f"/proc/{pid}/{name}").read_text().splitlines():
        key, _, value = line.partition(":")
        if key == field:
            return int(value.split()[0])
    raise AssertionError(f"no {field} in /proc/{pid}/{name}")


def connection(server: Server) -> http.client.HTTPConnection:
    parts = urlsplit(server.url)
    assert parts.hostname is not None
    assert parts.port is not None
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


# --- item 7: search from the ledger ------------------------------------------------------


def test_search_reads_no_archive_and_no_stored_metadata(tmp_path: Path, serve) -> None:
    """Each search used to fetch the stored METADATA of every hit (4 MiB here) and parse
    it; now the Summary is a column of the file's row. /proc/<pid>/io's rchar counts every
    byte the server reads (files, SQLite, sockets): ten searches must read far less than
    one archive or one metadata file (each 4 MiB, random text: no compression)."""
    packages = tmp_path / "packages"
    packages.mkdir()
    bulky_wheel(packages, "bulky-search", "Big but findable", 4 * MIB)
    server: Server = serve("--disable-fallback", packages)
    call = xmlrpc.client.dumps(({"name": ["bulky"]}, "or"), methodname="search").encode()
    conn = connection(server)

    def search() -> list[dict[str, object]]:
        conn.request("POST", "/RPC2", body=call, headers={"Content-Type": "text/xml"})
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body
        ((hits,), _) = xmlrpc.client.loads(body)
        return list(hits)

    first = search()  # the first need computes the file's facts (reads the archive once)
    assert [(h["name"], h["summary"]) for h in first] == [("bulky-search", "Big but findable")]
    pid = server.process.pid
    before = proc_field(pid, "io", "rchar")
    for _ in range(10):
        assert search() == first
    read = proc_field(pid, "io", "rchar") - before
    assert read < 2 * MIB, f"ten searches read {read} bytes"
    conn.close()


# --- item 5: the PyPI JSON document is cached once, whatever the Host ----------------------


def test_many_hosts_do_not_multiply_the_json_document(tmp_path: Path, serve) -> None:
    """The document used to be cached per base URL, and the base URL comes from the
    Host header: 150 hosts on a 4 MB description cost 712 MiB. Now it is kept once and
    each answer gets its own host's URLs. 1,000 hosts (HEAD, and a GET every 50th to check
    the URLs) must grow the server's RSS by less than 20 MB; the test stops at the first
    sample over that."""
    packages = tmp_path / "packages"
    packages.mkdir()
    bulky_wheel(packages, "bulky-json", "Four megabytes of description", 4 * MIB)
    server: Server = serve("--disable-fallback", packages)
    pid = server.process.pid
    conn = connection(server)

    def ask(method: str, host: str, gzip: bool = False) -> bytes:
        headers = {"Host": host, **({"Accept-Encoding": "gzip"} if gzip else {})}
        conn.request(method, "/pypi/bulky-json/json", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body[:200]
        return body

    # The document made and kept, every code path run, and every worker thread's
    # allocator arena warmed (a 4 MB answer freed by one thread stays in its arena).
    for warm in range(16):
        doc = json.loads(ask("GET", f"warm-{warm}.example"))
        assert doc["info"]["description"].startswith(doc["info"]["description"][:10])
        ask("GET", f"warm-{warm}.example", gzip=True)
    before = proc_field(pid, "status", "VmRSS")
    for n in range(1000):
        host = f"host-{n}.example:{1000 + n}"
        if n % 50 == 0:
            doc = json.loads(ask("GET", host))
            assert doc["urls"][0]["url"] == f"http://{host}/packages/{doc['urls'][0]['filename']}"
            assert doc["info"]["project_url"] == f"http://{host}/pypi/bulky-json/"
            assert len(doc["info"]["description"]) > 4_000_000
            grown = proc_field(pid, "status", "VmRSS") - before
            assert grown < 20 * 1024, f"RSS grew by {grown} kB after {n + 1} hosts"
        else:
            ask("HEAD", host, gzip=n % 3 == 0)
    grown = proc_field(pid, "status", "VmRSS") - before
    assert grown < 20 * 1024, f"RSS grew by {grown} kB after 1,000 hosts"
    conn.close()


def test_made_up_accept_headers_are_not_remembered(tmp_path: Path, serve) -> None:
    """The answers to Accept and Accept-Encoding were remembered for 512 distinct values
    each, however long: a client sending 30 KB headers made up anew each time made the
    server keep about 30 MB. Now only values up to 256 characters are remembered."""
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "plain-demo", "1.0")
    server: Server = serve("--disable-fallback", packages)
    pid = server.process.pid
    conn = connection(server)
    filler = "x/" + "y" * 30_000  # one long item: cheap to parse, costly to keep

    def ask(n: int) -> None:
        headers = {
            "Accept": f"text/html, {filler}, a/b{n}",
            "Accept-Encoding": f"gzip, {filler}, e{n}",
        }
        conn.request("GET", "/simple/plain-demo/", headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        assert resp.status == 200, body[:200]
        assert resp.getheader("Content-Encoding") == "gzip"

    for n in range(20):
        ask(n)
    before = proc_field(pid, "status", "VmRSS")
    for n in range(20, 800):
        ask(n)
    grown = proc_field(pid, "status", "VmRSS") - before
    assert grown < 10 * 1024, f"RSS grew by {grown} kB"
    conn.close()

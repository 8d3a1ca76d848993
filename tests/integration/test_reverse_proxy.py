"""packyard behind a real nginx (Debian's package; scripts/test installs it).

Two set-ups, both with the usual headers (Host, X-Forwarded-For, -Proto, -Host):
- /pypi/ is stripped by nginx, which says so with X-Forwarded-Prefix; packyard runs
  with --trusted-proxy 127.0.0.1;
- /base/ is passed on unchanged to a packyard run with --server-base-url /base.
A third nginx server block claims https (X-Forwarded-Proto), as a TLS-terminating
proxy would. Every link, redirect, the welcome page's pip command and the JSON API's
URLs must lead back through the proxy; pip installs and twine uploads through it.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
from helpers import Clients, Server, add_user, http, raw, start_server, wait_for
from helpers.dists import make_wheel

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TWINE = Path(sys.executable).parent / "twine"
USER, PASSWORD = "uploader", "proxy-pw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
{user}
events {{ worker_connections 256; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    client_max_body_size 0;

    server {{
        listen 127.0.0.1:{port};
        # Stripped prefix: /pypi/simple/ reaches packyard as /simple/.
        location /pypi/ {{
            proxy_pass http://127.0.0.1:{stripped}/;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Host $http_host;
            proxy_set_header X-Forwarded-Prefix /pypi;
            proxy_request_buffering off;
            proxy_http_version 1.1;
        }}
        # A prefix with an encoded space, stripped: nginx matches the decoded path.
        location "/my index/" {{
            proxy_pass http://127.0.0.1:{stripped}/;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header X-Forwarded-Prefix /my%20index;
        }}
        # Prefix passed on: packyard runs with --server-base-url /base.
        location /base/ {{
            proxy_pass http://127.0.0.1:{based};
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_http_version 1.1;
        }}
    }}
    server {{
        listen 127.0.0.1:{tls_port};
        # As behind a TLS-terminating proxy: the client spoke https to port 443.
        location /pypi/ {{
            proxy_pass http://127.0.0.1:{stripped}/;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-Host secure.example;
            proxy_set_header X-Forwarded-Port 443;
            proxy_set_header X-Forwarded-Prefix /pypi;
        }}
    }}
}}
"""


@dataclass
class Proxied:
    stripped: Server  # --trusted-proxy 127.0.0.1, behind /pypi/
    based: Server  # --server-base-url /base, behind /base/
    packages: Path
    base_packages: Path
    port: int
    tls_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    tmp = tmp_path_factory.mktemp("proxy")
    packages = tmp / "packages"
    packages.mkdir()
    make_wheel(packages, "Proxied_Demo", "1.0")
    base_packages = tmp / "base-packages"
    base_packages.mkdir()
    make_wheel(base_packages, "based-demo", "2.0")
    htpasswd = tmp / "htpasswd"
    add_user(htpasswd, USER, PASSWORD)
    common = ("-P", str(htpasswd), "-a", "update", "--disable-fallback")
    stripped = start_server("-v", "--trusted-proxy", "127.0.0.1", *common, packages)
    based = start_server("-v", "--server-base-url", "/base", *common, base_packages)
    port, tls_port = free_port(), free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(
        NGINX_CONF.format(
            tmp=tmp,
            # As root, nginx's workers would switch to 'nobody', who cannot use tmp.
            user="user root root;" if _is_root() else "",
            port=port,
            tls_port=tls_port,
            stripped=urlsplit(stripped.url).port,
            based=urlsplit(based.url).port,
        )
    )
    nginx = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        up = wait_for(lambda: _answers(port) and _answers(tls_port), timeout=15)
        if not up:
            nginx.kill()
            out = nginx.communicate()[0]
            error_log = tmp / "error.log"
            log_text = error_log.read_text() if error_log.exists() else ""
            raise RuntimeError(f"nginx did not start:\n{out}\n{log_text}")
        yield Proxied(stripped, based, packages, base_packages, port, tls_port)
    finally:
        nginx.terminate()
        try:
            nginx.wait(timeout=10)
        except subprocess.TimeoutExpired:
            nginx.kill()
        stripped.stop()
        based.stop()


def _is_root() -> bool:
    import os

    return os.geteuid() == 0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def follow(url: str, location: str | None) -> str:
    assert location is not None
    return urljoin(url, location)


# --- the stripped prefix (/pypi/) with X-Forwarded-* -----------------------------------


def test_welcome_page_shows_the_proxy_url(proxied: Proxied) -> None:
    page = http(proxied.url + "pypi/")
    assert page.status == 200
    assert f"pip install --index-url {proxied.url}pypi/simple/ PACKAGE" in page.text
    # its relative links lead to the index through the proxy
    for href in re.findall(r'href="([^"]+)"', page.text):
        target = urljoin(proxied.url + "pypi/", href)
        if target.startswith(proxied.url):
            assert target.startswith(proxied.url + "pypi/"), href
            assert http(target).status == 200, target


def test_links_and_downloads_through_the_proxy(proxied: Proxied) -> None:
    index = http(proxied.url + "pypi/simple/")
    assert index.status == 200
    assert 'href="proxied-demo/"' in index.text
    page_url = proxied.url + "pypi/simple/proxied-demo/"
    page = http(page_url)
    assert page.status == 200
    hrefs = re.findall(r'href="([^"#]+)#sha256=', page.text)
    assert len(hrefs) == 1
    file_url = urljoin(page_url, hrefs[0])
    assert file_url == proxied.url + "pypi/packages/Proxied_Demo-1.0-py3-none-any.whl"
    download = http(file_url)
    assert download.status == 200
    assert download.body == (proxied.packages / "Proxied_Demo-1.0-py3-none-any.whl").read_bytes()
    metadata = http(file_url + ".metadata")
    assert metadata.status == 200
    assert b"Name: Proxied_Demo" in metadata.body


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ("pypi/simple", "pypi/simple/"),
        ("pypi/simple/Proxied_Demo/", "pypi/simple/proxied-demo/"),
        ("pypi/simple/proxied-demo", "pypi/simple/proxied-demo/"),
        ("pypi/Proxied.Demo/", "pypi/simple/proxied-demo/"),
        ("pypi/packages", "pypi/packages/"),
        ("pypi/pypi/Proxied_Demo/json", "pypi/pypi/proxied-demo/json"),
    ],
)
def test_redirects_stay_under_the_prefix(proxied: Proxied, path: str, target: str) -> None:
    resp = http(proxied.url + path)
    assert resp.status in (301, 303), (resp.status, resp.text)
    assert follow(proxied.url + path, resp.header("Location")) == proxied.url + target


def test_json_api_urls_go_through_the_proxy(proxied: Proxied) -> None:
    resp = http(proxied.url + "pypi/pypi/proxied-demo/json")
    assert resp.status == 200
    doc = json.loads(resp.body)
    assert [u["url"] for u in doc["urls"]] == [
        proxied.url + "pypi/packages/Proxied_Demo-1.0-py3-none-any.whl"
    ]
    assert doc["info"]["project_url"].startswith(proxied.url + "pypi/")
    # PEP 691 JSON links are relative to the page, as the HTML ones
    simple = http(
        proxied.url + "pypi/simple/proxied-demo/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    file_url = json.loads(simple.body)["files"][0]["url"]
    assert urljoin(proxied.url + "pypi/simple/proxied-demo/", file_url) == (
        proxied.url + "pypi/packages/Proxied_Demo-1.0-py3-none-any.whl"
    )


def test_tls_terminating_proxy_gives_https_urls(proxied: Proxied) -> None:
    base = f"http://127.0.0.1:{proxied.tls_port}/pypi/"
    welcome = http(base)
    assert "pip install --index-url https://secure.example/pypi/simple/ PACKAGE" in welcome.text
    doc = json.loads(http(base + "pypi/proxied-demo/json").body)
    assert doc["urls"][0]["url"] == (
        "https://secure.example/pypi/packages/Proxied_Demo-1.0-py3-none-any.whl"
    )


def test_access_log_shows_the_client_behind_the_proxy(proxied: Proxied) -> None:
    marker = f"/pypi/simple/?who={time.monotonic_ns()}"
    resp = http(proxied.url + marker.lstrip("/"), headers={"X-Forwarded-For": "203.0.113.9"})
    assert resp.status == 200
    # nginx appended 127.0.0.1 (trusted); the client is the address before it, and the
    # logged path is the one the client asked for, prefix included
    assert wait_for(lambda: f"203.0.113.9 GET {marker} 200" in proxied.stripped.log_text())


def test_pip_installs_and_twine_uploads_through_the_proxy(
    proxied: Proxied, clients: Clients, tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    wheel = make_wheel(dist, "uploaded-through-proxy", "0.3")
    env = dict(clients.env, PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")
    upload = subprocess.run(
        [
            str(TWINE),
            "upload",
            "--repository-url",
            proxied.url + "pypi/",
            "--non-interactive",
            "--disable-progress-bar",
            "-u",
            USER,
            "-p",
            PASSWORD,
            str(wheel),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upload.returncode == 0, upload.stdout + upload.stderr
    assert (proxied.packages / wheel.name).read_bytes() == wheel.read_bytes()
    clients.pip("install", "--index-url", proxied.url + "pypi/simple/", "uploaded-through-proxy")
    shown = clients.pip("list", "--format", "json").stdout
    assert {"name": "uploaded-through-proxy", "version": "0.3"} in json.loads(shown)


# --- the prefix passed on (--server-base-url) -----------------------------------------


def test_server_base_url_behind_the_proxy(proxied: Proxied, clients: Clients) -> None:
    welcome = http(proxied.url + "base/")
    assert welcome.status == 200
    assert f"--index-url {proxied.url}base/simple/ PACKAGE" in welcome.text
    page_url = proxied.url + "base/simple/based-demo/"
    page = http(page_url)
    assert page.status == 200
    href = re.findall(r'href="([^"#]+)#', page.text)[0]
    assert urljoin(page_url, href) == proxied.url + "base/packages/based_demo-2.0-py3-none-any.whl"
    redirect = http(proxied.url + "base/simple/Based_Demo/")
    assert follow(proxied.url + "base/simple/Based_Demo/", redirect.header("Location")) == page_url
    clients.pip("install", "--index-url", proxied.url + "base/simple/", "based-demo")
    assert "based-demo" in clients.pip("list").stdout


def test_server_base_url_answers_outside_the_prefix(proxied: Proxied) -> None:
    direct = proxied.based.url  # http://127.0.0.1:PORT/
    outside = http(direct + "simple/")
    assert outside.status == 404
    assert "served under /base/" in outside.text
    bare = http(direct + "base")
    assert bare.status == 301
    assert follow(direct + "base", bare.header("Location")) == direct + "base/"
    assert http(direct + "base/health").status == 200
    # the access log shows the whole path
    assert wait_for(lambda: "GET /base/health 200" in proxied.based.log_text())


# --- who is trusted ----------------------------------------------------------------------


SPOOF = {
    "X-Forwarded-Host": "evil.example",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Prefix": "/trap",
}


def test_forwarding_headers_are_ignored_without_trusted_proxy(serve, tmp_path: Path) -> None:
    server = serve("-P", ".", "-a", ".", tmp_path)
    page = http(server.url, headers=SPOOF)
    assert page.status == 200
    assert f"--index-url {server.url}simple/ " in page.text
    assert "evil.example" not in page.text


def test_forwarding_headers_are_ignored_from_untrusted_peers(serve, tmp_path: Path) -> None:
    make_wheel(tmp_path, "demo", "1.0")
    server = serve("--trusted-proxy", "10.0.0.0/8", "-P", ".", "-a", ".", tmp_path)
    page = http(server.url, headers=SPOOF)
    assert f"--index-url {server.url}simple/ " in page.text
    doc = json.loads(http(server.url + "pypi/demo/json", headers=SPOOF).body)
    assert all(u["url"].startswith(server.url + "packages/") for u in doc["urls"])


def test_pypiserver_host_and_prefix_recipe(serve, tmp_path: Path) -> None:
    # pypiserver's documented recipe: the prefix rides in X-Forwarded-Host
    server = serve("--trusted-proxy", "127.0.0.1", "-P", ".", "-a", ".", tmp_path)
    page = http(
        server.url,
        headers={"X-Forwarded-Host": "proxy.example/pypi", "X-Forwarded-Proto": "https"},
    )
    assert "--index-url https://proxy.example/pypi/simple/ PACKAGE" in page.text


@pytest.mark.parametrize(
    ("header", "value", "message"),
    [
        ("X-Forwarded-Proto", "gopher", "X-Forwarded-Proto must be http or https"),
        ("X-Forwarded-Host", "evil.example\tx", "X-Forwarded-Host is not a host name"),
        ("X-Forwarded-Host", "a b", "X-Forwarded-Host is not a host name"),
        ("X-Forwarded-Port", "99999", "X-Forwarded-Port is not a port number"),
        ("X-Forwarded-Prefix", "/a/../b", "X-Forwarded-Prefix has an unusable path prefix"),
        ("X-Forwarded-Prefix", "/<script>", "X-Forwarded-Prefix has an unusable path prefix"),
    ],
)
def test_bad_forwarding_headers_from_a_trusted_proxy_are_400(
    serve, tmp_path: Path, header: str, value: str, message: str
) -> None:
    server = serve("--trusted-proxy", "127.0.0.1", "-P", ".", "-a", ".", tmp_path)
    resp = http(server.url + "simple/", headers={header: value})
    assert resp.status == 400
    assert message in resp.text
    assert "Traceback" not in resp.text
    assert http(server.url + "simple/").status == 200


def test_trusted_proxy_from_the_environment(serve, tmp_path: Path) -> None:
    make_wheel(tmp_path, "envdemo", "1.0")
    server = serve("-P", ".", "-a", ".", tmp_path, env={"PYPISERVER_TRUSTED_PROXY": "127.0.0.1"})
    page = http(server.url, headers={"X-Forwarded-Host": "env.example"})
    assert "--index-url http://env.example/simple/ PACKAGE" in page.text


# --- percent-encoded prefixes (issue 12, item 20) ----------------------------------------


def raw_get(
    server: Server, target: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """GET ``target`` exactly as given (no client re-encodes it): status, headers, body."""
    host, port = raw.address(server.url)
    answer = raw.parse(
        raw.exchange(server.url, raw.request_head(target, f"{host}:{port}", headers=headers))
    )
    return answer.status, answer.headers, answer.body.decode("utf-8", "replace")


def test_server_base_url_with_an_encoded_space(serve, tmp_path: Path) -> None:
    make_wheel(tmp_path, "demo", "1.0")
    server = serve("--server-base-url", "/my%20index/", "-P", ".", "-a", ".", tmp_path)
    origin = server.url.rstrip("/")
    status, _, body = raw_get(server, "/my%20index/simple/")
    assert status == 200, body
    assert 'href="demo/"' in body
    status, _, body = raw_get(server, "/my%20index/")
    assert status == 200, body
    assert f"pip install --index-url {origin}/my%20index/simple/ PACKAGE" in body
    assert "%2520" not in body
    status, headers, _ = raw_get(server, "/my%20index")
    assert status == 301
    assert headers["location"] == "my%20index/"
    status, _, body = raw_get(server, "/my%20index/pypi/demo/json")
    assert status == 200, body
    urls = [u["url"] for u in json.loads(body)["urls"]]
    assert urls
    assert all(u.startswith(f"{origin}/my%20index/packages/") for u in urls), urls
    # The doubly encoded form is another path, outside the prefix.
    status, _, body = raw_get(server, "/my%2520index/simple/")
    assert status == 404
    assert "served under /my%20index/" in body


def test_forwarded_prefix_with_an_encoded_space(serve, tmp_path: Path) -> None:
    make_wheel(tmp_path, "demo", "1.0")
    server = serve("--trusted-proxy", "127.0.0.1", "-P", ".", "-a", ".", tmp_path)
    forwarded = {"X-Forwarded-Host": "proxy.example", "X-Forwarded-Prefix": "/my%20index"}
    status, _, body = raw_get(server, "/", forwarded)
    assert status == 200, body
    assert "pip install --index-url http://proxy.example/my%20index/simple/ PACKAGE" in body
    assert "%2520" not in body
    status, _, body = raw_get(server, "/pypi/demo/json", forwarded)
    urls = [u["url"] for u in json.loads(body)["urls"]]
    assert urls
    assert all(u.startswith("http://proxy.example/my%20index/packages/") for u in urls)


def test_encoded_prefix_through_nginx(proxied: Proxied) -> None:
    page = http(proxied.url + "my%20index/")
    assert page.status == 200
    assert f"pip install --index-url {proxied.url}my%20index/simple/ PACKAGE" in page.text
    index = http(proxied.url + "my%20index/simple/")
    assert index.status == 200
    assert 'href="proxied-demo/"' in index.text

from __future__ import annotations

from pathlib import Path

from helpers import Clients, http
from helpers.dists import make_sdist, make_wheel


def test_pip_installs_wheel_and_builds_sdist(tmp_path: Path, serve, clients: Clients) -> None:
    packages = tmp_path / "packages"
    packages.mkdir()
    make_wheel(packages, "Demo.Wheel", "1.0")
    make_wheel(packages, "Demo.Wheel", "1.1")
    make_sdist(packages, "demo-sdist", "0.3")
    server = serve(packages)
    index = server.url + "simple/"
    assert http(index).status == 200
    clients.pip("install", "--index-url", index, "demo-wheel", "demo-sdist")
    out = clients.run_python(
        "import demo_wheel, demo_sdist; print(demo_wheel.VERSION, demo_sdist.FROM_SDIST)"
    )
    assert out.split() == ["1.1", "True"]

"""Build tiny, valid distributions inside the tests (never downloaded).

Wheels are written directly with zipfile (METADATA, WHEEL, RECORD with hashes). Sdists
carry an in-tree PEP 517 backend (``backend-path``) with no build requirements, so
pip can build them in isolation without fetching setuptools from any index.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
import zipfile
from pathlib import Path


def _escaped(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name)


def metadata_text(
    name: str,
    version: str,
    requires: tuple[str, ...] = (),
    requires_python: str | None = None,
    summary: str = "A test distribution",
) -> str:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires]
    return "\n".join(lines) + "\n\n"


def wheel_bytes(
    name: str,
    version: str,
    requires: tuple[str, ...] = (),
    requires_python: str | None = None,
    module_body: str | None = None,
    metadata: bytes | None = None,
) -> tuple[str, bytes]:
    """(filename, content) of a pure-Python wheel with one importable module.

    ``metadata`` replaces the generated METADATA file, byte for byte.
    """
    dist = _escaped(name)
    module = dist.lower()
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": (module_body or f"VERSION = {version!r}\n").encode(),
        f"{info}/METADATA": metadata
        if metadata is not None
        else metadata_text(name, version, requires, requires_python).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: packyard-tests\nRoot-Is-Purelib: true\n"
            b"Tag: py3-none-any\n"
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(2020, 1, 1, 0, 0, 0)), data)
    return f"{dist}-{version}-py3-none-any.whl", buf.getvalue()


def make_wheel(directory: Path, name: str, version: str, **kwargs: object) -> Path:
    filename, data = wheel_bytes(name, version, **kwargs)  # type: ignore[arg-type]
    path = directory / filename
    path.write_bytes(data)
    return path


_BACKEND = '''\
"""In-tree PEP 517 backend of a packyard test sdist: builds the wheel by hand."""
import base64, hashlib, os, zipfile

NAME = {name!r}
VERSION = {version!r}
DIST = {dist!r}
MODULE = {module!r}
METADATA = {metadata!r}


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    info = DIST + "-" + VERSION + ".dist-info"
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, MODULE, "__init__.py"), "rb") as fh:
        module = fh.read()
    files = {{
        MODULE + "/__init__.py": module,
        info + "/METADATA": METADATA.encode(),
        info + "/WHEEL": (
            b"Wheel-Version: 1.0\\nGenerator: packyard-tests\\n"
            b"Root-Is-Purelib: true\\nTag: py3-none-any\\n"
        ),
    }}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(path + ",sha256=" + digest + "," + str(len(data)))
    record.append(info + "/RECORD,,")
    files[info + "/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = DIST + "-" + VERSION + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return filename
'''


def sdist_bytes(
    name: str, version: str, requires: tuple[str, ...] = (), requires_python: str | None = None
) -> tuple[str, bytes]:
    """(filename, content) of a PEP 625 sdist that pip can build with no index access."""
    dist = _escaped(name)
    module = dist.lower()
    top = f"{dist}-{version}"
    metadata = metadata_text(name, version, requires, requires_python)
    files = {
        f"{top}/PKG-INFO": metadata.encode(),
        f"{top}/pyproject.toml": (
            b'[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n'
        ),
        f"{top}/backend.py": _BACKEND.format(
            name=name, version=version, dist=dist, module=module, metadata=metadata
        ).encode(),
        f"{top}/{module}/__init__.py": f"VERSION = {version!r}\nFROM_SDIST = True\n".encode(),
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = 1577836800
            tf.addfile(info, io.BytesIO(data))
    return f"{top}.tar.gz", buf.getvalue()


def make_sdist(directory: Path, name: str, version: str, **kwargs: object) -> Path:
    filename, data = sdist_bytes(name, version, **kwargs)  # type: ignore[arg-type]
    path = directory / filename
    path.write_bytes(data)
    return path

"""XML-RPC at POST /RPC2: the ``search`` that ``pip search --index`` calls, plus the two
read-only listing methods of PyPI's old API.

The body is first parsed by defusedxml with DTDs forbidden: without a DTD there can be
no entity declarations, so nothing can expand (the billion-laughs attack pypiserver
fixed in 2.4.2). Only then is it decoded as XML-RPC by the standard library.
"""

from __future__ import annotations

import re
import xmlrpc.client
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import ParseError
from xml.parsers.expat import ExpatError

import defusedxml
import defusedxml.ElementTree

MAX_BODY = 1 << 20
# Methods whose answers carry what files' core metadata says (search shows summaries):
# the caller lets them through only to clients that may download (issue 12).
METADATA_METHODS = frozenset({"search"})


class RpcError(Exception):
    """The request is not acceptable XML-RPC (an HTTP 4xx, not an XML-RPC fault)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Hit:
    name: str
    version: str
    summary: str


@dataclass(frozen=True)
class Catalogue:
    """What the methods may ask of the index."""

    project_names: Callable[[], Sequence[str]]
    versions: Callable[[str], Sequence[str]]  # newest first; [] for an unknown project
    describe: Callable[[str], Hit | None]  # the latest release of a project


def _fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True).encode()


def _terms(spec: object, key: str) -> list[str]:
    if not isinstance(spec, dict):
        return []
    value = spec.get(key)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [v for v in value if isinstance(v, str)]
    return []


def search(catalogue: Catalogue, spec: object, operator: object = "or") -> list[dict[str, object]]:
    """Projects whose name contains a term of ``spec["name"]`` (case-insensitive, with
    ``-``, ``_`` and ``.`` treated alike). Summaries are shown, not searched."""
    terms = [re.sub(r"[-_.]+", "-", t.lower()) for t in _terms(spec, "name")]
    terms = [t for t in terms if t]
    if not terms:
        return []
    require_all = str(operator).lower() == "and"
    hits = []
    for ordering, name in enumerate(catalogue.project_names()):
        found = [term in name for term in terms]
        if all(found) if require_all else any(found):
            hit = catalogue.describe(name)
            if hit is not None:
                hits.append(
                    {
                        "name": hit.name,
                        "version": hit.version,
                        "summary": hit.summary,
                        "_pypi_ordering": ordering,
                    }
                )
    return hits


def handle(body: bytes, catalogue: Catalogue) -> bytes:
    """The XML-RPC response document for a request body; RpcError for a bad request."""
    params, method = parse(body)
    return dispatch(method, params, catalogue)


def parse(body: bytes) -> tuple[tuple[Any, ...], str]:
    """The parameters and method name of a request body; RpcError for a bad request."""
    if len(body) > MAX_BODY:
        raise RpcError(413, f"XML-RPC request larger than {MAX_BODY} bytes")
    try:
        defusedxml.ElementTree.fromstring(body, forbid_dtd=True)
    except defusedxml.DefusedXmlException:
        raise RpcError(
            400, "Invalid or unsafe XML payload: DTDs and entities are refused"
        ) from None
    except (ParseError, ValueError, LookupError):  # LookupError: an unknown encoding
        raise RpcError(
            400, "Invalid XML payload: not well-formed, or in an unknown encoding"
        ) from None
    try:
        params, method = xmlrpc.client.loads(body)
    except (
        xmlrpc.client.Error,
        ExpatError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        LookupError,
        OverflowError,
    ):
        # Not the parser's words: they describe its insides, not the request.
        raise RpcError(
            400, "Invalid XML-RPC request: not a methodCall document with valid values"
        ) from None
    if method is None:
        raise RpcError(400, "Invalid XML-RPC request: no methodName")
    return params, method


def dispatch(method: str, params: tuple[Any, ...], catalogue: Catalogue) -> bytes:
    """The XML-RPC response document of one parsed call."""
    if method == "search":
        if not params:
            return _fault(-32602, "search(spec[, operator]) needs a spec")
        result: object = search(catalogue, params[0], params[1] if len(params) > 1 else "or")
    elif method == "list_packages":
        result = list(catalogue.project_names())
    elif method == "package_releases":
        if not params or not isinstance(params[0], str):
            return _fault(-32602, "package_releases(name) needs a project name")
        result = list(catalogue.versions(params[0]))
    else:
        return _fault(-32601, f"method not supported: {method}")
    response: tuple[Any, ...] = (result,)
    return xmlrpc.client.dumps(response, methodresponse=True, allow_none=False).encode()

"""XML-RPC (POST /RPC2): search, list_packages, package_releases, and hostile bodies."""

from __future__ import annotations

import xmlrpc.client
from typing import Any

import pytest

from packyard import rpc
from packyard.rpc import MAX_BODY, Catalogue, Hit, RpcError, handle, search

PROJECTS = {
    # normalized name -> (versions newest first, summary)
    "foo": (["2.0", "1.0"], "The foo"),
    "foo-bar": (["0.1"], "Foo and bar"),
    "bar-baz": (["3.0"], "Nothing about the other"),
    "zope-interface": (["5.0"], "Interfaces"),
    "no-release": ([], ""),
}


def catalogue(projects: dict[str, tuple[list[str], str]] = PROJECTS) -> Catalogue:
    def describe(name: str) -> Hit | None:
        versions, summary = projects[name]
        return Hit(name=name, version=versions[0], summary=summary) if versions else None

    return Catalogue(
        project_names=lambda: sorted(projects),
        versions=lambda name: list(projects.get(name, ([], ""))[0]),
        describe=describe,
    )


def call(method: str, *params: Any) -> Any:
    body = xmlrpc.client.dumps(params, methodname=method).encode()
    response, _ = xmlrpc.client.loads(handle(body, catalogue()))
    return response[0]


def names(hits: list[dict[str, Any]]) -> list[str]:
    return [h["name"] for h in hits]


# --- search


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"name": "foo"}, ["foo", "foo-bar"]),
        ({"name": ["foo"]}, ["foo", "foo-bar"]),
        ({"name": "FOO"}, ["foo", "foo-bar"]),
        ({"name": "Foo_Bar"}, ["foo-bar"]),
        ({"name": "foo.bar"}, ["foo-bar"]),
        ({"name": "foo-bar"}, ["foo-bar"]),
        ({"name": "o-b"}, ["foo-bar"]),
        ({"name": "zope.interface"}, ["zope-interface"]),
        ({"name": "ZOPE_INTERFACE"}, ["zope-interface"]),
        ({"name": "bar"}, ["bar-baz", "foo-bar"]),
        ({"name": "nothing"}, []),
        ({"name": ""}, []),
        ({"name": []}, []),
        ({}, []),
        ({"summary": "foo"}, []),  # summaries are shown, not searched
        ({"name": "no-release"}, []),  # a project without a release has nothing to show
    ],
)
def test_search_by_name(spec: dict[str, Any], expected: list[str]) -> None:
    assert sorted(names(call("search", spec))) == sorted(expected)


def test_search_run_of_separators_matches_like_pep503() -> None:
    # PEP 503 folds runs of -, _ and . into one "-": "foo._bar" names the project foo-bar.
    assert names(call("search", {"name": "foo._bar"})) == ["foo-bar"]
    assert names(call("search", {"name": "Foo__Bar"})) == ["foo-bar"]


def test_search_hit_shape() -> None:
    hits = call("search", {"name": "foo-bar"})
    assert hits == [
        {"name": "foo-bar", "version": "0.1", "summary": "Foo and bar", "_pypi_ordering": 2}
    ]


def test_search_hits_follow_catalogue_order() -> None:
    hits = call("search", {"name": ["a", "o"]})
    assert names(hits) == ["bar-baz", "foo", "foo-bar", "zope-interface"]
    assert [h["_pypi_ordering"] for h in hits] == [0, 1, 2, 4]


@pytest.mark.parametrize(
    ("operator", "expected"),
    [
        ("or", ["bar-baz", "foo", "foo-bar"]),
        ("OR", ["bar-baz", "foo", "foo-bar"]),
        ("and", ["foo-bar"]),
        ("AND", ["foo-bar"]),
        ("something else", ["bar-baz", "foo", "foo-bar"]),
    ],
)
def test_search_operator(operator: str, expected: list[str]) -> None:
    assert names(call("search", {"name": ["foo", "bar"]}, operator)) == expected


def test_search_default_operator_is_or() -> None:
    assert names(call("search", {"name": ["foo", "baz"]})) == ["bar-baz", "foo", "foo-bar"]


def test_search_what_pip_sends() -> None:
    # pip search QUERY: {'name': [QUERY], 'summary': [QUERY]}, 'or'
    hits = call("search", {"name": ["interface"], "summary": ["interface"]}, "or")
    assert hits == [
        {"name": "zope-interface", "version": "5.0", "summary": "Interfaces", "_pypi_ordering": 4}
    ]


def test_search_ignores_non_string_terms() -> None:
    assert names(call("search", {"name": [1, "zope", True]})) == ["zope-interface"]


@pytest.mark.parametrize("spec", ["foo", ["foo"], 3])
def test_search_spec_that_is_not_a_struct_finds_nothing(spec: object) -> None:
    assert call("search", spec) == []


def test_search_function_directly() -> None:
    assert names(search(catalogue(), {"name": "FOO"})) == ["foo", "foo-bar"]
    assert search(catalogue(), None) == []
    assert names(search(catalogue(), {"name": ("bar", "baz")}, "and")) == ["bar-baz"]


# --- list_packages, package_releases


def test_list_packages() -> None:
    assert call("list_packages") == sorted(PROJECTS)


def test_list_packages_empty() -> None:
    body = xmlrpc.client.dumps((), methodname="list_packages").encode()
    response, _ = xmlrpc.client.loads(handle(body, catalogue({})))
    assert response == ([],)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("foo", ["2.0", "1.0"]), ("foo-bar", ["0.1"]), ("unknown", []), ("no-release", [])],
)
def test_package_releases(name: str, expected: list[str]) -> None:
    assert call("package_releases", name) == expected


def test_call_without_params_element() -> None:
    # <params> is optional in XML-RPC when a method takes no parameters.
    body = b"<methodCall><methodName>list_packages</methodName></methodCall>"
    response, _ = xmlrpc.client.loads(handle(body, catalogue()))
    assert response == (sorted(PROJECTS),)


def test_package_releases_with_show_hidden_flag() -> None:
    assert call("package_releases", "foo", True) == ["2.0", "1.0"]


# --- faults (answered as XML-RPC, HTTP 200)


def fault_of(body: bytes) -> xmlrpc.client.Fault:
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(handle(body, catalogue()))
    return caught.value


@pytest.mark.parametrize("method", ["release_data", "system.listMethods", "__init__", "x"])
def test_unknown_method_is_a_fault(method: str) -> None:
    fault = fault_of(xmlrpc.client.dumps(("foo",), methodname=method).encode())
    assert fault.faultCode == -32601
    assert method in fault.faultString


def test_search_without_spec_is_a_fault() -> None:
    fault = fault_of(xmlrpc.client.dumps((), methodname="search").encode())
    assert fault.faultCode == -32602


@pytest.mark.parametrize("params", [(), (42,), ([],)])
def test_package_releases_without_name_is_a_fault(params: tuple[Any, ...]) -> None:
    fault = fault_of(xmlrpc.client.dumps(params, methodname="package_releases").encode())
    assert fault.faultCode == -32602


# --- bad requests (HTTP 4xx)


def rpc_error(body: bytes) -> RpcError:
    with pytest.raises(RpcError) as caught:
        handle(body, catalogue())
    return caught.value


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<methodCall><methodName>search</methodName><params><param><value><struct>
<member><name>name</name><value><string>&lol9;</string></value></member>
</struct></value></param></params></methodCall>
"""

EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<methodCall><methodName>package_releases</methodName><params>
<param><value><string>&xxe;</string></value></param></params></methodCall>
"""

DOCTYPE_ONLY = b"""<?xml version="1.0"?>
<!DOCTYPE methodCall SYSTEM "http://example.invalid/x.dtd">
<methodCall><methodName>list_packages</methodName><params/></methodCall>
"""


def test_billion_laughs_is_refused_without_expanding(monkeypatch: pytest.MonkeyPatch) -> None:
    def never(*args: object, **kwargs: object) -> object:
        raise AssertionError("the body must not reach the XML-RPC decoder")

    monkeypatch.setattr(rpc.xmlrpc.client, "loads", never)
    error = rpc_error(BILLION_LAUGHS)
    assert error.status == 400
    assert "lol" not in error.message


@pytest.mark.parametrize("body", [EXTERNAL_ENTITY, DOCTYPE_ONLY], ids=["xxe", "doctype"])
def test_dtds_are_refused(body: bytes) -> None:
    error = rpc_error(body)
    assert error.status == 400
    assert "root:" not in error.message


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<methodCall><methodName>search</methodName>",
        b"<methodCall><methodName>search</methodName><params></methodCall>",
        b"<?xml version='1.0'?><a><b></a></b>",
        b"\xff\xfe<methodCall/>",
    ],
    ids=["empty", "text", "unclosed", "mismatched", "crossed", "bad-bytes"],
)
def test_malformed_xml_is_400(body: bytes) -> None:
    assert rpc_error(body).status == 400


@pytest.mark.parametrize(
    "body",
    [
        # well-formed XML that is not an XML-RPC call
        b"<methodResponse><params><param><value><int>1</int></value></param></params></methodResponse>",
        b"<foo/>",
        b"<methodCall/>",
        b"<methodCall><params/></methodCall>",
        b"<methodCall><methodName>search</methodName><params><param><value>"
        b"<double>abc</double></value></param></params></methodCall>",
        b"<methodCall><methodName>search</methodName><params><param><value>"
        b"<boolean>7</boolean></value></param></params></methodCall>",
    ],
    ids=["response", "other-root", "empty-call", "no-method-name", "bad-double", "bad-boolean"],
)
def test_not_an_xmlrpc_call_is_400(body: bytes) -> None:
    assert rpc_error(body).status == 400


def test_body_over_max_body_is_413() -> None:
    padding = b" " * (MAX_BODY + 1 - len(b"<methodCall></methodCall>"))
    body = b"<methodCall>" + padding + b"</methodCall>"
    assert len(body) == MAX_BODY + 1
    error = rpc_error(body)
    assert error.status == 413


def test_body_at_max_body_is_accepted() -> None:
    call_body = xmlrpc.client.dumps((), methodname="list_packages").encode()
    body = call_body + b" " * (MAX_BODY - len(call_body))
    assert len(body) == MAX_BODY
    response, _ = xmlrpc.client.loads(handle(body, catalogue()))
    assert response == (sorted(PROJECTS),)


def test_rpc_error_carries_status_and_message() -> None:
    error = RpcError(413, "too big")
    assert error.status == 413
    assert error.message == "too big"
    assert str(error) == "too big"


def test_response_is_a_method_response() -> None:
    body = xmlrpc.client.dumps((), methodname="list_packages").encode()
    raw = handle(body, catalogue())
    assert isinstance(raw, bytes)
    assert b"<methodResponse>" in raw
    assert b"<!DOCTYPE" not in raw

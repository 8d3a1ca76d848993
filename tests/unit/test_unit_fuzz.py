"""Property tests (hypothesis) for the pure parsers that read what clients send (issue 7).

Each parser may refuse its input only with its own documented error, and what it returns
must make sense. The explicit examples at the end of each section are inputs that
hypothesis does not reach by itself (more digits than ``int()`` converts, encodings
declared in XML) but an attacker does.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import json
import math
import re
import xmlrpc.client
from html.parser import HTMLParser
from urllib.parse import quote, urljoin, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from packyard import multipart, rpc
from packyard.httputil import (
    SIMPLE_TYPES,
    TEXT_HTML,
    UNSATISFIABLE,
    accepts_encoding,
    etag_matches,
    http_date,
    if_range_allows,
    negotiate,
    parse_http_date,
    parse_range,
    reason_phrase,
    relative_location,
)
from packyard.index import render
from packyard.index.filenames import Kind, NotADistribution, parse_filename
from packyard.index.model import Distribution
from packyard.index.names import is_normalized, is_valid_name, normalize
from packyard.proxy import parse_base_path, parse_trusted_proxies

FUZZ = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# Fewer examples for the strategies that are slow to draw (nested forms and calls).
FUZZ_HEAVY = settings(FUZZ, max_examples=100)
BIG = "1" * 5000  # more digits than int() converts (sys.get_int_max_str_digits(): 4300)

# Header values reach the application as latin-1 text (PEP 3333).
latin1 = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=255), max_size=80)


def _mutate(data: bytes, draw: st.DrawFn) -> bytes:
    """``data`` with a few bytes deleted, replaced, inserted or duplicated."""
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        how = draw(st.sampled_from(["delete", "replace", "insert", "duplicate"]))
        span = draw(st.integers(1, 16))
        junk = draw(st.binary(min_size=1, max_size=16))
        if how == "delete":
            data = data[:at] + data[at + span :]
        elif how == "replace":
            data = data[:at] + junk + data[at + len(junk) :]
        elif how == "insert":
            data = data[:at] + junk + data[at:]
        else:
            data = data[:at] + data[at : at + span] * 2 + data[at + span :]
    return data


# --- multipart.parse ------------------------------------------------------------------

BOUNDARY = "fuzz-boundary-0123456789"
CT = "multipart/form-data; boundary=" + BOUNDARY
LIMITS = multipart.Limits(
    max_field_bytes=4096, max_text_bytes=8192, max_fields=20, max_header_bytes=1024
)


class Collect:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data


class Trickle(io.RawIOBase):
    """A stream that gives at most ``step`` bytes per read (a slow client)."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = data
        self._at = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._step if size < 0 else min(size, self._step)
        out = self._data[self._at : self._at + n]
        self._at += len(out)
        return out


def parse_form(
    body: bytes, content_type: str = CT, step: int = 1 << 16, length: int | None = -1
) -> tuple[multipart.Form, list[Collect | None]]:
    """Parse with every file part's bytes collected (those of field "discard" dropped);
    the sinks in the order the parts came."""
    sinks: list[Collect | None] = []

    def open_file(name: str, filename: str) -> Collect | None:
        sinks.append(None if name == "discard" else Collect())
        return sinks[-1]

    form = multipart.parse(
        Trickle(body, step),
        content_type,
        len(body) if length == -1 else length,
        open_file,
        LIMITS,
    )
    return form, sinks


def check_form(form: multipart.Form, sinks: list[Collect | None]) -> None:
    """What a parsed form promises, whatever the body was."""
    assert sum(len(v) for v in form.fields.values()) + len(form.files) <= LIMITS.max_fields
    for name, values in form.fields.items():
        assert len(name) <= LIMITS.max_name_length
        for value in values:
            assert len(value.encode("utf-8")) <= LIMITS.max_field_bytes
    assert len(sinks) == len(form.files)
    for part, sink in zip(form.files, sinks, strict=True):
        assert len(part.name) <= LIMITS.max_name_length
        if sink is not None:
            assert len(sink.data) == part.size


def check_multipart(body: bytes, **kwargs: object) -> None:
    """Parsing ``body`` gives a sane form or a FormError with a 4xx status: nothing else."""
    try:
        form, sinks = parse_form(body, **kwargs)  # type: ignore[arg-type]
    except multipart.FormError as exc:
        error = exc
    else:
        check_form(form, sinks)
        return
    assert 400 <= error.status < 500
    assert str(error)


def encode(fields: list[tuple[str, str]], files: list[tuple[str, str, bytes]]) -> bytes:
    out = bytearray()
    for name, value in fields:
        out += f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
        out += value.encode() + b"\r\n"
    for name, filename, data in files:
        quoted = filename.replace("\\", "\\\\").replace('"', '\\"')
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{quoted}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        out += data + b"\r\n"
    return bytes(out + f"--{BOUNDARY}--\r\n".encode())


field_names = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters='"\\'),
    min_size=1,
    max_size=30,
)
field_values = st.text(max_size=200).filter(lambda v: BOUNDARY not in v)
filenames = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF), min_size=1, max_size=40
)
file_bodies = st.binary(max_size=3000).filter(lambda b: BOUNDARY.encode() not in b)
valid_forms = st.tuples(
    st.lists(st.tuples(field_names, field_values), max_size=6),
    st.lists(st.tuples(field_names, filenames, file_bodies), max_size=3, unique_by=lambda f: f[:2]),
)


@FUZZ_HEAVY
@given(valid_forms, st.sampled_from([1, 2, 7, 64, 1 << 16]))
def test_multipart_round_trip(form: tuple, step: int) -> None:
    """Any well-formed form comes back field for field and byte for byte, however the
    body is cut into reads."""
    fields, files = form
    files = [f for f in files if f[0] != "discard"]
    body = encode(fields, files)
    parsed, sinks = parse_form(body, step=step)
    expected: dict[str, list[str]] = {}
    for name, value in fields:
        expected.setdefault(name, []).append(value)
    assert parsed.fields == expected
    assert [(p.name, p.filename, p.size) for p in parsed.files] == [
        (n, f, len(d)) for n, f, d in files
    ]
    assert [bytes(sink.data) for sink in sinks if sink is not None] == [d for _, _, d in files]


@FUZZ_HEAVY
@given(st.data())
def test_multipart_mutated_forms_raise_only_form_error(data: st.DataObject) -> None:
    fields, files = data.draw(valid_forms)
    body = _mutate(encode(fields, files), data.draw)
    step = data.draw(st.sampled_from([1, 5, 1 << 16]))
    length = data.draw(st.sampled_from([-1, None, 0, len(body) // 2, len(body) + 10]))
    check_multipart(body, step=step, length=length)


TOKENS = [
    b"--" + BOUNDARY.encode(),
    b"--",
    b"\r\n",
    b"\r\n\r\n",
    b"\n",
    b"Content-Disposition: ",
    b"form-data",
    b"; ",
    b'name="',
    b"name=",
    b'filename="',
    b"filename*=",
    b"UTF-8''",
    b"%ff",
    b"%41",
    b'"',
    b"\\",
    b"content",
    b"\xff\xfe",
    b"\x00",
    b"x" * 300,
]


@FUZZ_HEAVY
@given(
    st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=8)), max_size=60),
    st.sampled_from([1, 3, 1 << 16]),
)
def test_multipart_token_soup_raises_only_form_error(pieces: list[bytes], step: int) -> None:
    body = b"".join(pieces)
    check_multipart(body, step=step)


@FUZZ
@given(st.binary(max_size=2000), latin1)
def test_multipart_arbitrary_bytes_and_content_type(body: bytes, content_type: str) -> None:
    for ctype in (content_type, CT, "multipart/form-data; boundary=" + content_type):
        check_multipart(body, content_type=ctype)


# --- filenames and names ----------------------------------------------------------------

name_chars = "abcXYZ019-_.+!~ <>&\"'/\\\x00é"
filename_like = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda stem, ext: stem + ext,
        st.text(alphabet=name_chars, max_size=40),
        st.sampled_from([".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz", ".tar.xz", ".egg", ""]),
    ),
    st.builds(
        lambda n, v, tags: f"{n}-{v}-{tags}.whl",
        st.text(alphabet=name_chars, max_size=12),
        st.text(alphabet="0123456789.-+_abrcpostdev!", max_size=12),
        st.sampled_from(["py3-none-any", "py3-none", "1-py3-none-any", "x-y-z-w"]),
    ),
)
hints = st.frozensets(st.text(alphabet="abc-19", min_size=1, max_size=6), max_size=3)


@FUZZ
@given(filename_like, hints)
def test_parse_filename_raises_only_not_a_distribution(filename: str, hint: frozenset) -> None:
    try:
        parsed = parse_filename(filename, hint)
    except NotADistribution:
        return
    assert parsed.project
    assert parsed.project == normalize(parsed.project)
    assert is_normalized(parsed.project)
    assert parsed.version
    assert parsed.kind in set(Kind)
    assert (parsed.kind is Kind.WHEEL) == filename.endswith(".whl")
    assert "/" not in filename
    assert "\\" not in filename
    assert not filename.startswith(".")


@pytest.mark.parametrize(
    "filename",
    [
        f"foo-{BIG}-py3-none-any.whl",
        f"foo-1.{BIG}-py3-none-any.whl",
        f"foo-{BIG}.tar.gz",
        f"foo-{BIG}.zip",
        f"foo-{BIG}.tar.bz2",
        f"foo-{BIG}.egg",
        f"foo-1.0-{BIG}-py3-none-any.whl",  # build tag
    ],
    ids=["wheel", "wheel-minor", "tar.gz", "zip", "tar.bz2", "egg", "wheel-build-tag"],
)
def test_parse_filename_with_numbers_too_long_for_int(filename: str) -> None:
    """Filenames this long never come from disk (NAME_MAX), but parse_filename is
    documented to raise only NotADistribution; it is a valid answer to return a parse
    too, as long as nothing else escapes."""
    with contextlib.suppress(NotADistribution):
        parse_filename(filename, {"foo"})


@FUZZ
@given(st.text(max_size=60))
def test_normalize_is_idempotent(name: str) -> None:
    once = normalize(name)
    assert normalize(once) == once
    if is_valid_name(name):
        assert once == re.sub(r"[-_.]+", "-", name).lower()
        assert is_valid_name(once)
        assert is_normalized(once)
        assert re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", once)


# --- httputil -------------------------------------------------------------------------------

range_like = st.one_of(
    latin1,
    st.builds(
        lambda unit, a, b, extra: f"{unit}={a}-{b}{extra}",
        st.sampled_from(["bytes", "BYTES", " bytes ", "items", ""]),
        st.one_of(st.just(""), st.integers(0, 10**12).map(str), latin1),
        st.one_of(st.just(""), st.integers(0, 10**12).map(str), latin1),
        st.sampled_from(["", ",0-1", ";x", " "]),
    ),
    st.builds(
        lambda a, b: f"bytes={a}-{b}",
        st.text(alphabet="0123456789\xb2\xb3\xb9 +-_", max_size=6),
        st.text(alphabet="0123456789\xb2\xb3\xb9 +-_", max_size=6),
    ),
)


@FUZZ
@given(range_like, st.integers(0, 10**6))
def test_parse_range_never_raises_and_stays_inside_the_file(header: str, size: int) -> None:
    wanted = parse_range(header, size)
    if wanted is None or wanted == UNSATISFIABLE:
        return
    first, last = wanted
    assert 0 <= first <= last < size


@pytest.mark.parametrize(
    "header",
    [
        f"bytes={BIG}-",
        f"bytes=0-{BIG}",
        f"bytes=-{BIG}",
        "bytes=\xb2-5",
        "bytes=0-\xb9",
        "bytes=-\xb3",
    ],
    ids=["first-5000-digits", "last-5000-digits", "suffix-5000-digits", "sup2", "sup1", "sup3"],
)
def test_parse_range_examples_never_raise(header: str) -> None:
    wanted = parse_range(header, 100)
    assert wanted is None or wanted == UNSATISFIABLE or 0 <= wanted[0] <= wanted[1] < 100


@FUZZ
@given(st.integers(0, 10**9), st.integers(0, 10**9), st.integers(1, 10**9))
def test_parse_range_of_well_formed_ranges(first: int, last: int, size: int) -> None:
    wanted = parse_range(f"bytes={first}-{last}", size)
    if last < first:
        assert wanted is None
    elif first >= size:
        assert wanted == UNSATISFIABLE
    else:
        assert wanted == (first, min(last, size - 1))


accept_like = st.one_of(
    latin1,
    st.lists(
        st.builds(
            lambda kind, q: kind + q,
            st.sampled_from([*SIMPLE_TYPES, "*/*", "text/*", "application/*", "a/b", "", "x"]),
            st.sampled_from(["", ";q=0", ";q=0.5", ";q=1", ";q=nan", ";q=inf", ";q=-1", ";q=x"]),
        ),
        max_size=6,
    ).map(", ".join),
)


@FUZZ
@given(accept_like, st.one_of(st.none(), latin1, st.sampled_from(SIMPLE_TYPES)))
def test_negotiate_answers_an_offered_type_or_none(accept: str, fmt: str | None) -> None:
    chosen = negotiate(accept, fmt)
    assert chosen is None or chosen in SIMPLE_TYPES
    if fmt in SIMPLE_TYPES:
        assert chosen == fmt
    # The first mention of a type decides its q-value: JSON named first with q=1 wins.
    assert negotiate(SIMPLE_TYPES[0] + ", " + accept, None) == SIMPLE_TYPES[0]
    assert negotiate("", None) == TEXT_HTML


@FUZZ
@given(accept_like, st.sampled_from(["gzip", "br", "identity"]))
def test_accepts_encoding_is_a_plain_answer(header: str, coding: str) -> None:
    answer = accepts_encoding(header, coding)
    assert isinstance(answer, bool)
    if coding not in header.lower():
        assert accepts_encoding(coding + ", " + header, coding)
    assert not accepts_encoding(None, coding)


etags = st.text(alphabet="0123456789abcdef-", min_size=1, max_size=20).map(lambda t: f'"{t}"')


@FUZZ
@given(latin1, etags)
def test_etag_matches(header: str, etag: str) -> None:
    assert isinstance(etag_matches(header, etag), bool)
    assert etag_matches(etag, etag)
    assert etag_matches("W/" + etag, etag)
    assert etag_matches(header + ", " + etag, etag)
    assert not etag_matches('"other-' + etag.strip('"') + '"', etag)


@FUZZ
@given(
    st.one_of(
        latin1,
        st.builds(
            lambda d, m, y, t, z: f"Mon, {d} {m} {y} {t} {z}",
            st.integers(-5, 99).map(str),
            st.sampled_from(["Jan", "Feb", "Foo", ""]),
            st.one_of(st.integers(-10, 10**20).map(str), latin1),
            st.sampled_from(["00:00:00", "99:99:99", "1:2", ""]),
            st.sampled_from(["GMT", "+9999", "-0000", "UTC", "EST", "x"]),
        ),
    ),
    etags,
    st.floats(0, 2**33),
)
def test_http_date_parsing_and_if_range(text: str, etag: str, mtime: float) -> None:
    when = parse_http_date(text)
    assert when is None or (isinstance(when, float) and math.isfinite(when))
    assert isinstance(if_range_allows(text, etag, mtime), bool)
    assert if_range_allows(etag, etag, mtime)
    assert if_range_allows(None, etag, mtime)


@FUZZ
@given(st.integers(0, 253402300799))
def test_http_date_round_trip(timestamp: int) -> None:
    assert parse_http_date(http_date(timestamp)) == timestamp


@FUZZ
@given(st.text(max_size=400))
def test_reason_phrase_is_safe_in_a_status_line(message: str) -> None:
    phrase = reason_phrase(message)
    assert len(phrase) <= 300
    phrase.encode("latin-1")
    assert all(32 <= ord(c) < 127 or 160 <= ord(c) < 256 for c in phrase)


segments = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FF, exclude_characters="/"),
    min_size=1,
    max_size=10,
).filter(lambda s: s not in (".", ".."))


valid_names = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,10}[A-Za-z0-9])?", fullmatch=True)


@FUZZ
@given(st.lists(segments, min_size=1, max_size=4), st.booleans(), valid_names, latin1)
def test_relative_location_is_one_safe_header_value_leading_to_the_target(
    parts: list[str], slash: bool, name: str, query: str
) -> None:
    """Whatever the request path and query, the Location is printable ASCII without
    spaces, and leads from the request to the target on the same host."""
    request_path = "/" + "/".join(parts) + ("/" if slash else "")
    target = "/simple/" + quote(normalize(name)) + "/"
    location = relative_location(request_path, target, query)
    assert re.fullmatch(r"[\x21-\x7e]*", location), location
    assert not location.startswith("//")
    base = "http://index.example" + quote(request_path)
    resolved = urlsplit(urljoin(base, location))
    assert resolved.netloc == "index.example"
    assert resolved.path == target


# --- XML-RPC ----------------------------------------------------------------------------------


def catalogue() -> rpc.Catalogue:
    projects = {"foo": ["2.0", "1.0"], "foo-bar": ["0.1"], "xss": ["1.0"]}

    def describe(name: str) -> rpc.Hit | None:
        return rpc.Hit(name=name, version=projects[name][0], summary="<script>&")

    return rpc.Catalogue(
        project_names=lambda: sorted(projects),
        versions=lambda name: projects.get(name, []),
        describe=describe,
    )


CATALOGUE = catalogue()


def check_rpc(body: bytes) -> None:
    try:
        answer = rpc.handle(body, CATALOGUE)
    except rpc.RpcError as exc:
        error = exc
    else:
        with contextlib.suppress(xmlrpc.client.Fault):
            xmlrpc.client.loads(answer)
        return
    assert error.status in (400, 413)
    assert error.message


xmlrpc_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**31), 2**31 - 1),
        st.floats(allow_nan=False),
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0xD7FF), max_size=20),
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=5).filter(lambda k: "\r" not in k), children, max_size=4),
    ),
    max_leaves=12,
)
calls = st.builds(
    lambda method, params: xmlrpc.client.dumps(
        tuple(params), methodname=method, allow_none=True
    ).encode(),
    st.sampled_from(["search", "list_packages", "package_releases", "other", ""]),
    st.lists(xmlrpc_values, max_size=3),
)


@FUZZ_HEAVY
@given(calls)
def test_rpc_any_call_is_answered(body: bytes) -> None:
    check_rpc(body)


@FUZZ_HEAVY
@given(st.data())
def test_rpc_mutated_calls_raise_only_rpc_error(data: st.DataObject) -> None:
    check_rpc(_mutate(data.draw(calls), data.draw))


@FUZZ
@given(st.binary(max_size=500))
def test_rpc_arbitrary_bytes_raise_only_rpc_error(body: bytes) -> None:
    check_rpc(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<?xml version='1.0' encoding='x-no-such-encoding'?><methodCall>"
        b"<methodName>list_packages</methodName></methodCall>",
        b"<?xml version='1.0' encoding='utf-32'?><methodCall/>",
        b"<methodCall><methodName>package_releases</methodName><params><param><value><int>"
        + BIG.encode()
        + b"</int></value></param></params></methodCall>",
        b"<methodCall><methodName>search</methodName><params><param><value><double>"
        + BIG.encode()
        + b"</double></value></param></params></methodCall>",
    ],
    ids=["unknown-encoding", "mismatched-encoding", "int-5000-digits", "double-5000-digits"],
)
def test_rpc_examples_raise_only_rpc_error(body: bytes) -> None:
    check_rpc(body)


# --- proxy settings ---------------------------------------------------------------------------


@FUZZ
@given(
    st.one_of(
        latin1,
        st.lists(
            st.one_of(
                st.ip_addresses().map(str),
                st.sampled_from(["*", "10.0.0.0/8", "::1/128", "1.2.3.4/33", "", " "]),
                latin1,
            ),
            max_size=4,
        ).map(",".join),
    )
)
def test_parse_trusted_proxies_raises_only_value_error(text: str) -> None:
    try:
        result = parse_trusted_proxies(text)
    except ValueError as exc:
        assert type(exc) is ValueError  # noqa: PT017 - not a subclass from somewhere else
        return
    assert result
    if result != ("*",):
        for network in result:
            ipaddress.ip_network(network)
        assert parse_trusted_proxies(",".join(result)) == result


@FUZZ
@given(
    st.one_of(
        latin1,
        st.lists(
            st.sampled_from(["pypi", "a b", "..", ".", "", "%2f", "%zz", "x:y", "<s>", "é"]),
            max_size=4,
        ).map(lambda parts: "/" + "/".join(parts)),
    )
)
def test_parse_base_path_raises_only_value_error(text: str) -> None:
    try:
        prefix = parse_base_path(text)
    except ValueError as exc:
        assert type(exc) is ValueError  # noqa: PT017 - not a subclass from somewhere else
        return
    assert prefix == "" or (prefix.startswith("/") and not prefix.endswith("/"))
    assert "//" not in prefix
    assert not re.search(r"[\s<>\"\\]", prefix)
    if prefix:
        assert parse_base_path(prefix) == prefix
        assert parse_base_path(prefix + "/") == prefix


# --- rendering ------------------------------------------------------------------------------------

PAGE_TAGS = {"html", "head", "meta", "title", "body", "h1", "a", "br"}


class Page(HTMLParser):
    def __init__(self, html: bytes) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.links: list[tuple[dict[str, str | None], str]] = []
        self._in_a: dict[str, str | None] | None = None
        self._text = ""
        self.feed(html.decode("utf-8"))
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self._in_a, self._text = dict(attrs), ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._in_a is not None:
            self.links.append((self._in_a, self._text))
            self._in_a = None

    def handle_data(self, data: str) -> None:
        if self._in_a is not None:
            self._text += data


# Text as it may come from disk or metadata: printable characters, with the pieces of
# markup an attacker would use mixed in (random characters alone rarely form a tag).
MARKUP = ["<", ">", "&", '"', "'", "<b>", "<script>", "</a>", "&amp;", "&lt;", '"><b x="']
MARKUP += ["'><b>", "<!--", "-->", "<![CDATA[", "&#60;", "<a href=x>", "#", "?", "%", "%3C"]
hostile_text = st.lists(
    st.one_of(
        st.sampled_from(MARKUP),
        st.text(
            alphabet=st.characters(
                min_codepoint=32, max_codepoint=0x2FF, categories=("L", "N", "P", "S", "Zs")
            ),
            min_size=1,
            max_size=6,
        ),
    ),
    min_size=1,
    max_size=6,
).map("".join)


def dist(relpath: str, project: str = "p", version: str = "1.0") -> Distribution:
    return Distribution(
        root="/srv",
        relpath=relpath,
        project=project,
        version=version,
        kind=Kind.SDIST,
        sort_key=(),
        size=1,
        mtime_ns=1,
        inode=1,
    )


@FUZZ
@given(st.lists(hostile_text, min_size=1, max_size=4))
def test_project_list_escapes_names(names: list[str]) -> None:
    page = Page(render.project_list_html(names))
    assert set(page.tags) <= PAGE_TAGS
    assert [text for _, text in page.links] == names
    assert [attrs["href"] for attrs, _ in page.links] == [quote(n, safe="/") + "/" for n in names]
    doc = json.loads(render.project_list_json(names))
    assert [p["name"] for p in doc["projects"]] == names


@FUZZ_HEAVY
@given(
    hostile_text,
    st.lists(st.tuples(st.lists(hostile_text, min_size=1, max_size=3), hostile_text), max_size=4),
    st.one_of(st.none(), hostile_text),
    st.one_of(st.none(), hostile_text),
)
def test_project_page_escapes_everything(
    project: str,
    files: list[tuple[list[str], str]],
    requires_python: str | None,
    yanked: str | None,
) -> None:
    dists = [dist("/".join(parts), version=version) for parts, version in files]
    entries = [
        render.FileEntry(
            dist=d,
            hashes={"sha256": "ab" * 32},
            requires_python=requires_python,
            core_metadata="cd" * 32,
            yanked=yanked,
        )
        for d in dists
    ]
    page = Page(render.project_html(project, entries, "sha256"))
    assert set(page.tags) <= PAGE_TAGS
    assert len(page.links) == len(dists)
    for (attrs, text), d in zip(page.links, dists, strict=True):
        assert text == d.filename
        assert (
            attrs["href"] == "../../packages/" + quote(d.relpath, safe="/") + "#sha256=" + "ab" * 32
        )
        assert attrs.get("data-requires-python") == requires_python
        assert attrs.get("data-yanked") == yanked
    listing = Page(render.packages_html(dists))
    assert set(listing.tags) <= PAGE_TAGS
    assert [text for _, text in listing.links] == [d.relpath for d in dists]
    doc = json.loads(render.project_json(project, entries))
    assert doc["name"] == project
    assert [f["filename"] for f in doc["files"]] == [d.filename for d in dists]


@FUZZ_HEAVY
@given(st.dictionaries(st.sampled_from(render.WELCOME_PLACEHOLDERS), hostile_text))
def test_welcome_page_escapes_every_value(values: dict[str, str]) -> None:
    template = "<p>" + "".join(f"[{{{{{k}}}}}|{{{{!{k}}}}}]" for k in values) + "</p>"
    page = Page(render.welcome_html(template, values))
    assert page.tags == ["p"]
    default = Page(render.welcome_html(None, values))
    assert set(default.tags) <= PAGE_TAGS | {"p", "pre", "code"}

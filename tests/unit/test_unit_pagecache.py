"""The page caches: bounded in bytes (gzip forms included), and the PyPI JSON document
kept once for every base URL (issue 12, item 5)."""

from __future__ import annotations

import gzip
import json

import pytest

from packyard import pagecache
from packyard.pagecache import ByteCache, JsonDoc, Page


def maker(body: bytes, keep: bool = True):
    def make() -> tuple[Page, bool]:
        return Page(body), keep

    return make


def test_total_never_exceeds_the_budget_and_lru_goes_first() -> None:
    cache: ByteCache[Page] = ByteCache(1000)
    source = object()
    for n in range(10):
        cache.get(n, source, maker(bytes(300)))
        assert cache.total <= 1000
    assert len(cache) == 3
    assert cache.total == 900
    # 7 and 8 are still there; touching 7 makes 8 the next to go.
    kept = cache.get(7, source, maker(b"never made"))
    assert kept.body == bytes(300)
    cache.get("new", source, maker(bytes(300)))
    assert cache.get(8, source, maker(b"remade")).body == b"remade"
    assert cache.get(7, source, maker(b"again")).body == bytes(300)


def test_a_page_larger_than_the_budget_is_served_not_kept() -> None:
    cache: ByteCache[Page] = ByteCache(1000)
    source = object()
    cache.get("small", source, maker(bytes(100)))
    big = cache.get("big", source, maker(bytes(5000)))
    assert big.body == bytes(5000)
    assert cache.total == 100
    assert len(cache) == 1
    assert cache.get("big", source, maker(b"made again")).body == b"made again"


def test_gzip_forms_count_and_evict() -> None:
    cache: ByteCache[Page] = ByteCache(2000)
    source = object()
    text = json.dumps([str(n) * n for n in range(30)]).encode()  # compresses, not to nothing
    first = cache.get("a", source, maker(text))
    second = cache.get("b", source, maker(bytes(2000 - len(text))))
    assert cache.total == 2000
    zipped = first.gzipped  # "a" grows by its gzip form: over budget, "a" is the oldest
    assert gzip.decompress(zipped) == text
    assert cache.total <= 2000
    assert cache.get("a", source, maker(b"remade")).body == b"remade"
    assert cache.get("b", source, maker(b"x")) is second


def test_a_changed_source_or_serial_is_remade() -> None:
    cache: ByteCache[Page] = ByteCache(1000)
    one, two = object(), object()
    assert cache.get("k", one, maker(b"one")).body == b"one"
    assert cache.get("k", two, maker(b"two")).body == b"two"
    assert cache.get("k", two, maker(b"three"), serial=1).body == b"three"
    assert cache.total == len(b"three")
    assert cache.get("k", two, maker(b"four", keep=False), serial=2).body == b"four"
    assert len(cache) == 0


def render(base: str) -> bytes:
    doc = {
        "info": {"project_url": f"{base}pypi/demo/", "description": "x" * 50},
        "urls": [{"url": f"{base}packages/demo-{n}.whl"} for n in range(3)],
    }
    return json.dumps(doc, ensure_ascii=False).encode()


@pytest.mark.parametrize(
    "base",
    [
        "http://localhost:8080/",
        'http://a"b\\c/',  # a Host header with characters JSON escapes
        "http://h\u00e9\u00e9/prefix/",
    ],
)
def test_json_doc_body_is_the_rendering_for_each_base(base: str) -> None:
    doc = JsonDoc.render(render)
    assert len(doc.parts) == 5  # split at the 4 places the base goes
    assert doc.body(base) == render(base)
    assert json.loads(doc.body(base))["urls"][2]["url"] == f"{base}packages/demo-2.whl"


def test_json_doc_size_does_not_depend_on_bases() -> None:
    doc = JsonDoc.render(render)
    size = doc.nbytes
    for n in range(100):
        doc.body(f"http://host-{n}/")
        doc.etag(f"http://host-{n}/")
    assert doc.nbytes == size


def test_json_doc_etags_differ_per_base_and_representation() -> None:
    doc = JsonDoc.render(render)
    tags = {doc.etag("http://a/"), doc.etag("http://b/"), doc.etag("http://a/", "-gz")}
    assert len(tags) == 3
    assert doc.etag("http://a/") == JsonDoc.render(render).etag("http://a/")


def test_json_doc_keeps_one_gzip_form(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: ByteCache[JsonDoc] = ByteCache(1 << 20)
    doc = cache.get("d", object(), lambda: (JsonDoc.render(render), True))
    plain = cache.total
    first = doc.gzipped("http://first/")
    assert first is not None
    assert gzip.decompress(first) == render("http://first/")
    assert cache.total == plain + len(first)
    assert doc.gzipped("http://first/") is first
    other = doc.gzipped("http://other/")  # small: made per request, not kept
    assert other is not None
    assert gzip.decompress(other) == render("http://other/")
    assert cache.total == plain + len(first)
    monkeypatch.setattr(pagecache, "GZIP_ON_DEMAND", 10)
    assert doc.gzipped("http://other/") is None  # large: sent as it is
    assert doc.gzipped("http://first/") is first


def test_empty_json_doc() -> None:
    doc = JsonDoc.render(lambda base: b"")
    assert doc.empty
    assert doc.body("http://x/") == b""


# --- the memos of header parsing hold short values only ---------------------------------


def test_long_accept_headers_are_answered_but_not_remembered() -> None:
    from packyard import httputil

    long_accept = "text/html;q=0.1, " + ", ".join(f"x/y{n}" for n in range(2000))
    before = httputil._negotiate_memo.cache_info().currsize
    assert httputil.negotiate(long_accept) == "text/html"
    assert httputil.negotiate("application/vnd.pypi.simple.v1+json") == JSON_V1
    long_encoding = "gzip, " + ", ".join(f"enc{n}" for n in range(2000))
    encodings = httputil._accepts_memo.cache_info().currsize
    assert httputil.accepts_encoding(long_encoding, "gzip")
    assert not httputil.accepts_encoding(long_encoding + ", gzip;q=0", "gzip")
    assert httputil._negotiate_memo.cache_info().currsize <= before + 1
    assert httputil._accepts_memo.cache_info().currsize == encodings


def test_long_forwarded_items_are_not_remembered() -> None:
    from packyard import proxy

    before = proxy._address_memo.cache_info().currsize
    for n in range(100):
        assert proxy._address("x" * 1000 + str(n)) is None
    assert proxy._address_memo.cache_info().currsize == before
    assert str(proxy._address(" 10.0.0.7 ")) == "10.0.0.7"


JSON_V1 = "application/vnd.pypi.simple.v1+json"

"""Distribution filename recognition (cf. pypiserver-behaviour.md section 2.7)."""

from __future__ import annotations

import itertools
from collections.abc import Collection

import pytest
from packaging.version import Version

from packyard.index.filenames import Kind, NotADistribution, is_distribution, parse_filename
from packyard.index.names import is_normalized

W, S, E = Kind.WHEEL, Kind.SDIST, Kind.EGG

NO_HINTS: Collection[str] = ()

# filename, hints, project (normalized), version (normalized PEP 440), kind
ACCEPTED: list[tuple[str, Collection[str], str, str, Kind]] = [
    # --- wheels
    ("foo-1.0-py3-none-any.whl", NO_HINTS, "foo", "1.0", W),
    ("FOO-1.0-py3-none-any.whl", NO_HINTS, "foo", "1.0", W),
    ("Foo_Bar-2.0-py3-none-any.whl", NO_HINTS, "foo-bar", "2.0", W),
    ("foo.bar-1.0-py3-none-any.whl", NO_HINTS, "foo-bar", "1.0", W),
    ("foo-1.0-1-py3-none-any.whl", NO_HINTS, "foo", "1.0", W),  # build tag
    ("Foo_Bar-1.0-1-py2.py3-none-any.whl", NO_HINTS, "foo-bar", "1.0", W),
    ("foo-1.0-1build-py3-none-any.whl", NO_HINTS, "foo", "1.0", W),
    ("foo-1.0-py2.py3-none-any.whl", NO_HINTS, "foo", "1.0", W),  # multiple tags
    (
        "foo-1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        NO_HINTS,
        "foo",
        "1.0",
        W,
    ),
    ("foo-1.0a1-py3-none-any.whl", NO_HINTS, "foo", "1.0a1", W),
    ("foo-1.0.post2-py3-none-any.whl", NO_HINTS, "foo", "1.0.post2", W),
    ("foo-1.0.dev3-cp312-cp312-win_amd64.whl", NO_HINTS, "foo", "1.0.dev3", W),
    ("foo-1.0+local.7-py3-none-any.whl", NO_HINTS, "foo", "1.0+local.7", W),
    ("foo-1!2.0-py3-none-any.whl", NO_HINTS, "foo", "1!2.0", W),
    ("foo-01.00-py3-none-any.whl", NO_HINTS, "foo", "1.0", W),
    ("foo-1.0RC1-py3-none-any.whl", NO_HINTS, "foo", "1.0rc1", W),
    # --- standard sdists
    ("foo-1.0.tar.gz", NO_HINTS, "foo", "1.0", S),
    ("foo-1.0.zip", NO_HINTS, "foo", "1.0", S),
    ("Foo-1.0.tar.gz", NO_HINTS, "foo", "1.0", S),
    ("foo_bar-1.0.tar.gz", NO_HINTS, "foo-bar", "1.0", S),
    ("foo.bar-1.0.tar.gz", NO_HINTS, "foo-bar", "1.0", S),
    ("Foo.Bar_baz-01.00.tar.gz", NO_HINTS, "foo-bar-baz", "1.0", S),
    ("foo-bar-2.0.tar.gz", NO_HINTS, "foo-bar", "2.0", S),
    ("foo2-1.0.tar.gz", NO_HINTS, "foo2", "1.0", S),
    ("x-1.tar.gz", NO_HINTS, "x", "1", S),
    ("foo-1.0rc1.zip", NO_HINTS, "foo", "1.0rc1", S),
    ("foo-1.0.dev0.tar.gz", NO_HINTS, "foo", "1.0.dev0", S),
    ("foo-1!2.0.tar.gz", NO_HINTS, "foo", "1!2.0", S),
    (
        "Django-1.2.3.4a1.post2.dev3+local.1.tar.gz",
        NO_HINTS,
        "django",
        "1.2.3.4a1.post2.dev3+local.1",
        S,
    ),
    # --- legacy sdists
    ("foo-1.0.tar.bz2", NO_HINTS, "foo", "1.0", S),
    ("foo-1.0.tgz", NO_HINTS, "foo", "1.0", S),
    ("foo-1.0.tar.xz", NO_HINTS, "foo", "1.0", S),
    ("foo-bar-2.0.tar.bz2", NO_HINTS, "foo-bar", "2.0", S),
    ("Foo-Bar-1.0.tar.bz2", {"foo-bar"}, "foo-bar", "1.0", S),
    # --- eggs
    ("foo-1.0.egg", NO_HINTS, "foo", "1.0", E),
    ("foo-1.0-py2.7.egg", NO_HINTS, "foo", "1.0", E),
    ("foo-1.0-py2.7-linux_x86_64.egg", NO_HINTS, "foo", "1.0", E),
    ("foo_bar-1.0_rc1-py3.8.egg", NO_HINTS, "foo-bar", "1.0rc1", E),
    # --- ambiguous splits
    ("foo-1.0-1.tar.gz", NO_HINTS, "foo", "1.0.post1", S),  # not version 1 of "foo-1.0"
    ("foo-1.0-1.zip", NO_HINTS, "foo", "1.0.post1", S),
    ("foo-bar-1.0-1.tar.bz2", {"foo-bar"}, "foo-bar", "1.0.post1", S),
    ("foo-bar-1.0-1.tar.bz2", NO_HINTS, "foo-bar", "1.0.post1", S),
    ("foo-bar-1.0-1.tar.bz2", {"foo"}, "foo-bar", "1.0.post1", S),  # hint does not fit
    ("foo-bar-1.0-1.zip", {"foo-bar"}, "foo-bar", "1.0.post1", S),
    ("foo-2-1.0.tgz", NO_HINTS, "foo-2", "1.0", S),
    ("foo-2-1.0.tgz", {"foo-2"}, "foo-2", "1.0", S),
    # When both "foo" and "foo-2" are known projects, the split that gives a valid
    # version (the longer name) is the right one, not "foo" version "2-1.0".
    ("foo-2-1.0.tgz", {"foo", "foo-2"}, "foo-2", "1.0", S),
    ("foo-1.0.tar.gz", {"foo-1"}, "foo", "1.0", S),  # a hint never splits inside 1.0
    ("A100-200-XYZ-1.2.3.zip", NO_HINTS, "a100-200-xyz", "1.2.3", S),
    ("py-2to3-1.0.tar.gz", NO_HINTS, "py-2to3", "1.0", S),
    ("py-2to3-1.0.tar.bz2", NO_HINTS, "py-2to3", "1.0", S),
]

REJECTED: list[str] = [
    # signatures (pypiserver listed these as packages)
    "foo-1.0.tar.gz.asc",
    "foo-1.0-py3-none-any.whl.asc",
    "foo-1.0.tgz.asc",
    "foo-1.0.egg.asc",
    # no version
    "package.zip",
    "package.tar.gz",
    "foo-bar.zip",  # pypiserver: (foo, bar)
    "foo-bar.tar.gz",
    "foo-.tar.gz",
    "foo.egg",
    "foo-.egg",
    # no name
    "-1.0.tar.gz",
    "-foo-1.0.egg",
    # upper-case extensions: pip ignores them
    "foo-1.0-py3-none-any.WHL",
    "foo-1.0.ZIP",
    "foo-1.0.TAR.GZ",
    "foo-1.0.Tar.Gz",
    "foo-1.0.EGG",
    # not distributions at all
    "notes.txt",
    "README",
    "foo-1.0.tar",
    "foo-1.0.tar.zst",
    "foo-1.0.exe",
    "foo-1.0.win-amd64-py3.8.exe",
    "foo-1.0.msi",
    "foo-1.0.rpm",
    "foo-1.0.dmg",
    "foo-1.0.pyz",
    "foo-1.0.dist-info",
    # hidden files
    ".hidden-1.0.tar.gz",
    ".foo-1.0-py3-none-any.whl",
    ".tar.gz",
    # paths, not basenames
    "sub/foo-1.0.tar.gz",
    "/foo-1.0.tar.gz",
    "sub\\foo-1.0.tar.gz",
    "foo-1.0-py3-none-any.whl/",
    # empty
    "",
    # wheels that do not follow the wheel filename rule
    "foo-1.0.whl",
    "foo-1.0-py3.whl",
    "foo-1.0-py3-none.whl",
    "foo-bar-1.0-py3-none-any.whl",  # '-' in the name part
    "foo-1.0-abc-py3-none-any.whl",  # build tag must start with a digit
    "foo-notaversion-py3-none-any.whl",
    # names that are not valid project names
    "fóo-1.0.tar.gz",
    "名前-1.0-py3-none-any.whl",
]


@pytest.mark.parametrize(("filename", "hints", "project", "version", "kind"), ACCEPTED)
def test_parse_filename(
    filename: str, hints: Collection[str], project: str, version: str, kind: Kind
) -> None:
    parsed = parse_filename(filename, hints)
    assert (parsed.project, parsed.version, parsed.kind) == (project, version, kind)
    assert parsed.parsed_version == Version(version)
    assert is_normalized(parsed.project)


@pytest.mark.parametrize(("filename", "hints", "project", "version", "kind"), ACCEPTED)
def test_is_distribution_accepts(
    filename: str, hints: Collection[str], project: str, version: str, kind: Kind
) -> None:
    assert is_distribution(filename) is True


@pytest.mark.parametrize("filename", REJECTED)
def test_parse_filename_rejects(filename: str) -> None:
    with pytest.raises(NotADistribution):
        parse_filename(filename)


@pytest.mark.parametrize("filename", REJECTED)
def test_parse_filename_rejects_even_with_hints(filename: str) -> None:
    with pytest.raises(NotADistribution):
        parse_filename(filename, {"foo", "foo-bar", "package", "hidden", "notes"})


@pytest.mark.parametrize("filename", REJECTED)
def test_is_distribution_rejects(filename: str) -> None:
    assert is_distribution(filename) is False


def test_not_a_distribution_is_a_value_error() -> None:
    with pytest.raises(ValueError, match=r"notes\.txt"):
        parse_filename("notes.txt")


def test_kind_values() -> None:
    assert [k.value for k in Kind] == ["wheel", "sdist", "egg"]


# --- sort_key


def _key(filename: str) -> object:
    return parse_filename(filename).sort_key


@pytest.mark.parametrize(
    "ordered",
    [
        [
            "foo-1.0.tar.gz",
            "foo-1.0.post1.tar.gz",
            "foo-1.1rc1.tar.gz",
            "foo-1.1.tar.gz",
            "foo-10.0.tar.gz",
        ],
        [
            "foo-1.0.dev1-py3-none-any.whl",
            "foo-1.0a1-py3-none-any.whl",
            "foo-1.0b2-py3-none-any.whl",
            "foo-1.0rc1-py3-none-any.whl",
            "foo-1.0-py3-none-any.whl",
            "foo-1.0+local-py3-none-any.whl",
            "foo-1.0.post1-py3-none-any.whl",
            "foo-2.0-py3-none-any.whl",
            "foo-1!0.1-py3-none-any.whl",
        ],
        ["foo-2.0.tar.gz", "foo-9.0.tar.gz", "foo-10.0.tar.gz", "foo-100.0.tar.gz"],
    ],
)
def test_sort_key_orders_by_pep440(ordered: list[str]) -> None:
    keys = [_key(f) for f in ordered]
    for earlier, later in itertools.pairwise(keys):
        assert earlier < later  # type: ignore[operator]
    shuffled = ordered[1::2] + ordered[0::2]
    assert sorted(shuffled, key=_key) == ordered  # type: ignore[arg-type]


def test_sort_key_invalid_versions_first() -> None:
    # With the hint "foo", "foo-2-x.tgz" has version "2-x", which is not PEP 440.
    invalid = parse_filename("foo-2-x.tgz", {"foo"})
    assert invalid.parsed_version is None
    valid = [parse_filename(f) for f in ("foo-0.0.1.tar.gz", "foo-0.dev0.tar.gz")]
    for v in valid:
        assert invalid.sort_key < v.sort_key  # type: ignore[operator]
    assert sorted([*valid, invalid], key=lambda p: p.sort_key)[0] is invalid  # type: ignore[arg-type,return-value]


def test_sort_key_equal_for_equal_versions() -> None:
    assert _key("foo-1.0.tar.gz") == _key("foo-1.0.0-py3-none-any.whl")

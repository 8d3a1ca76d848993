"""Project names: PEP 503 normalization and the valid-name rule."""

from __future__ import annotations

import pytest

from packyard.index.names import is_normalized, is_valid_name, normalize


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("foo", "foo"),
        ("Foo", "foo"),
        ("FOO", "foo"),
        ("foo_bar", "foo-bar"),
        ("foo.bar", "foo-bar"),
        ("foo-bar", "foo-bar"),
        ("Foo.Bar_Baz", "foo-bar-baz"),
        ("A..b__C--d", "a-b-c-d"),
        ("a-_.-b", "a-b"),
        ("a._-_.b", "a-b"),
        ("zope.interface", "zope-interface"),
        ("Django", "django"),
        ("py-2to3", "py-2to3"),
        ("A100-200-XYZ", "a100-200-xyz"),
        ("x", "x"),
        ("X", "x"),
        ("1", "1"),
        ("foo123", "foo123"),
    ],
)
def test_normalize(name: str, expected: str) -> None:
    assert normalize(name) == expected


@pytest.mark.parametrize("name", ["Foo.Bar_Baz", "A..b__C--d", "x", "Django", "a-_.-b"])
def test_normalize_is_idempotent(name: str) -> None:
    once = normalize(name)
    assert normalize(once) == once


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        # valid
        ("a", True),
        ("Z", True),
        ("0", True),
        ("foo", True),
        ("Foo", True),
        ("foo-bar", True),
        ("foo_bar", True),
        ("foo.bar", True),
        ("A..b__C--d", True),
        ("a1", True),
        ("1a", True),
        ("py-2to3", True),
        ("zope.interface", True),
        # leading or trailing punctuation
        ("-foo", False),
        ("foo-", False),
        ("_foo", False),
        ("foo_", False),
        (".foo", False),
        ("foo.", False),
        ("-", False),
        ("_", False),
        (".", False),
        ("..", False),
        # empty, spaces, other characters
        ("", False),
        (" ", False),
        ("foo bar", False),
        (" foo", False),
        ("foo ", False),
        ("foo\n", False),
        ("foo/bar", False),
        ("foo+bar", False),
        ("foo~", False),
        ("foo@1", False),
        # non-ASCII
        ("föo", False),
        ("ünïcode", False),
        ("名前", False),
        ("foo\u00a0bar", False),
        ("\u0661", False),  # ARABIC-INDIC DIGIT ONE: a digit, but not ASCII
    ],
)
def test_is_valid_name(name: str, valid: bool) -> None:
    assert is_valid_name(name) is valid


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("foo", True),
        ("foo-bar", True),
        ("a-b-c-d", True),
        ("x", True),
        ("py-2to3", True),
        ("Foo", False),
        ("foo_bar", False),
        ("foo.bar", False),
        ("foo--bar", False),
        ("A..b__C--d", False),
        ("-foo", False),
        ("foo-", False),
        ("", False),
        ("föo", False),
    ],
)
def test_is_normalized(name: str, normalized: bool) -> None:
    assert is_normalized(name) is normalized

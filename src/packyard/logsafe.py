"""One escaping rule for every client-controlled string that reaches a log line.

A user name, a filename, a project name, a yank reason or an archive's contents can
hold any character. Written to a log as they are, a newline starts a forged line and
an ANSI escape rewrites a terminal. ``shown()`` turns every character that is not
printable (``str.isprintable()``: control characters, line and paragraph separators,
format characters such as bidi overrides, unassigned code points) into a
backslash escape (``\\n``, ``\\x1b``, ``\\u202e``) and doubles a backslash, so the
escaped text cannot be confused with a client string that contained the escape
sequence itself. Printable text, non-ASCII letters included, is left as it is.

The access log (``accesslog.py``) writes URLs and keeps to their own escaping:
percent-encoding.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape(char: str) -> str:
    named = _NAMED.get(char)
    if named is not None:
        return named
    if char.isprintable():
        return char
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def shown(value: object) -> str:
    """``str(value)`` with every non-printable character and backslash escaped: safe to
    put on one log line."""
    text = str(value)
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_escape(char) for char in text)

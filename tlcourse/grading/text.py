"""Text that comes from a submission, made safe to print, log and write.

A submission controls much of what the grader shows: error messages, source lines, test output,
its file name (the student's name). Such a string may hold a lone UTF-16 surrogate (Python's
stand-in for bytes that are not UTF-8), which no strict UTF-8 writer accepts: printing the
progress line or writing the CSV raises, and one submission stops the batch; control characters
and ANSI escapes, which rewrite lines on the instructor's terminal (``\\r[7/12] alice: 10/10
ok``); Unicode's invisible direction overrides, which reorder what the terminal shows.

:func:`escape_text` writes each of those characters as a Python escape (``\\x1b``, ``\\ud800``,
``\\u202e``): the result is plain printable text, whatever the encoding of the terminal.
"""

from __future__ import annotations

import re

__all__ = ["escape_text"]

# C0 controls but tab and newline (allowed in multi-line text only), DEL and the C1 controls
# (0x9b is an 8-bit CSI, which some terminals obey), surrogates, the line and paragraph
# separators, zero-width and direction marks, embeddings, overrides and isolates, the BOM.
_UNSAFE = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff\u2028\u2029\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff"
)
_UNSAFE_LINE_RE = re.compile(f"[\t\n{_UNSAFE}]")
_UNSAFE_LINES_RE = re.compile(f"[{_UNSAFE}]")


def _escape(match: re.Match) -> str:
    code = ord(match[0])
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_text(value, limit: int | None = None, *, lines: bool = False) -> str:
    """``value`` as text with every unsafe character escaped, cut to ``limit`` characters.

    Example:
        >>> escape_text("ok\\r\\x1b[2K[7/12] alice: 10/10 ok \\ud800")
        'ok\\\\x0d\\\\x1b[2K[7/12] alice: 10/10 ok \\\\ud800'
        >>> escape_text("line 1\\nline 2", lines=True)
        'line 1\\nline 2'
    """
    text = "" if value is None else str(value)
    if limit is not None:
        text = text[:limit]
    pattern = _UNSAFE_LINES_RE if lines else _UNSAFE_LINE_RE
    return pattern.sub(_escape, text)

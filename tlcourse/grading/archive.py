"""Zip files a sandbox wrote, checked from their last bytes before they are opened.

``zipfile.ZipFile`` reads the whole central directory when it opens a file: a zip of millions
of empty members costs the (unsandboxed) grader gigabytes before a single name is looked at.
:func:`zip_problem` reads only the end-of-directory record (the last 22 bytes, up to 64 kB
more of comment) and refuses what no honest writer here produces: too many members, a directory
too large, ZIP64 (the answers are far below its 2 GiB threshold), a record that points outside
the file.
"""

from __future__ import annotations

import os
import re
import struct

__all__ = ["MAX_MEMBERS", "MEMBER_RE", "zip_problem"]

# What the worker's zip may hold: its report, and per question the answers and their files.
MEMBER_RE = re.compile(r"report\.json|[A-Za-z0-9_]{1,64}/(answers\.json|v\d{1,7}\.(npy|keras))")
MAX_MEMBERS = 10_000

_END = b"PK\x05\x06"
_END_SIZE = 22
_ZIP64_LOCATOR = b"PK\x06\x07"
_ZIP64_LOCATOR_SIZE = 20


def zip_problem(path: str | os.PathLike, *, max_members: int,
                max_directory_bytes: int) -> str | None:  # fmt: skip
    """Why the zip at ``path`` must not be opened, or None when ``zipfile`` may open it.

    Example:
        >>> import io, tempfile, zipfile
        >>> path = tempfile.mktemp(suffix=".zip")
        >>> with zipfile.ZipFile(path, "w") as archive:
        ...     for i in range(5):
        ...         archive.writestr(f"m{i}", "")
        >>> zip_problem(path, max_members=4, max_directory_bytes=1 << 20)
        'it holds 5 members (at most 4)'
    """
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            tail_size = min(size, _END_SIZE + 0xFFFF + _ZIP64_LOCATOR_SIZE)
            file.seek(size - tail_size)
            tail = file.read(tail_size)
    except OSError as error:
        return f"it cannot be read ({type(error).__name__})"
    start = tail.rfind(_END)
    if start < 0 or len(tail) - start < _END_SIZE:
        return "it is not a zip file"
    (_, disk, directory_disk, _, members, directory_size, directory_offset,
     _) = struct.unpack("<4s4H2LH", tail[start : start + _END_SIZE])  # fmt: skip
    locator = tail[start - _ZIP64_LOCATOR_SIZE : start] if start >= _ZIP64_LOCATOR_SIZE else b""
    if locator.startswith(_ZIP64_LOCATOR):
        return "it is a ZIP64 file"
    if disk or directory_disk:
        return "it spans several disks"
    if members > max_members:
        return f"it holds {members:,} members (at most {max_members:,})"
    if directory_size > max_directory_bytes:
        return f"its directory is {directory_size:,} bytes (at most {max_directory_bytes:,})"
    end_offset = size - tail_size + start
    if directory_offset + directory_size > end_offset:
        return "its directory points outside the file"
    return None

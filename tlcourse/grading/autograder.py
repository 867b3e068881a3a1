"""Autograder zips: their otter test files, read through otter's own test-file classes."""

from __future__ import annotations

import os
import re
import tempfile
import zipfile
from pathlib import Path

from tlcourse.errors import InvalidParameterError

__all__ = ["DIST_DIR", "autograder_questions", "read_test_files", "resolve_autograder"]

DIST_DIR = Path("dist")
_TEST_MEMBER_RE = re.compile(r"tests/([A-Za-z0-9_.-]+)\.py")


def natural_key(name: str) -> list:
    """Sort key that puts ``q2`` before ``q10``.

    Example:
        >>> sorted(["q10", "q2"], key=natural_key)
        ['q2', 'q10']
    """
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def read_test_files(autograder: str | os.PathLike) -> dict:
    """Each ``tests/NAME.py`` of an autograder zip, parsed by otter's ``create_test_file`` (an
    ``OKTestFile`` or an ``ExceptionTestFile``, as otter itself would when grading).

    Example:
        >>> import zipfile, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "a.zip")
        >>> test = {"name": "q1", "suites": [{"cases": [{"code": ">>> x", "hidden": True}]}]}
        >>> with zipfile.ZipFile(path, "w") as archive:
        ...     archive.writestr("tests/q1.py", f"OK_FORMAT = True\\ntest = {test!r}\\n")
        >>> type(read_test_files(path)["q1"]).__name__
        'OKTestFile'
    """
    from otter.nbmeta_config import NBMetadataConfig
    from otter.test_files import create_test_file

    tests = {}
    try:
        with zipfile.ZipFile(autograder) as archive, tempfile.TemporaryDirectory() as tmp:
            for member in archive.namelist():
                match = _TEST_MEMBER_RE.fullmatch(member)
                if match is None:
                    continue
                path = Path(tmp) / f"{match[1]}.py"
                path.write_bytes(archive.read(member))
                test_file = create_test_file(str(path), NBMetadataConfig())
                tests[test_file.name or match[1]] = test_file
    except Exception as error:
        why = f"{type(error).__name__}: {error}"
        raise InvalidParameterError(
            f"Cannot read otter tests from the autograder zip {str(autograder)!r}: {why}."
        ) from error
    if not tests:
        raise InvalidParameterError(f"The autograder zip {str(autograder)!r} has no tests/*.py; "
                                    "is it an otter autograder?")  # fmt: skip
    return {name: tests[name] for name in sorted(tests, key=natural_key)}


def autograder_questions(autograder: str | os.PathLike) -> dict[str, float]:
    """The questions of an autograder zip and their points.

    Example:
        >>> import zipfile, tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "a.zip")
        >>> test = {"name": "q1", "points": 2, "suites": [{"cases": [{"code": ">>> x"}]}]}
        >>> with zipfile.ZipFile(path, "w") as archive:
        ...     archive.writestr("tests/q1.py", f"OK_FORMAT = True\\ntest = {test!r}\\n")
        >>> autograder_questions(path)
        {'q1': 2.0}
    """
    return {name: float(test.possible) for name, test in read_test_files(autograder).items()}


def resolve_autograder(name_or_path: str | os.PathLike, dist: str | os.PathLike = DIST_DIR) -> Path:
    """Find an autograder zip from a path or from a notebook's name in the build folder.

    Example:
        >>> resolve_autograder("01", dist="no-such-folder")
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The autograder '01' is not a zip file, and as a \
notebook name it matches none of the autograders. no-such-folder/ has none: run tlcourse assign.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.is_dir():
        zips = [*path.glob("autograder/*-autograder*.zip")] or [*path.glob("*-autograder*.zip")]
        if len(zips) == 1:
            return zips[0]
    available = sorted(Path(dist).glob("*/autograder/*-autograder*.zip"))
    name = str(name_or_path)
    matches = [z for z in available if z.parent.parent.name == name] or [
        z for z in available if z.parent.parent.name.startswith(name)
    ]
    known = [z.parent.parent.name for z in available]
    if len(matches) == 1:
        return matches[0]
    what = "matches several" if matches else "matches none"
    hint = f" Known in {dist}/: {known}." if known else f" {dist}/ has none: run tlcourse assign."
    raise InvalidParameterError(f"The autograder {name!r} is not a zip file, and as a notebook "
                                f"name it {what} of the autograders.{hint}")  # fmt: skip

"""Score tables at course scale: shards, rows kept as they finish, merged gradebooks, exports.

A score table is a CSV, one row per student. Each row names the autograder it was graded with
(``NAME@SHA``, :func:`autograder_id`) and its shard (``K/N``), so that ``--resume`` knows what
is done and :func:`merge_shards` knows what is missing. Its ``feedback`` column is
student-safe by construction: public tests with their messages, hidden tests only counted
(:func:`feedback_of`); the hidden tests' names, code and messages stay in the instructor's logs.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

from filelock import FileLock

from tlcourse.errors import invalid_parameter
from tlcourse.grading.text import escape_text

__all__ = ["autograder_id", "feedback_of", "in_shard", "merge_shards",
           "parse_shard", "read_scores", "write_canvas", "write_feedback"]  # fmt: skip

_MESSAGE_LINES = 12


def autograder_id(autograder: Path, assignment: str | None) -> str:
    """``NAME@SHA``: the assignment and the first 12 hex digits of the zip's SHA-256."""
    digest = hashlib.sha256(autograder.read_bytes()).hexdigest()[:12]
    return f"{assignment or autograder.stem}@{digest}"


def parse_shard(text: str, func: str = "grade_folder") -> tuple[int, int]:
    """``"K/N"`` as ``(K, N)`` with ``1 <= K <= N``.

    Example:
        >>> parse_shard("2/5")
        (2, 5)
    """
    try:
        k, n = (int(part) for part in str(text).split("/"))
    except ValueError:
        k = n = 0
    if not 1 <= k <= n:
        raise invalid_parameter("shard", func, "'K/N' with 1 <= K <= N", text)
    return k, n


def in_shard(student: str, k: int, n: int) -> bool:
    """Whether ``student`` (a file name without extension) is in shard ``k`` of ``n``: a hash
    of the name alone, so a late submission moves no one else.

    Example:
        >>> names = [f"s{i}" for i in range(100)]
        >>> sum(in_shard(s, 1, 3) + in_shard(s, 2, 3) + in_shard(s, 3, 3) for s in names)
        100
    """
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % n == k - 1


def feedback_of(checked: dict) -> str:
    """The student-safe feedback of a checker report, as JSON: per question the public tests
    (name, passed, message) and the count of hidden tests and of those passed.

    Example:
        >>> report = {"cases": {"q1": [
        ...     {"name": "q1 - 1", "hidden": False, "passed": True, "message": ""},
        ...     {"name": "secret", "hidden": True, "passed": False, "message": "x != 42"}]}}
        >>> feedback_of(report)
        '{"q1": {"public": [["q1 - 1", true, ""]], "hidden": [1, 0]}}'
    """
    out = {}
    for question, cases in (checked.get("cases") or {}).items():
        public, hidden = [], []
        for case in cases:
            if case.get("hidden"):
                hidden.append(bool(case.get("passed")))
                continue
            message = escape_text(case.get("message"), 1500, lines=True).strip().splitlines()
            message = "" if case.get("passed") else "\n".join(message[-_MESSAGE_LINES:])
            public.append([escape_text(case.get("name")), bool(case.get("passed")), message])
        out[escape_text(question)] = {"public": public, "hidden": [len(hidden), sum(hidden)]}
    return json.dumps(out)


def read_scores(path: Path) -> list[dict]:
    """The rows of a score table (strings), or ``[]`` when it does not exist."""
    try:
        with open(path, newline="", encoding="utf-8") as file:
            return list(csv.DictReader(file))
    except FileNotFoundError:
        return []


def _write_rows(path: Path, rows: list[dict], columns: list[str]) -> None:
    """Write the table to a temporary file beside it, then replace: never half a table."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8", errors="backslashreplace") as file:
        writer = csv.DictWriter(file, columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


class ScoreFile:
    """A score table rows are added to as they finish: each :meth:`add` re-reads the file under
    a lock, replaces the student's row and writes the table atomically, so an interrupted batch
    loses no finished row and two processes writing one table lose nothing."""

    def __init__(self, path: Path, columns: list[str]):
        self.path, self.columns = Path(path), columns
        self.lock = FileLock(f"{self.path}.lock")

    def rows(self) -> list[dict]:
        with self.lock:
            return read_scores(self.path)

    def add(self, row: dict) -> None:
        with self.lock:
            rows = [r for r in read_scores(self.path) if r.get("student") != row["student"]]
            _write_rows(self.path, [*rows, row], self.columns)

    def replace(self, rows: list[dict]) -> None:
        with self.lock:
            _write_rows(self.path, rows, self.columns)


def merge_shards(shards: list[Path], func: str = "gradebook") -> tuple[list[dict], list[str]]:
    """The rows and columns of shard tables merged into one, in natural student order; an
    ``InvalidParameterError`` naming the files, students or shards when tables of different
    autograders or questions are given, a student is in two tables, or shards are missing."""
    from tlcourse.grading.autograder import natural_key

    rows, columns, owner, numbers, empty = [], None, {}, {}, 0
    for path in shards:
        with open(path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            found, header = list(reader), list(reader.fieldnames or [])
        columns = header if columns is None else columns
        if header != columns:
            raise invalid_parameter("shards", func, "tables with the same columns", str(path),
                                    f"Its columns differ from those of {shards[0]}.")  # fmt: skip
        empty += not found
        for row in found:
            if row["student"] in owner:
                raise invalid_parameter(
                    "shards", func, "shards of one batch, each student once", str(path),
                    f"{row['student']!r} is also in {owner[row['student']]}.",
                )  # fmt: skip
            owner[row["student"]] = path
            numbers.setdefault(row.get("shard", "1/1"), path)
        rows += found
    graders = sorted({r.get("autograder", "") for r in rows})
    if len(graders) > 1:
        where = {g: str(next(owner[r["student"]] for r in rows if r.get("autograder") == g))
                 for g in graders}  # fmt: skip
        raise invalid_parameter("shards", func, "tables graded with one autograder", where,
                                "Regrade the older ones (tlcourse grade --resume).")  # fmt: skip
    counts = {parse_shard(s, func)[1] for s in numbers}
    if len(counts) > 1:
        raise invalid_parameter("shards", func, "shards of one split", sorted(numbers))
    n = counts.pop() if counts else 1
    missing = sorted(set(range(1, n + 1)) - {parse_shard(s, func)[0] for s in numbers})
    if len(missing) > empty:
        raise invalid_parameter(
            "shards", func, f"all {n} shards", [str(p) for p in shards],
            f"No rows of shard(s) {', '.join(f'{k}/{n}' for k in missing)}; give their tables.",
        )  # fmt: skip
    rows.sort(key=lambda r: natural_key(r["student"]))
    return rows, columns or []


def write_canvas(rows: list[dict], path: Path, assignment: str, roster: Path | None) -> int:
    """A Canvas gradebook import CSV: ``Student, ID, SIS User ID, SIS Login ID, Section`` and
    one assignment column, after a ``Points Possible`` row. With ``roster`` (a Canvas gradebook
    export), each student (file name) is matched to its SIS Login ID, SIS User ID or ID there;
    without it, the file name is the SIS Login ID. Returns the number of students written."""
    people = {}
    for person in read_scores(Path(roster)) if roster is not None else []:
        for key in ("SIS Login ID", "SIS User ID", "ID"):
            if person.get(key):
                people.setdefault(person[key], person)
    fields = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    possible = rows[0]["possible"] if rows else ""
    lines = [{**dict.fromkeys(fields, ""), "Student": "Points Possible", assignment: possible}]
    for row in rows:
        person = people.get(row["student"], {"Student": row["student"],
                                             "SIS Login ID": row["student"]})  # fmt: skip
        lines.append({**{f: person.get(f, "") for f in fields}, assignment: row["total"]})
    _write_rows(Path(path), lines, [*fields, assignment])
    return len(rows)


def _feedback_text(row: dict, questions: list[str]) -> str:
    score = f"Score: {float(row['total']):g} / {float(row['possible']):g} ({row['status']})"
    text = [f"# {row.get('autograder', '').split('@')[0]}: {row['student']}", "", score]
    if row.get("reason"):
        text.append(f"Note: {row['reason']}")
    try:
        feedback = json.loads(row.get("feedback") or "{}")
    except ValueError:
        feedback = {}
    for question in questions:
        info = feedback.get(question, {"public": [], "hidden": [0, 0]})
        text += ["", f"## {question}: {float(row[question]):g} points"]
        for name, passed, message in info["public"]:
            text.append(f"- {'passed' if passed else 'FAILED'}: {name}")
            text += [f"      {line}" for line in message.splitlines()]
        hidden, passed = info["hidden"]
        if hidden:
            text.append(f"- hidden tests: {passed} of {hidden} passed")
    return "\n".join(text) + "\n"


def write_feedback(rows: list[dict], columns: list[str], folder: Path) -> int:
    """One ``STUDENT.md`` per row in ``folder``: score, status, and per question its public
    tests' results and messages, hidden tests counted. Returns the number written."""
    fixed = {"student", "total", "possible", "status", "reason", "seconds", "sandbox",
             "autograder", "shard", "feedback"}  # fmt: skip
    questions = [c for c in columns if c not in fixed]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for row in rows:
        name = row["student"].replace("/", "_").lstrip(".") or "_"
        (folder / f"{name}.md").write_text(_feedback_text(row, questions), encoding="utf-8",
                                            errors="backslashreplace")  # fmt: skip
    return len(rows)

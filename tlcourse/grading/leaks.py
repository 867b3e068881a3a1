"""The leak check: solution or hidden-test lines of a master that its student version shows."""

from __future__ import annotations

import re

from tlcourse.grading.notebooks import cell_source, read_notebook

__all__ = ["find_leaks"]

_BLOCK_RE = re.compile(r"^\s*#\s*(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS|PROMPT)\b", re.I)
_SOLUTION_LINE_RE = re.compile(r"^(.*?)\s*#\s?SOLUTION(\s+NO\s+PROMPT)?\s*$")
_IN_CELL_BEGIN_RE = re.compile(r"^\s*#\s*BEGIN\s+SOLUTION\b")
_IN_CELL_END_RE = re.compile(r"^\s*#\s*END\s+SOLUTION\b")
_TRIVIAL_LINES = {"", "...", "pass", ")", "]", "}", "),", "],", "},", "else:", "try:"}


def _is_hidden_test(lines: list[str]) -> bool:
    first = lines[0].lstrip() if lines else ""
    marked = re.search(r"^\s*hidden:\s*true", "\n".join(lines), re.I | re.M)
    return (first.startswith("#") and "hidden" in first.lower()) or bool(marked)


def _master_parts(master) -> tuple[set[str], set[str]]:
    """(secret lines: solutions and hidden tests, public lines: everything else) of a master."""
    secret, public = set(), set()
    blocks: list[str] = []
    for cell in master.get("cells", []):
        lines = cell_source(cell).splitlines()
        kind = cell.get("cell_type")
        if kind == "raw" and lines:
            match = _BLOCK_RE.match(lines[0])
            if match:
                block = match[2].upper()
                if match[1].upper() == "BEGIN":
                    blocks.append(block)
                elif blocks and blocks[-1] == block:
                    blocks.pop()
                continue
            if lines[0].strip().upper().startswith("# ASSIGNMENT CONFIG"):
                continue
        if "SOLUTION" in blocks and kind == "markdown":
            secret.update(line.strip() for line in lines)  # a written answer
            continue
        # Solution markers count in every code cell: outside a solution block otter leaves
        # them, and the solution, in the student notebook.
        in_solution = kind == "code"
        hidden_test = "TESTS" in blocks and kind == "code" and _is_hidden_test(lines)
        inside = False
        for line in lines:
            if in_solution and _IN_CELL_BEGIN_RE.match(line):
                inside = True
                continue
            if in_solution and _IN_CELL_END_RE.match(line):
                inside = False
                continue
            marked = _SOLUTION_LINE_RE.match(line) if in_solution else None
            if marked:
                secret.add(marked[1].strip())
                if "=" in marked[1]:
                    secret.add(marked[1].split("=", 1)[1].strip())
            elif inside or hidden_test:
                secret.add(line.strip())
            else:
                public.add(line.strip())
    return secret, public


def _student_lines(student) -> set[str]:
    """Every line a student can read: cell sources and the tests stored in the metadata."""
    lines = set()
    for cell in student.get("cells", []):
        for line in cell_source(cell).splitlines():
            marked = _SOLUTION_LINE_RE.match(line)
            lines.add((marked[1] if marked else line).strip())
    tests = student.get("metadata", {}).get("otter", {}).get("tests", {})
    for test in tests.values() if isinstance(tests, dict) else []:
        for suite in test.get("suites", []) if isinstance(test, dict) else []:
            for case in suite.get("cases", []):
                for line in str(case.get("code", "")).splitlines():
                    lines.add(re.sub(r"^\s*(>>>|\.\.\.)\s?", "", line).strip())
    return lines


def find_leaks(master, student) -> list[str]:
    """List the solution and hidden-test lines of a master that a student notebook shows.

    Solutions: code lines marked ``# SOLUTION`` (and the right-hand side of such an
    assignment), lines between in-cell ``# BEGIN``/``# END SOLUTION``, Markdown answers in a
    solution block. A line leaks when the student notebook (a cell or its public tests) shows it
    and no public part of the master has it; ``...`` or ``)`` are ignored. Markers outside a raw
    ``# BEGIN SOLUTION`` block are a classic mistake: otter then leaves the solution in.

    Example:
        >>> master = {"cells": [
        ...     {"cell_type": "raw", "source": "# BEGIN SOLUTION"},
        ...     {"cell_type": "code", "source": "x = 42  # SOLUTION"},
        ...     {"cell_type": "raw", "source": "# END SOLUTION"},
        ...     {"cell_type": "raw", "source": "# BEGIN TESTS"},
        ...     {"cell_type": "code", "source": "# HIDDEN\\nassert x == 6 * 7"},
        ...     {"cell_type": "raw", "source": "# END TESTS"}]}
        >>> find_leaks(master, {"cells": [{"cell_type": "code", "source": "x = ..."}]})
        []
        >>> find_leaks(master, {"cells": [{"cell_type": "code", "source": "x = 42"},
        ...                               {"cell_type": "code", "source": "assert x == 6 * 7"}]})
        ['assert x == 6 * 7', 'x = 42']
    """
    secret, public = _master_parts(read_notebook(master))
    shown = _student_lines(read_notebook(student))
    return sorted(line for line in secret - public - _TRIVIAL_LINES
                  if len(line) >= 2 and line in shown)  # fmt: skip

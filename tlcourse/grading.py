"""Instructor tools for the graded notebooks: student versions, autograders, offline grading.

The course notebooks are otter-grader "master" notebooks (``notebooks/masters/NN_slug.ipynb``):
solutions, public and hidden tests in one file. Two functions cover the instructor's job:

- :func:`assign_all` runs ``otter assign`` on every master into ``dist/NN_slug/`` (student
  notebook, autograder notebook with solutions, autograder zip renamed without its timestamp to
  ``dist/NN_slug/autograder/NN_slug-autograder.zip``), normalises the student notebook (no
  outputs, cell ids numbered, only the notebook metadata Jupyter and otter need) so that
  regenerating gives byte-identical files, refuses a student notebook that shows a solution line
  or a hidden test, and copies it to ``notebooks/student/``. With ``colab=True`` it also builds
  the Colab versions (:func:`assign_colab`), which need their tests as files.
- :func:`grade_folder` grades every submission in a folder with ``otter run`` (no Docker), each
  in its own process with a time limit, into one table: one row per student, one column per
  question, ``total``, ``possible``, ``status`` (``ok``, ``error`` or ``timeout``) and ``reason``.

What otter run does with bad submissions (otter-grader 7.0, checked): a cell that raises does not
stop it; the other cells run and every test is still scored, so a broken notebook keeps the points
of what works (otter itself reports nothing about the error: the executed notebook is read here to
name it). A cell that never ends is never interrupted: otter sets no time limit on cells and has no
option for one, so the limit is applied here, by killing the grading process and its kernel.
"""

from __future__ import annotations

import ast
import copy
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tlcourse.errors import InvalidParameterError, TLCourseError

__all__ = [
    "AssignedNotebook",
    "GradingError",
    "assign_all",
    "assign_colab",
    "assign_notebook",
    "autograder_questions",
    "find_leaks",
    "grade_folder",
    "grade_submission",
    "normalize_notebook",
    "resolve_autograder",
]

MASTERS_DIR = Path("notebooks/masters")
DIST_DIR = Path("dist")
STUDENT_DIR = Path("notebooks/student")
FAST_ENV = "TLCOURSE_FAST"
STATUSES = ("ok", "error", "timeout")
SUBMISSION_SUFFIXES = (".ipynb", ".zip")

_KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
_CELL_METADATA_KEPT = ("deletable", "editable", "tags", "otter")
_BLOCK_RE = re.compile(r"^\s*#\s*(BEGIN|END)\s+(QUESTION|SOLUTION|TESTS|PROMPT)\b", re.I)
_SOLUTION_LINE_RE = re.compile(r"^(.*?)\s*#\s?SOLUTION(\s+NO\s+PROMPT)?\s*$")
_IN_CELL_BEGIN_RE = re.compile(r"^\s*#\s*BEGIN\s+SOLUTION\b")
_IN_CELL_END_RE = re.compile(r"^\s*#\s*END\s+SOLUTION\b")
_NOISE_RE = re.compile(r"^(\[IPKernelApp\] WARNING|[IWE]\d{4} |WARNING: All log messages)")
_TRIVIAL_LINES = {"", "...", "pass", ")", "]", "}", "),", "],", "},", "else:", "try:"}


class GradingError(TLCourseError, RuntimeError):
    """otter assign failed, or a generated student notebook would show solutions."""


# ---------------------------------------------------------------------------------------------
# Assign


@dataclass(frozen=True)
class AssignedNotebook:
    """What :func:`assign_notebook` produced for one master notebook.

    Attributes:
        name: the notebook's name (file stem), e.g. ``"02_training_from_scratch"``.
        master: the master notebook.
        student: the normalised student notebook in the student folder.
        autograder: the autograder zip for ``otter run`` / :func:`grade_folder`.
        solutions: the student notebook with solutions filled in (``dist/.../autograder/``),
            what a student who answers everything submits; never give it to students.
        points: points per question, in notebook order.
    """

    name: str
    master: Path
    student: Path
    autograder: Path
    solutions: Path
    points: dict[str, float]

    @property
    def total_points(self) -> float:
        """The notebook's point total."""
        return float(sum(self.points.values()))


def normalize_notebook(notebook: dict) -> dict:
    """Return a copy of a notebook made reproducible: no outputs, numbered ids, stable metadata.

    ``otter assign`` gives cells random ids and copies the master's metadata; two runs on the same
    master differ. Here: outputs and execution counts are removed, cell ids become ``cell-000``,
    ``cell-001``... (valid nbformat 4.5 ids), cells keep only the metadata keys Jupyter and otter
    use (``deletable``, ``editable``, ``tags``, ``otter``), and the notebook keeps only
    ``kernelspec`` (the standard ``python3`` kernel), ``language_info`` (the language name) and
    ``otter`` (assignment name and public tests).

    Args:
        notebook: a notebook as a dict (``json.load``) or ``nbformat.NotebookNode``.

    Returns:
        A normalised copy (a plain dict); the input is not changed.

    Example:
        >>> nb = {"cells": [{"cell_type": "code", "id": "x1", "source": "1", "metadata":
        ...       {"collapsed": True}, "outputs": [{"output_type": "stream"}],
        ...       "execution_count": 3}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
        >>> normalize_notebook(nb)["cells"][0]
        {'cell_type': 'code', 'execution_count': None, 'id': 'cell-000', 'metadata': {}, \
'outputs': [], 'source': '1'}
    """
    notebook = copy.deepcopy(dict(notebook))
    cells = []
    for index, cell in enumerate(notebook.get("cells", [])):
        cell = dict(cell)
        source = cell.get("source", "")
        cell["source"] = "".join(source) if isinstance(source, list) else source
        cell["id"] = f"cell-{index:03d}"
        metadata = dict(cell.get("metadata", {}))
        cell["metadata"] = {k: metadata[k] for k in _CELL_METADATA_KEPT if k in metadata}
        if cell.get("cell_type") == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        else:
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
        cells.append(dict(sorted(cell.items())))
    metadata = notebook.get("metadata", {})
    kept = {
        "kernelspec": dict(_KERNELSPEC),
        "language_info": {"name": metadata.get("language_info", {}).get("name", "python")},
    }
    if "otter" in metadata:
        kept["otter"] = metadata["otter"]
    notebook.update(cells=cells, metadata=kept, nbformat=4, nbformat_minor=5)
    return notebook


def _notebook_text(notebook: dict) -> str:
    """The on-disk form: the layout nbformat and Jupyter write (indent 1, sorted keys)."""
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def _clear_output_folder(folder: Path) -> None:
    """Empty an earlier ``otter assign`` output, refusing to delete anything else."""
    if not folder.exists():
        return
    unexpected = sorted(p.name for p in folder.iterdir() if p.name not in ("autograder", "student"))
    if unexpected:
        raise GradingError(
            f"{folder} exists and holds {unexpected}, which otter assign did not write; "
            "choose another output folder (--out) or move those files away."
        )
    shutil.rmtree(folder)


def assign_notebook(
    master: str | os.PathLike,
    out: str | os.PathLike = DIST_DIR,
    student_dir: str | os.PathLike | None = STUDENT_DIR,
    *,
    run_tests: bool = False,
) -> AssignedNotebook:
    """Run ``otter assign`` on one master notebook and publish its student version.

    Writes ``OUT/NAME/student/NAME.ipynb``, ``OUT/NAME/autograder/NAME.ipynb`` (solutions) and
    ``OUT/NAME/autograder/NAME-autograder.zip`` (``NAME`` being the master's file stem; an
    earlier output in ``OUT/NAME`` is replaced), then copies the normalised student notebook to
    ``student_dir``. The zip is not reproducible byte for byte (otter stamps times into it), so
    it belongs to a build folder, not to version control.

    Args:
        master: the master notebook.
        out: build folder. Defaults to ``dist``.
        student_dir: where the student notebook is copied; None to leave it in ``out`` only.
            Defaults to ``notebooks/student``.
        run_tests: let otter execute the solutions against every test (a full run of the
            notebook, in fast mode if ``TLCOURSE_FAST=1``). Defaults to False.

    Returns:
        An :class:`AssignedNotebook`.

    Raises:
        InvalidParameterError: ``master`` is not an existing ``.ipynb`` file.
        GradingError: otter assign failed, or the student notebook shows solution or hidden-test
            lines (see :func:`find_leaks`).
    """
    master = Path(master)
    if master.suffix != ".ipynb" or not master.is_file():
        raise InvalidParameterError(
            f"The 'master' parameter of assign_notebook must be an existing .ipynb file. "
            f"Got {str(master)!r} instead."
        )
    from otter.assign import main as otter_assign

    name = master.stem
    target = Path(out) / name
    _clear_output_folder(target)
    try:
        otter_assign(str(master), str(target), no_pdfs=True, no_run_tests=not run_tests)
    except Exception as error:
        raise GradingError(
            f"otter assign failed on {master}: {type(error).__name__}: {error}"
        ) from error

    autograder_dir = target / "autograder"
    zips = sorted(autograder_dir.glob(f"{name}-autograder_*.zip"))
    if len(zips) != 1:
        raise GradingError(f"otter assign wrote {len(zips)} autograder zips in {autograder_dir}.")
    autograder = autograder_dir / f"{name}-autograder.zip"
    zips[0].replace(autograder)

    generated = target / "student" / f"{name}.ipynb"
    student_nb = normalize_notebook(json.loads(generated.read_text(encoding="utf-8")))
    leaks = find_leaks(master, student_nb)
    if leaks:
        listed = "\n".join(f"  - {leak}" for leak in leaks[:10])
        raise GradingError(
            f"The student version of {master} would show {len(leaks)} solution or hidden-test "
            f"line(s):\n{listed}\nPut solution code between raw '# BEGIN SOLUTION' / "
            "'# END SOLUTION' cells (line markers work only inside such a block) and start hidden "
            "test cells with '# HIDDEN'."
        )
    text = _notebook_text(student_nb)
    generated.write_text(text, encoding="utf-8")
    student = generated
    if student_dir is not None:
        student = Path(student_dir) / f"{name}.ipynb"
        student.parent.mkdir(parents=True, exist_ok=True)
        student.write_text(text, encoding="utf-8")
    return AssignedNotebook(
        name=name,
        master=master,
        student=student,
        autograder=autograder,
        solutions=autograder_dir / f"{name}.ipynb",
        points=autograder_questions(autograder),
    )


def assign_colab(
    master: str | os.PathLike,
    out: str | os.PathLike = DIST_DIR / "colab",
    *,
    install: str | None = None,
) -> Path:
    """Build the Google Colab version of a student notebook: the notebook and its tests folder.

    On Colab, otter 7 refuses the tests stored in the notebook's metadata (``grader.check``
    raises "Test q1 does not exist"): it needs a ``tests/`` folder beside the notebook. This
    runs ``otter assign`` on a copy of the master set to ``runs_on: colab`` with test files,
    and writes ``OUT/NAME/NAME.ipynb`` (its first cell installs otter-grader), ``OUT/NAME/tests/``
    (public tests only) and ``OUT/NAME.zip`` of both, for students to upload and unzip in Colab.

    Args:
        master: the master notebook.
        out: folder of the Colab versions. Defaults to ``dist/colab``.
        install: a pip requirement for tlcourse, e.g.
            ``"tlcourse @ git+https://github.com/ORG/REPO"``, installed by a cell after otter's;
            None adds no such cell. Defaults to None.

    Returns:
        The folder ``OUT/NAME``.

    Raises:
        GradingError: otter assign failed, or the notebook would show a solution.
    """
    import yaml
    from otter.assign import main as otter_assign

    master = Path(master)
    name = master.stem
    notebook = json.loads(master.read_text(encoding="utf-8"))
    for index, cell in enumerate(notebook["cells"]):
        source = "\n".join(_source_lines(cell))
        if cell.get("cell_type") == "raw" and source.lstrip().startswith("# ASSIGNMENT CONFIG"):
            config = yaml.safe_load(source) or {}
            config.update(runs_on="colab", tests={"files": True, "ok_format": True})
            cell["source"] = "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)
            if install:
                pip = {"cell_type": "code", "execution_count": None, "id": "colab-install",
                       "metadata": {}, "outputs": [],
                       "source": f"%pip install -q {shlex.quote(install)}"}  # fmt: skip
                notebook["cells"].insert(index + 1, pip)
            break
    else:
        raise GradingError(f"{master} has no raw '# ASSIGNMENT CONFIG' cell.")
    target = Path(out) / name
    if target.exists():
        shutil.rmtree(target)
    with tempfile.TemporaryDirectory(prefix="tlcourse-colab-") as tmp:
        copy_path = Path(tmp) / master.name
        copy_path.write_text(json.dumps(notebook), encoding="utf-8")
        try:
            otter_assign(str(copy_path), str(Path(tmp) / "out"), no_pdfs=True, no_run_tests=True)
        except Exception as error:
            raise GradingError(
                f"otter assign (Colab) failed on {master}: {type(error).__name__}: {error}"
            ) from error
        student = normalize_notebook(
            json.loads((Path(tmp) / "out/student" / master.name).read_text(encoding="utf-8"))
        )
        leaks = find_leaks(master, student)
        if leaks:
            raise GradingError(f"The Colab version of {master} would show {leaks[:5]}.")
        shutil.copytree(Path(tmp) / "out/student/tests", target / "tests")
    (target / master.name).write_text(_notebook_text(student), encoding="utf-8")
    with zipfile.ZipFile(target.with_suffix(".zip"), "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(target.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(target))
    return target


def assign_all(
    masters: str | os.PathLike = MASTERS_DIR,
    out: str | os.PathLike = DIST_DIR,
    student_dir: str | os.PathLike | None = STUDENT_DIR,
    *,
    run_tests: bool = False,
    colab: bool = False,
    colab_install: str | None = None,
    progress: Callable[[str], None] | None = print,
) -> list[AssignedNotebook]:
    """Regenerate every student notebook and autograder from the master notebooks.

    Calls :func:`assign_notebook` on each ``*.ipynb`` of ``masters``, in name order.

    Args:
        masters: folder of master notebooks. Defaults to ``notebooks/masters``.
        out: build folder for otter's output. Defaults to ``dist``.
        student_dir: folder of the published student notebooks; None to skip publishing.
            Defaults to ``notebooks/student``.
        run_tests: let otter execute each solutions notebook against its tests. Defaults to
            False.
        colab: also build the Colab versions in ``OUT/colab`` (:func:`assign_colab`).
            Defaults to False.
        colab_install: pip requirement for tlcourse in the Colab versions (see
            :func:`assign_colab`). Defaults to None.
        progress: called with one line per notebook; None for silence. Defaults to ``print``.

    Returns:
        One :class:`AssignedNotebook` per master.

    Raises:
        InvalidParameterError: ``masters`` is not a folder holding ``.ipynb`` files.
        GradingError: as :func:`assign_notebook`.
    """
    folder = Path(masters)
    paths = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise InvalidParameterError(
            f"The 'masters' parameter of assign_all must be a folder of master .ipynb notebooks. "
            f"Got {str(folder)!r}, which {'has none' if folder.is_dir() else 'is not a folder'}."
        )
    assigned = []
    for path in paths:
        start = time.perf_counter()
        result = assign_notebook(path, out, student_dir, run_tests=run_tests)
        assigned.append(result)
        colab_folder = (
            assign_colab(path, Path(out) / "colab", install=colab_install) if colab else None
        )
        if progress is not None:
            questions = ", ".join(f"{q} ({p:g})" for q, p in result.points.items())
            progress(
                f"{result.name}: {len(result.points)} questions, {result.total_points:g} points "
                f"[{questions}] -> {result.student}, {result.autograder} "
                f"({time.perf_counter() - start:.1f} s)"
            )
            if colab_folder is not None:
                progress(f"  Colab version: {colab_folder}/ and {colab_folder}.zip")
    return assigned


# ---------------------------------------------------------------------------------------------
# Leak check


def _source_lines(cell: dict) -> list[str]:
    source = cell.get("source", "")
    return ("".join(source) if isinstance(source, list) else source).splitlines()


def _master_parts(master: dict) -> tuple[set[str], set[str]]:
    """(secret lines: solutions and hidden tests, public lines: everything else) of a master."""
    secret, public = set(), set()
    blocks: list[str] = []
    for cell in master.get("cells", []):
        lines = _source_lines(cell)
        if cell.get("cell_type") == "raw" and lines:
            match = _BLOCK_RE.match(lines[0])
            if match:
                kind = match[2].upper()
                if match[1].upper() == "BEGIN":
                    blocks.append(kind)
                elif blocks and blocks[-1] == kind:
                    blocks.pop()
                continue
            if lines[0].strip().upper().startswith("# ASSIGNMENT CONFIG"):
                continue
        # Solution markers count in every code cell: outside a solution block otter leaves
        # them, and the solution, in the student notebook.
        in_solution = cell.get("cell_type") == "code"
        if "SOLUTION" in blocks and cell.get("cell_type") == "markdown":
            secret.update(line.strip() for line in lines)  # a written answer
            continue
        in_tests = "TESTS" in blocks and cell.get("cell_type") == "code"
        hidden_test = (
            in_tests
            and bool(lines)
            and (
                (lines[0].lstrip().startswith("#") and "hidden" in lines[0].lower())
                or bool(re.search(r"^\s*hidden:\s*true", "\n".join(lines), re.I | re.M))
            )
        )
        inside = False
        for line in lines:
            text = line.strip()
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
                secret.add(text)
            else:
                public.add(text)
    return secret, public


def _student_lines(student: dict) -> set[str]:
    """Every line a student can read: cell sources and the tests stored in the metadata."""
    lines = set()
    for cell in student.get("cells", []):
        for line in _source_lines(cell):
            marked = _SOLUTION_LINE_RE.match(line)
            lines.add((marked[1] if marked else line).strip())
    tests = student.get("metadata", {}).get("otter", {}).get("tests", {})
    for test in tests.values() if isinstance(tests, dict) else []:
        for suite in test.get("suites", []) if isinstance(test, dict) else []:
            for case in suite.get("cases", []):
                for line in str(case.get("code", "")).splitlines():
                    lines.add(re.sub(r"^\s*(>>>|\.\.\.)\s?", "", line).strip())
    return lines


def _load(notebook) -> dict:
    if isinstance(notebook, str | os.PathLike):
        return json.loads(Path(notebook).read_text(encoding="utf-8"))
    return notebook


def find_leaks(master, student) -> list[str]:
    """List the solution and hidden-test lines of a master that a student notebook shows.

    A line counts when it is a solution (a code line marked ``# SOLUTION``, the right-hand side
    of such an assignment, a line between ``# BEGIN SOLUTION`` and ``# END SOLUTION`` in a code
    cell, or a Markdown answer in a solution block) or a line of a hidden test, and it appears
    in the student notebook (a cell or the public tests in its metadata) without also appearing
    in a public part of the master. Lines such as ``...`` or ``)`` are ignored. Markers outside a
    raw ``# BEGIN SOLUTION`` block are a classic mistake: otter then leaves the solution in.

    Args:
        master: path or dict of the master notebook.
        student: path or dict of its student version.

    Returns:
        The leaked lines, sorted; empty when nothing leaks.

    Example:
        >>> master = {"cells": [
        ...     {"cell_type": "raw", "source": "# BEGIN SOLUTION"},
        ...     {"cell_type": "code", "source": "x = 42  # SOLUTION"},
        ...     {"cell_type": "raw", "source": "# END SOLUTION"}]}
        >>> find_leaks(master, {"cells": [{"cell_type": "code", "source": "x = ..."}]})
        []
        >>> find_leaks(master, {"cells": [{"cell_type": "code", "source": "x = 42"}]})
        ['42', 'x = 42']
    """
    secret, public = _master_parts(_load(master))
    shown = _student_lines(_load(student))
    return sorted(
        line for line in secret - public - _TRIVIAL_LINES if len(line) >= 2 and line in shown
    )


# ---------------------------------------------------------------------------------------------
# Autograder zips


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def autograder_questions(autograder: str | os.PathLike) -> dict[str, float]:
    """Read the questions and their points from an autograder zip.

    Args:
        autograder: an autograder zip written by ``otter assign``.

    Returns:
        ``{question: points}`` in natural order (``q2`` before ``q10``).

    Raises:
        InvalidParameterError: not a readable zip with otter tests in ``tests/``.
    """
    points = {}
    try:
        with zipfile.ZipFile(autograder) as archive:
            names = [n for n in archive.namelist() if re.fullmatch(r"tests/[^/]+\.py", n)]
            for name in names:
                question, value = _test_file_points(archive.read(name).decode("utf-8"))
                points[question or Path(name).stem] = value
    except (OSError, zipfile.BadZipFile, SyntaxError, ValueError) as error:
        raise InvalidParameterError(
            f"Cannot read otter tests from the autograder zip {str(autograder)!r}: {error}."
        ) from error
    if not points:
        raise InvalidParameterError(
            f"The autograder zip {str(autograder)!r} has no tests/*.py; is it an otter autograder?"
        )
    return {q: points[q] for q in sorted(points, key=_natural_key)}


def _test_file_points(source: str) -> tuple[str | None, float]:
    """(question name, points) of an otter test file, OK-format or exception-based."""
    values = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name) and target.id in ("test", "name", "points"):
                values[target.id] = ast.literal_eval(node.value)
    test = values.get("test", values)
    points = test.get("points")
    if isinstance(points, list):
        points = sum(p for p in points if p is not None)
    if points is None and isinstance(test.get("suites"), list):
        cases = [c for s in test["suites"] for c in s.get("cases", [])]
        points = sum(c.get("points", 1) for c in cases)
    return test.get("name"), float(points if points is not None else 0)


def resolve_autograder(name_or_path: str | os.PathLike, dist: str | os.PathLike = DIST_DIR) -> Path:
    """Find an autograder zip from a path or from a notebook's name in the build folder.

    Args:
        name_or_path: an autograder zip; a folder written by :func:`assign_notebook`
            (``dist/02_training_from_scratch``); or a notebook name or its unambiguous start
            (``"02_training_from_scratch"``, ``"02"``), looked up in ``dist``.
        dist: build folder of :func:`assign_all`. Defaults to ``dist``.

    Returns:
        Path of the zip.

    Raises:
        InvalidParameterError: nothing or several zips match; the message lists what exists.
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    if path.is_dir():
        zips = sorted((path / "autograder").glob("*-autograder*.zip")) or sorted(
            path.glob("*-autograder*.zip")
        )
        if len(zips) == 1:
            return zips[0]
    available = sorted(Path(dist).glob("*/autograder/*-autograder*.zip"))
    name = str(name_or_path)
    matches = [z for z in available if z.parent.parent.name == name] or [
        z for z in available if z.parent.parent.name.startswith(name)
    ]
    if len(matches) == 1:
        return matches[0]
    known = [z.parent.parent.name for z in available]
    what = "matches several" if matches else "matches none"
    hint = f" Known in {dist}/: {known}." if known else f" {dist}/ has none: run tlcourse assign."
    raise InvalidParameterError(
        f"The autograder {name!r} is not a zip file, and as a notebook name it {what} of the "
        f"autograders.{hint}"
    )


# ---------------------------------------------------------------------------------------------
# Grade

# Runs in a fresh interpreter (python -c), so a stuck or crashing submission cannot take the
# instructor's process with it; importing otter only (not tlcourse and TensorFlow) keeps it quick.
_WORKER = r"""
import json, sys, traceback
submission, autograder, report_path = sys.argv[1:4]
report = {"scores": {}, "possible": {}, "errors": [], "failure": None}
try:
    from otter.run import main as otter_run
    results = otter_run(submission, autograder=autograder, output_dir=None, no_logo=True)
except BaseException as error:
    traceback.print_exc()
    report["failure"] = f"{type(error).__name__}: {error}"
else:
    if results.has_catastrophic_failure():
        report["failure"] = f"otter could not read the results: {results.catastrophic_error}"
    for name, test_file in results.results.items():
        report["scores"][name] = float(test_file.score)
        report["possible"][name] = float(test_file.possible)
    for cell in (results.notebook or {}).get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                source = cell.get("source", "")
                report["errors"].append({
                    "source": "".join(source) if isinstance(source, list) else source,
                    "error": f"{output.get('ename')}: {output.get('evalue')}",
                })
with open(report_path, "w", encoding="utf-8") as f:
    json.dump(report, f)
"""


# Grading processes running now, so that an interrupted batch (Ctrl-C) can stop them: each runs
# in its own session, out of reach of the terminal's Ctrl-C.
_RUNNING: set[subprocess.Popen] = set()
_RUNNING_LOCK = threading.Lock()


def _kill_tree(process: subprocess.Popen) -> None:
    """Kill the otter process, its process group and the kernel (which has its own session)."""
    try:
        import psutil

        children = psutil.Process(process.pid).children(recursive=True)
    except Exception:
        children = []
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for child in children:
        try:
            child.kill()
        except Exception:
            pass
    process.wait()


_PIP_LINE_RE = re.compile(r"^(\s*)([%!]\s*pip\s+install\b.*)$", re.M)
_INIT_NAME_RE = re.compile(r"otter\.Notebook\(\s*[\"']([^\"'/\\]+\.ipynb)[\"']")


def _prepare_submission(submission: Path, folder: Path) -> Path:
    """A copy of a notebook submission, ready for ``otter run``.

    Two changes. The copy takes the file name its otter init cell opens:
    ``grader = otter.Notebook("02_training_from_scratch.ipynb")`` reads that file, also while
    grading, so a submission renamed ``alice.ipynb`` would fail in that cell and in every
    ``grader.check`` cell after it (scores survive, but each cell counts as an error). And
    ``%pip install`` / ``!pip install`` lines (Colab versions install otter and tlcourse) are
    commented out: grading is offline, with everything installed. Anything that is not a readable
    notebook is passed on unchanged, for otter to report.
    """
    if submission.suffix != ".ipynb":
        return submission
    try:
        notebook = json.loads(submission.read_text(encoding="utf-8"))
        cells = notebook["cells"]
        name = submission.name
        for cell in cells:
            source = "\n".join(_source_lines(cell))
            match = _INIT_NAME_RE.search(source)
            if match and name == submission.name:
                name = match[1]
            if cell.get("cell_type") == "code" and _PIP_LINE_RE.search(source):
                cell["source"] = _PIP_LINE_RE.sub(r"\1# not while grading: \2", source)
    except Exception:
        return submission
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_text(json.dumps(notebook), encoding="utf-8")
    return target


def _code_cell_number(submission: Path, source: str) -> int | None:
    """1-based position among the submission's code cells of the cell with this source."""
    try:
        notebook = json.loads(submission.read_text(encoding="utf-8"))
    except Exception:
        return None
    code = [c for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
    for number, cell in enumerate(code, 1):
        if "\n".join(_source_lines(cell)).strip() == source.strip():
            return number
    return None


def _error_reason(submission: Path, errors: list[dict]) -> str:
    first = errors[0]
    number = (
        _code_cell_number(submission, first["source"]) if submission.suffix == ".ipynb" else None
    )
    line = next((ln.strip() for ln in first["source"].splitlines() if ln.strip()), "")
    where = f"code cell {number}" if number else "a cell"
    if line:
        where += f" ({line[:60]}{'...' if len(line) > 60 else ''})"
    count = f"{len(errors)} cells raised errors; first: " if len(errors) > 1 else ""
    return f"{count}{where} raised {first['error']}"[:500]


def grade_submission(
    submission: str | os.PathLike,
    autograder: str | os.PathLike,
    *,
    timeout: float = 600,
    log: str | os.PathLike | None = None,
) -> dict:
    """Grade one submission with ``otter run`` in a separate process, with a time limit.

    Args:
        submission: a notebook (or an otter submission zip).
        autograder: the autograder zip (see :func:`resolve_autograder`).
        timeout: seconds before the grading process and its kernel are killed. Defaults to 600.
        log: file to keep otter's full output in; None to discard it. Defaults to None.

    Returns:
        ``{"student": file stem, question: score..., "total", "possible", "status",
        "reason", "seconds"}``; ``status`` is ``"ok"`` (ran without errors), ``"error"`` (a
        cell raised: partial score, the first error in ``reason``; or grading failed: 0) or
        ``"timeout"`` (killed: 0).
    """
    submission, autograder = Path(submission), Path(autograder)
    points = autograder_questions(autograder)
    row = {"student": submission.stem, **dict.fromkeys(points, 0.0)}
    start = time.perf_counter()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with tempfile.TemporaryDirectory(prefix="tlcourse-grade-") as tmp:
        report_path = Path(tmp) / "report.json"
        output_path = Path(tmp) / "otter-output.txt"
        graded = _prepare_submission(submission, Path(tmp) / "submission")
        command = [
            sys.executable, "-c", _WORKER,
            str(graded.resolve()), str(autograder.resolve()), str(report_path),
        ]  # fmt: skip
        with open(output_path, "wb") as output:
            process = subprocess.Popen(
                command, cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            with _RUNNING_LOCK:
                _RUNNING.add(process)
            try:
                process.wait(timeout=timeout)
                timed_out = False
            except subprocess.TimeoutExpired:
                _kill_tree(process)
                timed_out = True
            except BaseException:
                _kill_tree(process)
                raise
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.discard(process)
        if log is not None:
            Path(log).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(output_path, log)
        report = None
        if not timed_out and report_path.is_file():
            report = json.loads(report_path.read_text(encoding="utf-8"))
        lines = output_path.read_text(encoding="utf-8", errors="replace").splitlines()
        tail = [ln.strip() for ln in lines if ln.strip() and not _NOISE_RE.match(ln)][-3:]

    if timed_out:
        status, reason = "timeout", f"timed out after {timeout:g} s"
    elif report is None:
        status = "error"
        reason = f"grading process exited with code {process.returncode}: {' | '.join(tail)}"
    elif report["failure"]:
        status, reason = "error", f"grading failed: {report['failure']}"[:500]
    else:
        for question, score in report["scores"].items():
            row[question] = score
        status, reason = (
            ("error", _error_reason(submission, report["errors"]))
            if report["errors"]
            else ("ok", "")
        )
    row.update(
        total=float(sum(row[q] for q in points)),
        possible=float(sum(points.values())),
        status=status,
        reason=reason,
        seconds=round(time.perf_counter() - start, 1),
    )
    return row


def _submission_files(submissions) -> list[Path]:
    if isinstance(submissions, str | os.PathLike):
        folder = Path(submissions)
        if not folder.is_dir():
            raise InvalidParameterError(
                f"The 'submissions' parameter of grade_folder must be a folder of submitted "
                f"notebooks or a list of files. Got {str(folder)!r}, which is not a folder."
            )
        files = [
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix in SUBMISSION_SUFFIXES and not p.name.startswith(".")
        ]
    else:
        files = [Path(p) for p in submissions]
        missing = [str(p) for p in files if not p.is_file()]
        if missing:
            raise InvalidParameterError(
                f"The 'submissions' parameter of grade_folder lists files that do not exist: "
                f"{missing}."
            )
    files = sorted(files, key=lambda p: _natural_key(p.name))
    stems = [p.stem for p in files]
    duplicates = sorted({s for s in stems if stems.count(s) > 1})
    if duplicates:
        raise InvalidParameterError(
            f"Several submissions share the student name(s) {duplicates} (the file name without "
            "extension); rename them so that each row of the scores names one student."
        )
    return files


def grade_folder(
    submissions: str | os.PathLike | Iterable[str | os.PathLike],
    autograder: str | os.PathLike,
    out: str | os.PathLike | None = None,
    *,
    timeout: float = 600,
    jobs: int = 1,
    dist: str | os.PathLike = DIST_DIR,
    logs: str | os.PathLike | None = None,
    progress: Callable[[str], None] | None = print,
):
    """Grade a folder of submitted notebooks offline into one table of scores.

    Each submission is graded by ``otter run`` (no Docker) in its own process, killed after
    ``timeout`` seconds together with its kernel. A submission that raises keeps the score of its
    tests that pass, with status ``error`` and the first error as reason; one that does not
    finish gets 0 with status ``timeout``; one otter cannot grade at all (not a notebook, another
    assignment's notebook) gets 0 with status ``error``. Nothing a submission does stops the
    batch. Submissions run with the instructor's environment: ``TLCOURSE_FAST=1`` grades in
    the notebooks' fast mode (tests do not depend on training results, so scores are the same).

    Args:
        submissions: a folder (its ``*.ipynb`` and ``*.zip`` files; the student is the file name
            without extension) or a list of files.
        autograder: an autograder zip, or a notebook name resolved in ``dist``
            (:func:`resolve_autograder`).
        out: CSV file to write; None to only return the table. Defaults to None.
        timeout: seconds allowed per submission. Defaults to 600.
        jobs: submissions graded at the same time. Defaults to 1.
        dist: build folder for notebook names. Defaults to ``dist``.
        logs: folder to keep otter's output per student (``STUDENT.txt``); None to discard.
            Defaults to None.
        progress: called with one line per graded submission; None for silence. Defaults to
            ``print``.

    Returns:
        A pandas DataFrame, one row per submission in name order: ``student``, one column per
        question, ``total``, ``possible``, ``status``, ``reason``, ``seconds``.

    Raises:
        InvalidParameterError: no submissions, an unknown autograder, a bad ``timeout`` or
            ``jobs``, or two submissions with the same student name.
    """
    import pandas as pd

    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidParameterError(
            f"The 'timeout' parameter of grade_folder must be a number of seconds > 0. "
            f"Got {timeout!r} instead."
        )
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise InvalidParameterError(
            f"The 'jobs' parameter of grade_folder must be an int >= 1. Got {jobs!r} instead."
        )
    zip_path = resolve_autograder(autograder, dist)
    points = autograder_questions(zip_path)
    files = _submission_files(submissions)
    if not files:
        raise InvalidParameterError(
            f"The 'submissions' parameter of grade_folder holds no .ipynb or .zip file: "
            f"{str(submissions)!r}."
        )
    lock, done = threading.Lock(), [0]

    def grade(path: Path) -> dict:
        log = Path(logs) / f"{path.stem}.txt" if logs is not None else None
        row = grade_submission(path, zip_path, timeout=timeout, log=log)
        if progress is not None:
            with lock:
                done[0] += 1
                detail = f" ({row['reason']})" if row["reason"] else ""
                progress(
                    f"[{done[0]}/{len(files)}] {row['student']}: {row['total']:g}/"
                    f"{row['possible']:g} {row['status']}{detail} in {row['seconds']:.0f} s"
                )
        return row

    if progress is not None:
        progress(
            f"Grading {len(files)} submission(s) with {zip_path} ({len(points)} questions, "
            f"{sum(points.values()):g} points, {timeout:g} s each at most, {jobs} at a time)"
        )
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            rows = list(pool.map(grade, files))
        except BaseException:  # Ctrl-C: start nothing more, stop what runs, then re-raise
            pool.shutdown(wait=False, cancel_futures=True)
            with _RUNNING_LOCK:
                running = list(_RUNNING)
            for process in running:
                _kill_tree(process)
            raise
    columns = ["student", *points, "total", "possible", "status", "reason", "seconds"]
    table = pd.DataFrame(rows, columns=columns)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        table.to_csv(out, index=False)
    return table

"""Student notebooks and autograders from the master notebooks (``otter assign``)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

from tlcourse.errors import check_bool, invalid_parameter
from tlcourse.grading.autograder import DIST_DIR, autograder_questions
from tlcourse.grading.errors import GradingError
from tlcourse.grading.leaks import find_leaks
from tlcourse.grading.notebooks import cell_source, normalize_notebook, notebook_text, read_notebook

__all__ = ["MASTERS_DIR", "STUDENT_DIR", "AssignedNotebook", "assign_all", "assign_colab",
           "assign_notebook"]  # fmt: skip

MASTERS_DIR = Path("notebooks/masters")
STUDENT_DIR = Path("notebooks/student")


@dataclass(frozen=True)
class AssignedNotebook:
    """What :func:`assign_notebook` produced for one master notebook (``name``: its file stem).

    ``solutions`` is the student notebook with solutions filled in (``dist/.../autograder/``),
    what a student who answers everything submits: never give it to students.
    """

    name: str
    master: Path
    student: Path
    autograder: Path
    solutions: Path
    points: dict[str, float]

    @property
    def total_points(self) -> float:
        return float(sum(self.points.values()))


def _clear_output_folder(folder: Path) -> None:
    """Empty an earlier ``otter assign`` output, refusing to delete anything else."""
    if not folder.exists():
        return
    written = ("autograder", "student", "gradescope")  # otter assign's, build_gradescope's
    unexpected = sorted(p.name for p in folder.iterdir() if p.name not in written)
    if unexpected:
        raise GradingError(f"{folder} exists and holds {unexpected}, which otter assign did not "
                           "write; choose another output folder (--out) or move those files "
                           "away.")  # fmt: skip
    shutil.rmtree(folder)


def _robust_init_cell(notebook, name: str) -> None:
    """Make otter's init cell find the notebook file when renamed or run from another folder:
    ``otter.Notebook("NAME.ipynb")`` opens that exact file to read the public tests, where
    :func:`tlcourse.grading.student.notebook_file` finds it by its metadata."""
    file = re.escape(f"{name}.ipynb")
    pattern = re.compile(rf"^(\s*\w+\s*=\s*)otter\.Notebook\(\s*[\"']{file}[\"']\s*\)", re.M)
    for cell in notebook.cells:
        if cell.cell_type == "code" and pattern.search(cell.source):
            source = pattern.sub(rf'\1otter.Notebook(notebook_file("{name}"))', cell.source)
            import_line = "import otter\nfrom tlcourse.grading.student import notebook_file\n\n"
            cell.source = source.replace("import otter\n", import_line, 1)
            return


def _check_master(master, func: str) -> Path:
    path = Path(master) if isinstance(master, str | os.PathLike) else None
    if path is None or path.suffix != ".ipynb" or not path.is_file():
        raise invalid_parameter("master", func, "an existing .ipynb file", str(master))
    return path


def _otter_assign(master: Path, source: Path, target: Path, run_tests: bool, what: str) -> None:
    from otter.assign import main as otter_assign

    try:
        otter_assign(str(source), str(target), no_pdfs=True, no_run_tests=not run_tests)
    except Exception as error:
        raise GradingError(f"{what} failed on {master}: {type(error).__name__}: {error}") from error


def assign_notebook(master: str | os.PathLike, out: str | os.PathLike = DIST_DIR,
                    student_dir: str | os.PathLike | None = STUDENT_DIR, *,
                    run_tests: bool = False) -> AssignedNotebook:  # fmt: skip
    """Run ``otter assign`` on one master notebook and publish its student version.

    Writes ``OUT/NAME/student/NAME.ipynb``, ``OUT/NAME/autograder/NAME.ipynb`` (solutions) and
    ``OUT/NAME/autograder/NAME-autograder.zip`` (``NAME`` being the master's file stem; an
    earlier output in ``OUT/NAME`` is replaced), then copies the normalised student notebook to
    ``student_dir``. The zip is not reproducible byte for byte (otter stamps times into it), so
    it belongs to a build folder, not to version control.

    Example:
        >>> assign_notebook("missing.ipynb")
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'master' parameter of assign_notebook must \
be an existing .ipynb file. Got 'missing.ipynb' instead.
    """
    master = _check_master(master, "assign_notebook")
    run_tests = check_bool("run_tests", run_tests, "assign_notebook")
    name, target = master.stem, Path(out) / master.stem
    _clear_output_folder(target)
    _otter_assign(master, master, target, run_tests, "otter assign")
    autograder_dir = target / "autograder"
    zips = sorted(autograder_dir.glob(f"{name}-autograder_*.zip"))
    if len(zips) != 1:
        raise GradingError(f"otter assign wrote {len(zips)} autograder zips in {autograder_dir}.")
    autograder = autograder_dir / f"{name}-autograder.zip"
    zips[0].replace(autograder)
    generated = target / "student" / f"{name}.ipynb"
    student_nb = normalize_notebook(read_notebook(generated))
    _robust_init_cell(student_nb, name)
    leaks = find_leaks(master, student_nb)
    if leaks:
        listed = "\n".join(f"  - {leak}" for leak in leaks[:10])
        raise GradingError(
            f"The student version of {master} would show {len(leaks)} solution or hidden-test "
            f"line(s):\n{listed}\nPut solution code between raw '# BEGIN SOLUTION' / '# END "
            "SOLUTION' cells (line markers work only inside such a block) and start hidden test "
            "cells with '# HIDDEN'.")  # fmt: skip
    text = notebook_text(student_nb)
    generated.write_text(text, encoding="utf-8")
    student = generated
    if student_dir is not None:
        student = Path(student_dir) / f"{name}.ipynb"
        student.parent.mkdir(parents=True, exist_ok=True)
        student.write_text(text, encoding="utf-8")
    return AssignedNotebook(name, master, student, autograder, autograder_dir / f"{name}.ipynb",
                            autograder_questions(autograder))  # fmt: skip


def _colab_master(master: Path, install: str | None) -> nbformat.NotebookNode:
    """A copy of the master set to ``runs_on: colab`` with test files, and an install cell."""
    import yaml

    notebook = read_notebook(master)
    for index, cell in enumerate(notebook.cells):
        source = cell_source(cell)
        if cell.cell_type == "raw" and source.lstrip().startswith("# ASSIGNMENT CONFIG"):
            config = yaml.safe_load(source) or {}
            config.update(runs_on="colab", tests={"files": True, "ok_format": True})
            cell.source = "# ASSIGNMENT CONFIG\n" + yaml.safe_dump(config, sort_keys=False)
            if install:
                pip = nbformat.v4.new_code_cell(f"%pip install -q {shlex.quote(install)}")
                notebook.cells.insert(index + 1, pip)
            return notebook
    raise GradingError(f"{master} has no raw '# ASSIGNMENT CONFIG' cell.")


def assign_colab(master: str | os.PathLike, out: str | os.PathLike = DIST_DIR / "colab", *,
                 install: str | None = None) -> Path:  # fmt: skip
    """Build the Google Colab version of a student notebook: the notebook and its tests folder.

    On Colab, otter 7 refuses the tests stored in the notebook's metadata (``grader.check``
    raises "Test q1 does not exist"): it needs a ``tests/`` folder beside the notebook. Writes
    ``OUT/NAME/NAME.ipynb`` (its first cell installs ``install``), ``OUT/NAME/tests/`` (public
    tests only) and ``OUT/NAME.zip`` of both, for students to upload and unzip in Colab.

    Example:
        >>> assign_colab("notebooks/masters/01_why_transfer_learning.ipynb", install=3)
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'install' parameter of assign_colab must \
be a pip requirement (a string) or None. Got 3 instead.
    """
    if install is not None and not isinstance(install, str):
        raise invalid_parameter("install", "assign_colab", "a pip requirement (a string) or None",
                                install)  # fmt: skip
    master = _check_master(master, "assign_colab")
    notebook = _colab_master(master, install)
    target = Path(out) / master.stem
    if target.exists():
        shutil.rmtree(target)
    with tempfile.TemporaryDirectory(prefix="tlcourse-colab-") as tmp:
        copy_path = Path(tmp) / master.name
        nbformat.write(notebook, copy_path)
        _otter_assign(master, copy_path, Path(tmp) / "out", False, "otter assign (Colab)")
        student = normalize_notebook(read_notebook(Path(tmp) / "out/student" / master.name))
        leaks = find_leaks(master, student)
        if leaks:
            raise GradingError(f"The Colab version of {master} would show {leaks[:5]}.")
        shutil.copytree(Path(tmp) / "out/student/tests", target / "tests")
    (target / master.name).write_text(notebook_text(student), encoding="utf-8")
    with zipfile.ZipFile(target.with_suffix(".zip"), "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in target.rglob("*") if p.is_file()):
            archive.write(path, path.relative_to(target))
    return target


def assign_all(masters: str | os.PathLike = MASTERS_DIR, out: str | os.PathLike = DIST_DIR,
               student_dir: str | os.PathLike | None = STUDENT_DIR, *, run_tests: bool = False,
               colab: bool = False, colab_install: str | None = None, gradescope: str | None = None,
               progress: Callable[[str], None] | None = print,
               ) -> list[AssignedNotebook]:  # fmt: skip
    """Regenerate every student notebook and autograder from the master notebooks.

    Calls :func:`assign_notebook` on each ``*.ipynb`` of ``masters``, in name order; with
    ``gradescope`` (``"full"`` or ``"fast"``: the grader's mode), also its Gradescope zip
    (:func:`tlcourse.grading.gradescope.build_gradescope`).

    Example:
        >>> assign_all("no-such-folder")
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'masters' parameter of assign_all must be \
a folder of master .ipynb notebooks. Got 'no-such-folder' instead. It is not a folder.
    """
    folder = Path(masters)
    paths = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    if not paths:
        raise invalid_parameter(
            "masters", "assign_all", "a folder of master .ipynb notebooks", str(folder),
            "It has none." if folder.is_dir() else "It is not a folder.",
        )  # fmt: skip
    run_tests = check_bool("run_tests", run_tests, "assign_all")
    colab = check_bool("colab", colab, "assign_all")
    if gradescope not in (None, "full", "fast"):
        raise invalid_parameter("gradescope", "assign_all", "None, 'full' or 'fast'", gradescope)
    if progress is not None and not callable(progress):
        raise invalid_parameter("progress", "assign_all", "a function or None", progress)
    assigned = []
    for path in paths:
        start = time.perf_counter()
        result = assign_notebook(path, out, student_dir, run_tests=run_tests)
        assigned.append(result)
        colab_folder = colab and assign_colab(path, Path(out) / "colab", install=colab_install)
        if gradescope is not None:
            from tlcourse.grading.gradescope import build_gradescope

            zip_path = build_gradescope(result.autograder, fast=gradescope == "fast")
        if progress is not None:
            questions = ", ".join(f"{q} ({p:g})" for q, p in result.points.items())
            progress(f"{result.name}: {len(result.points)} questions, {result.total_points:g} "
                     f"points [{questions}] -> {result.student}, {result.autograder} "
                     f"({time.perf_counter() - start:.1f} s)")  # fmt: skip
            if colab_folder:
                progress(f"  Colab version: {colab_folder}/ and {colab_folder}.zip")
            if gradescope is not None:
                progress(f"  Gradescope ({gradescope} mode): {zip_path}")
    return assigned

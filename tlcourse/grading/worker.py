"""The grading worker: ``python -P -m tlcourse.grading.worker JOB.json``, inside the sandbox.

It runs one submission and never sees a test: with its limits set and, graded by root, as the
job's unprivileged uid, it runs every cell in a Jupyter kernel (the grader's ``FAST`` after the
``parameters`` cell; no ``grader.check`` cell), exports as data the names each question's tests
read after its check cell, and writes one stored zip (``report.json`` and the answers,
:data:`~tlcourse.grading.archive.MEMBER_RE`) to the grader's pipe: the only way out of the
sandbox, which the kernel can neither inherit nor reach through ``/proc``
(:func:`tlcourse.grading.privileges.keep_from_children`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import traceback
import zipfile
from pathlib import Path

from tlcourse.grading.archive import MAX_MEMBERS, MEMBER_RE

__all__ = ["REPORT", "export_points", "is_otter_call", "main", "prepare_notebook"]

REPORT = "report.json"
_MAX_ERRORS = 50
_OTTER_CALL_RE = re.compile(r"\s*\w+\s*\.\s*(check|check_all|export)\s*\(.*\)\s*;?\s*")


def is_otter_call(source: str) -> bool:
    """True for a cell that only calls ``grader.check(...)``, ``check_all()`` or ``export()``.

    Those cells show the public tests to the student; grading runs every test elsewhere, so
    the worker skips them (a Colab notebook's would even fail: its tests are files).

    Example:
        >>> is_otter_call('grader.check("q1")'), is_otter_call('x = 1\\ngrader.check("q1")')
        (True, False)
    """
    lines = [ln for ln in source.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return bool(lines) and all(_OTTER_CALL_RE.fullmatch(line) for line in lines)


def prepare_notebook(notebook, fast: bool):
    """Insert the grader's ``FAST`` right after the ``parameters`` cell (else at the top).

    Example:
        >>> import nbformat
        >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("FAST = False")])
        >>> nb.cells[0].metadata["tags"] = ["parameters"]
        >>> prepare_notebook(nb, True), nb.cells[1].source
        (1, "FAST = True  # the grader's choice: it overrides the cell above")
    """
    import nbformat

    index = next(
        (i + 1 for i, cell in enumerate(notebook.cells)
         if "parameters" in cell.get("metadata", {}).get("tags", [])),
        0,
    )  # fmt: skip
    cell = nbformat.v4.new_code_cell(
        f"FAST = {bool(fast)!r}  # the grader's choice: it overrides the cell above"
    )
    cell.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(index, cell)
    return index


def export_points(notebook, questions) -> dict[int, list[str]]:
    """Where to export each question's answers: after its last ``grader.check`` cell.

    Example:
        >>> import nbformat
        >>> new = nbformat.v4.new_code_cell
        >>> nb = nbformat.v4.new_notebook(cells=[new("x = 1"), new('grader.check("q1")')])
        >>> export_points(nb, ["q1", "q2"])
        {1: ['q1'], 2: ['q2']}
    """
    points: dict[int, list[str]] = {}
    for question in questions:
        pattern = re.compile(rf"\.check\(\s*[\"']{re.escape(question)}[\"']\s*\)")
        found = [
            i
            for i, cell in enumerate(notebook.cells)
            if cell.cell_type == "code" and pattern.search(cell.source)
        ]
        points.setdefault(found[-1] if found else len(notebook.cells), []).append(question)
    return dict(sorted(points.items()))


def _export_code(names: dict, folder: str) -> str:
    """Code run in the kernel: the exporter's source in a namespace of its own."""
    from tlcourse.grading import answers

    source = Path(answers.__file__).read_text(encoding="utf-8")
    return (
        "def __tlcourse_export__():\n"
        "    namespace = {'__name__': 'tlcourse_grading_answers'}\n"
        f"    exec(compile({source!r}, '<tlcourse answers>', 'exec'), namespace)\n"
        f"    namespace['export_answers'](globals(), {names!r}, {folder!r})\n"
        "__tlcourse_export__()\n"
        "del __tlcourse_export__\n"
    )


def _client_class():
    from nbclient import NotebookClient

    class ErrorsOnly(NotebookClient):
        """Keeps a cell's errors only (name and message, cut): no output piles up."""

        def output(self, outs, msg, display_id, cell_index):
            if msg["msg_type"] != "error":
                return None
            content = msg["content"]
            out = {"output_type": "error", "ename": str(content.get("ename", ""))[:200],
                   "evalue": str(content.get("evalue", ""))[:500], "traceback": []}  # fmt: skip
            if len(outs) < 3:
                outs.append(out)
            return out

        def handle_comm_msg(self, outs, msg, cell_index):
            return None  # widgets: nothing to render while grading

    return ErrorsOnly


def _run(notebook, job: dict, report: dict) -> None:
    import nbformat
    from nbclient.exceptions import DeadKernelError

    questions = list(job["questions"])
    injected = prepare_notebook(notebook, job["fast"])
    points = export_points(notebook, questions)
    workdir, answers = Path(job["workdir"]), Path(job["answers"])
    client = _client_class()(
        notebook, timeout=None, kernel_name="python3", allow_errors=True,
        resources={"metadata": {"path": str(workdir)}},
    )  # fmt: skip
    code_number, cells = 0, len(notebook.cells)
    # nbclient stores every executed cell back into the notebook at its index: the exports
    # go to a scratch cell at the end, never over a cell of the submission.
    notebook.cells.append(nbformat.v4.new_raw_cell(""))

    def export(index: int) -> None:
        for question in points.get(index, []):
            folder = answers / question
            folder.mkdir(parents=True, exist_ok=True)
            cell = nbformat.v4.new_code_cell(_export_code(job["questions"][question], str(folder)))
            client.execute_cell(cell, cells, store_history=False)
            report["exported"][question] = index
            for out in cell.outputs:
                report["export_errors"].append(f"{question}: {out['ename']}: {out['evalue']}")

    with client.setup_kernel():
        for index in range(cells):
            cell = notebook.cells[index]
            if cell.cell_type == "code" and index != injected:
                code_number += 1
            if not (cell.cell_type == "code" and is_otter_call(cell.source)):
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    line = next((ln for ln in cell.source.splitlines() if ln.strip()), "")[:60]
                    report["failure"] = (
                        f"the kernel died in code cell {code_number} ({line}): killed at a "
                        "limit (memory, CPU time, processes) or by the submission itself"
                    )
                    return
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error" and index != injected:
                    if len(report["errors"]) < _MAX_ERRORS:
                        report["errors"].append({
                            "cell": code_number, "source": cell.source[:300],
                            "error": f"{out['ename']}: {out['evalue']}",
                        })  # fmt: skip
                    break
            export(index)
        export(cells)


def _answer_files(answers: Path) -> list[Path]:
    """The answer files to send: QUESTION/FILE named as ``MEMBER_RE`` says, regular files, at
    most ``MAX_MEMBERS`` - 1 (the kernel may have filled the folder with others)."""
    found = []
    for path in answers.glob("*/*") if answers.is_dir() else []:
        name = path.relative_to(answers).as_posix()
        if MEMBER_RE.fullmatch(name) and path.is_file() and not path.is_symlink():
            found.append(path)
            if len(found) >= MAX_MEMBERS - 1:
                break
    return sorted(found)


def _send(fd: int, answers: Path, report: dict) -> None:
    """Everything that leaves the sandbox: one stored zip on the grader's pipe."""
    with os.fdopen(fd, "wb") as pipe, zipfile.ZipFile(pipe, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(REPORT, json.dumps(report))
        for path in _answer_files(answers):
            archive.write(path, path.relative_to(answers).as_posix())


def main(argv: list[str] | None = None) -> int:
    """Run the job that :func:`~tlcourse.grading.runner.run_worker` wrote; exit status 0."""
    job = json.loads(Path((sys.argv[1:] if argv is None else argv)[0]).read_text("utf-8"))
    from tlcourse.grading.privileges import drop_privileges, keep_from_children
    from tlcourse.grading.sandbox import apply_limits

    apply_limits(job["limits"])
    if job.get("uid") is not None:
        drop_privileges(job["uid"])
    keep_from_children()
    report = {"errors": [], "failure": None, "exported": {}, "export_errors": []}
    workdir, answers = Path(job["workdir"]), Path(job["answers"])
    try:
        import nbformat

        workdir.mkdir(parents=True, exist_ok=True)
        answers.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(job["notebook"], workdir / Path(job["notebook"]).name)
        try:
            notebook = nbformat.read(workdir / Path(job["notebook"]).name, as_version=4)
        except Exception as error:
            report["failure"] = f"not a readable notebook ({type(error).__name__}: {error})"
        else:
            _run(notebook, job, report)
    except BaseException as error:  # the kernel died, a limit was hit...
        traceback.print_exc()
        report["failure"] = f"{type(error).__name__}: {error}"[:500]
    _send(job["fd"], answers, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

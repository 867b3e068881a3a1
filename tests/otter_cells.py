"""Helpers for the grading tests: otter-format master cells (the format of notebooks/masters),
hostile submissions built from a student notebook, and snapshots of the grader's machine."""

import hashlib
import os
import sys
from pathlib import Path

import nbformat

v4 = nbformat.v4


def question(name, points, solution, public, hidden, prompt=""):
    """The cells of one question: its raw markers, a prompt, the solution, a public and a hidden
    test (the ``# HIDDEN`` line is added)."""
    return [
        v4.new_raw_cell(f"# BEGIN QUESTION\nname: {name}\npoints: {points}"),
        v4.new_markdown_cell(f"**{name}.**{' ' + prompt if prompt else ''}"),
        v4.new_raw_cell("# BEGIN SOLUTION"),
        v4.new_code_cell(solution),
        v4.new_raw_cell("# END SOLUTION"),
        v4.new_raw_cell("# BEGIN TESTS"),
        v4.new_code_cell(public),
        v4.new_code_cell("# HIDDEN\n" + hidden),
        v4.new_raw_cell("# END TESTS"),
        v4.new_raw_cell("# END QUESTION"),
    ]


HIDDEN_VALUE = "86753091"
# The red team's assignment answered right, as hostile_notebook takes answers.
HONEST_ANSWERS = {"x": HIDDEN_VALUE, "answer": '"b"', "seen_fast": "FAST",
                  "n": "len(__import__('tlcourse').imagenet_class_names())"}  # fmt: skip
HONEST_MODEL = "keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation='softmax')])"


def redteam_master(folder: Path, name: str = "07_redteam", model: bool = False) -> Path:
    """The red team's small assignment (no TensorFlow in its answers unless ``model``).

    q1 ``x`` (public: an int; hidden: ``abs(x - 86753091) < 1e-9``, 2 points), q2 ``answer``
    (public: "a" or "b"; hidden: "b", 1 point), q3 ``n`` (public: an int; hidden: the number of
    ImageNet classes by the real ``tl``, 1 point), q4 ``seen_fast`` (hidden: the grader's
    ``FAST``, 1 point); with ``model``, q5 ``model`` (public: a ``keras.Model``; hidden: two
    softmax outputs for four inputs, under the grader's float type, 1 point). Public tests are
    worth half of each question.
    """
    parameters = v4.new_code_cell('import os\n\nFAST = os.environ.get("TLCOURSE_FAST") == "1"')
    parameters.metadata["tags"] = ["parameters"]
    cells = [
        v4.new_raw_cell(f"# ASSIGNMENT CONFIG\nname: {name}\nexport_cell: false\n"),
        v4.new_markdown_cell("# Red team"),
        parameters,
        *question("q1", "[1, 1]", f"x = {HIDDEN_VALUE}  # SOLUTION",
                  "assert isinstance(x, int)", f"assert abs(x - {HIDDEN_VALUE}) < 1e-9"),
        *question("q2", "[0.5, 0.5]", 'answer = "b"  # SOLUTION',
                  'assert answer in {"a", "b"}', 'assert answer == "b"'),
        *question("q3", "[0.5, 0.5]",
                  "import tlcourse as tl\n\nn = len(tl.imagenet_class_names())  # SOLUTION",
                  "assert isinstance(n, int)", "assert n == len(tl.imagenet_class_names())"),
        *question("q4", "[0.5, 0.5]", "seen_fast = FAST  # SOLUTION",
                  "assert seen_fast in (True, False)", "assert seen_fast == FAST"),
    ]  # fmt: skip
    if model:
        hidden = ("outputs = model.predict(np.ones((3, 4)), verbose=0)\n"
                  "assert model.output_shape == (None, 2) and keras.config.floatx() == 'float32'"
                  "\nassert np.allclose(outputs.sum(axis=1), 1, atol=1e-5)")  # fmt: skip
        cells += question("q5", "[0.5, 0.5]", f"import keras\n\nmodel = {HONEST_MODEL}  # SOLUTION",
                          "assert isinstance(model, keras.Model)", hidden)  # fmt: skip
    notebook = v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}  # fmt: skip
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{name}.ipynb")
    return folder / f"{name}.ipynb"


def hostile_notebook(blank, target, *, before=(), answers=None, after=(), parameters=None):
    """The blank student notebook with hostile cells after the parameters cell (``before``) or
    at the end (``after``), and the answer cells set to ``answers`` ({variable: expression})."""
    notebook = nbformat.read(blank, as_version=4)
    cells = notebook.cells
    index = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
    if parameters is not None:
        cells[index].source = parameters
    for offset, code in enumerate(before, 1):
        cells.insert(index + offset, v4.new_code_cell(code))
    for variable, expression in (answers or {}).items():
        blank_line = f"{variable} = ..."
        cell = next(c for c in cells if blank_line in c.source.splitlines())
        cell.source = cell.source.replace(blank_line, f"{variable} = {expression}")
    cells.extend(v4.new_code_cell(code) for code in after)
    nbformat.write(notebook, target)


def _files(folder: Path):
    for root, folders, files in os.walk(folder):
        folders.sort()
        for name in sorted(files):
            yield Path(root) / name


def host_snapshot() -> dict[str, str]:
    """What a submission must never change on the grader's machine, one digest per part.

    The tlcourse package and its data by content; the Python installation (the virtual
    environment and the Python it was made from, tens of thousands of files) by each file's
    size, modes and change time: ``ctime`` moves on every write, and not even root can set it
    back. Compiled bytecode (``__pycache__``) is written by the test processes themselves, so
    it counts only through ``foreign``: the files anywhere in these trees that belong to
    another user than root and the tests' own (a sandbox's uid would show there).
    """
    import tlcourse
    from tlcourse.paths import data_dir

    snapshot, foreign = {}, []
    trees = {"package": Path(tlcourse.__file__).parent, "data": data_dir(),
             "venv": Path(sys.prefix), "python": Path(sys.base_prefix)}  # fmt: skip
    for name, folder in trees.items():
        digest = hashlib.blake2b()
        for path in _files(folder):
            info = path.lstat()
            if info.st_uid not in (0, os.geteuid()):
                foreign.append(str(path))
            if "__pycache__" in path.parts:
                continue
            if name in ("package", "data"):
                with open(path, "rb") as file:
                    content = hashlib.file_digest(file, "blake2b").hexdigest()
            else:
                content = f"{info.st_size}|{info.st_mtime_ns}|{info.st_ctime_ns}"
            digest.update(f"{path}|{info.st_mode}|{info.st_uid}|{content}\n".encode())
        snapshot[name] = digest.hexdigest()
    snapshot["foreign"] = "\n".join(foreign)
    return snapshot


def question_score(autograder, question: str, namespace: dict, folder: Path) -> float:
    """The points ``namespace``'s answers earn on one question of ``autograder``: exported as
    the grading worker exports them, checked by :func:`~tlcourse.grading.checker.check_answers`
    on the question's own tests only (``tests.json``, the checker's input in grading, holding
    that question: the other questions' tests, their models and datasets, score nothing here).
    """
    import json

    from tlcourse.grading import read_test_files
    from tlcourse.grading.answers import export_answers
    from tlcourse.grading.checker import check_answers, read_specs
    from tlcourse.grading.names import question_names

    specs = read_specs(autograder)
    assert specs is not None, "the course notebooks' tests are in otter's OK format"
    (folder / "answers" / question).mkdir(parents=True)
    names = question_names(read_test_files(autograder)[question])
    export_answers(namespace, names, str(folder / "answers" / question))
    tests = folder / "tests.json"
    tests.write_text(json.dumps({question: specs[question]}), encoding="utf-8")
    return check_answers(tests, folder / "answers", fast=True)["scores"][question]

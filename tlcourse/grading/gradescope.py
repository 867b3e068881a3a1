"""Gradescope: the autograder zip (``tlcourse assign --gradescope``) and what runs in it.

Gradescope builds one image from the zip's ``setup.sh`` (as root, online), then for each
submission runs ``run_autograder`` as root, with the zip's files in ``/autograder/source`` and the
upload in ``/autograder/submission``, and reads ``/autograder/results/results.json``. Here
``setup.sh`` installs tlcourse (from the zip) and its dependencies at the instructor's versions,
bubblewrap, and the unprivileged user the notebook runs as; :func:`run_autograder` grades with
:func:`.grade.grade_submission`: in bubblewrap where it can start, else in the mode ``"user"``.
The tests stay root's.
"""

from __future__ import annotations

import json
import os
import re
import zipfile
from importlib import metadata
from pathlib import Path

from tlcourse.grading.errors import GradingError
from tlcourse.grading.privileges import slot_uid
from tlcourse.grading.text import escape_text

__all__ = ["CONFIG", "ROOT_ENV", "build_gradescope", "gradescope_results", "run_autograder"]

CONFIG = "tlcourse-gradescope.json"
ROOT_ENV = "TLCOURSE_GRADESCOPE_ROOT"  # where /autograder is (tests lay it out elsewhere)
_CHECKOUT = Path(__file__).resolve().parents[2]
# Installed in the image besides tlcourse's own requirements: what grading imports.
_GRADING = ("psutil", "nbclient", "nbformat", "ipykernel")

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root and online, when it builds the image.
set -euo pipefail
cd "$(dirname "$0")"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q bubblewrap || true  # used where it can start (Docker usually forbids it)
PYTHON=""
for candidate in python3.13 python3.12 python3.11 python3; do
  if command -v "$candidate" > /dev/null \\
      && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    PYTHON=$candidate
    break
  fi
done
if [ -z "$PYTHON" ]; then
  apt-get install -y -q python3.11 python3.11-venv
  PYTHON=python3.11
fi
"$PYTHON" -m venv /opt/tlcourse || {
  apt-get install -y -q "$PYTHON-venv" && "$PYTHON" -m venv /opt/tlcourse; }
/opt/tlcourse/bin/pip install -q --upgrade pip
/opt/tlcourse/bin/pip install -q -r requirements.txt ./tlcourse-src
chmod -R a+rX /opt/tlcourse
# The notebook runs as this user where bubblewrap cannot start (tlcourse's sandbox slot 0).
groupadd -g {uid} tlcourse-student 2> /dev/null || true
useradd -l -M -N -g {uid} -u {uid} -d /nonexistent -s /usr/sbin/nologin tlcourse-student \\
  2> /dev/null || true
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this as root for each submission: tlcourse grades /autograder/submission/ and
# writes /autograder/results/results.json (TLCOURSE_GRADESCOPE_ROOT: another folder than
# /autograder). Without /opt/tlcourse (setup.sh not run), the python3 on the PATH grades.
cd /
PYTHON=/opt/tlcourse/bin/python
[ -x "$PYTHON" ] || PYTHON=python3
exec "$PYTHON" -P -m tlcourse.grading.gradescope
"""


def _requirements() -> list[str]:
    """tlcourse's requirements and grading's imports, each pinned to the version installed."""
    names = [re.match(r"[A-Za-z0-9._-]+", r)[0] for r in metadata.requires("tlcourse") or []
             if "extra ==" not in r]  # fmt: skip
    pinned = {}
    for name in [*names, *_GRADING]:
        try:
            pinned[name.lower()] = f"{name}=={metadata.version(name)}"
        except metadata.PackageNotFoundError:
            pinned[name.lower()] = name
    return sorted(pinned.values(), key=str.lower)


def _source_files() -> list[Path]:
    """The files ``pip install`` builds tlcourse from: pyproject, README, package and data."""
    files = [_CHECKOUT / "pyproject.toml", _CHECKOUT / "README.md"]
    for folder in (_CHECKOUT / "tlcourse", _CHECKOUT / "data"):
        files += [p for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in
                  p.parts and not p.name.startswith(".")]  # fmt: skip
    missing = [str(p) for p in files[:2] if not p.is_file()]
    if missing:
        raise GradingError(f"A Gradescope zip carries tlcourse's source; {missing} are missing: "
                           "build it from a tlcourse checkout.")  # fmt: skip
    return files


def build_gradescope(autograder: Path, *, fast: bool = False, timeout: float = 600) -> Path:
    """Write ``NN_slug/gradescope/NN_slug-gradescope.zip`` beside ``NN_slug/autograder/``.

    It holds ``setup.sh``, ``run_autograder``, ``requirements.txt`` (pinned), the autograder
    zip, :data:`CONFIG` (the zip's name, the grader's ``fast`` mode, ``timeout`` per stage) and
    ``tlcourse-src/``. Returns the zip's path.
    """
    autograder = Path(autograder)
    name = autograder.name.removesuffix("-autograder.zip")
    target = autograder.parent.parent / "gradescope" / f"{name}-gradescope.zip"
    config = {"autograder": autograder.name, "fast": bool(fast), "timeout": float(timeout)}
    texts = {"setup.sh": SETUP.replace("{uid}", str(slot_uid(0))), "run_autograder": RUN,
             "requirements.txt": "\n".join(_requirements()) + "\n",
             CONFIG: json.dumps(config, indent=1) + "\n"}  # fmt: skip
    files = _source_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, text in texts.items():
            info = zipfile.ZipInfo(member, date_time=(1980, 1, 1, 0, 0, 0))
            script = member in ("setup.sh", "run_autograder")
            info.external_attr = (0o755 if script else 0o644) << 16
            archive.writestr(info, text, zipfile.ZIP_DEFLATED)
        archive.write(autograder, autograder.name)
        for path in files:
            archive.write(path, f"tlcourse-src/{path.relative_to(_CHECKOUT).as_posix()}")
    return target


def _test(name: str, score: float, max_score: float, output: str, visibility: str) -> dict:
    return {"name": name, "score": round(score, 6), "max_score": round(max_score, 6),
            "output": output, "visibility": visibility}  # fmt: skip


def gradescope_results(row: dict, tests: dict) -> dict:
    """Gradescope's ``results.json`` for a row of :func:`~tlcourse.grading.grade.grade_submission`.

    Per question two tests: its public tests (visible: each one's name, result and message) and
    its hidden tests (``after_published``: how many passed, never their names or messages).

    Example:
        >>> from types import SimpleNamespace as Case
        >>> tests = {"q1": Case(possible=2.0, test_cases=[Case(name="q1 - 1", hidden=False,
        ...     points=1.0), Case(name="secret", hidden=True, points=1.0)])}
        >>> row = {"q1": 1.0, "total": 1.0, "status": "ok", "reason": "",
        ...        "feedback": '{"q1": {"public": [["q1 - 1", true, ""]], "hidden": [1, 0]}}'}
        >>> [(t["name"], t["score"], t["visibility"])
        ...  for t in gradescope_results(row, tests)["tests"]]
        [('q1: public tests', 1.0, 'visible'), ('q1: hidden tests', 0.0, 'after_published')]
    """
    try:
        feedback = json.loads(row.get("feedback") or "{}")
    except ValueError:
        feedback = {}
    entries = []
    for question, test_file in tests.items():
        score = float(row.get(question) or 0.0)
        info = feedback.get(escape_text(question)) or {}
        shown = {name: (passed, message) for name, passed, message in info.get("public", [])}
        public = [case for case in test_file.test_cases if not case.hidden]
        public_max = sum(float(case.points or 0) for case in public)
        earned, lines = 0.0, []
        for case in public:
            passed, message = shown.get(escape_text(case.name), (False, "not run"))
            earned += float(case.points or 0) if passed else 0.0
            lines.append(f"{'passed' if passed else 'FAILED'}: {escape_text(case.name)}")
            lines += [f"    {line}" for line in message.splitlines()]
        earned = min(earned, score)
        entries.append(_test(f"{question}: public tests", earned, public_max, "\n".join(lines),
                             "visible"))  # fmt: skip
        count = len(test_file.test_cases) - len(public)
        if count:
            passed = (info.get("hidden") or [count, 0])[1]
            entries.append(_test(
                f"{question}: hidden tests", score - earned, float(test_file.possible) - public_max,
                f"{passed} of {count} hidden test(s) passed", "after_published",
            ))  # fmt: skip
    reason = f": {row['reason']}" if row.get("reason") else ""
    return {"score": float(row.get("total") or 0.0), "output": f"Graded: {row['status']}{reason}",
            "visibility": "visible", "stdout_visibility": "hidden", "tests": entries}  # fmt: skip


def _submission(folder: Path, name: str) -> tuple[Path | None, str]:
    """The uploaded notebook (``name.ipynb`` if several), or None and why."""
    from tlcourse.grading.submissions import SUBMISSION_SUFFIXES

    found = []
    for base, folders, files in os.walk(folder):
        folders[:] = [f for f in folders if not f.startswith(".")]
        found += [Path(base) / f for f in sorted(files)
                  if f.endswith(SUBMISSION_SUFFIXES) and not f.startswith(".")]  # fmt: skip
    found = [path for path in found if not path.is_symlink()]
    named = [path for path in found if path.stem == name]
    chosen = named if len(named) == 1 else found
    if len(chosen) == 1:
        return chosen[0], ""
    listed = ", ".join(escape_text(p.name) for p in found[:5])
    return None, f"upload one notebook, {name}.ipynb (found {len(found)}: {listed or 'none'})"


def run_autograder(root: str | os.PathLike | None = None) -> dict:
    """Grade ``ROOT/submission/`` with ``ROOT/source/`` into ``ROOT/results/results.json``
    (``root``: None reads :data:`ROOT_ENV`, else ``/autograder``); return the results."""
    from tlcourse.grading.autograder import read_test_files
    from tlcourse.grading.grade import grade_submission
    from tlcourse.grading.sandbox import bwrap_problem

    root = Path(root or os.environ.get(ROOT_ENV) or "/autograder")
    source, results = root / "source", root / "results"
    source.chmod(0o700)  # the tests are root's before anything of the submission runs
    results.mkdir(parents=True, exist_ok=True)
    os.chown(results, os.geteuid(), os.getegid())
    results.chmod(0o755)
    config = json.loads((source / CONFIG).read_text(encoding="utf-8"))
    autograder = source / config["autograder"]
    tests = read_test_files(autograder)
    name = autograder.name.removesuffix("-autograder.zip")
    submission, problem = _submission(root / "submission", name)
    row = {"total": 0.0, "status": "error", "reason": problem, "feedback": "{}"}
    if submission is not None:
        try:
            row = grade_submission(
                submission, autograder, timeout=config["timeout"], fast=config["fast"],
                sandbox=True if bwrap_problem() is None else "user",
            )  # fmt: skip
        except Exception as error:  # still a results.json: Gradescope shows it
            row["reason"] = escape_text(f"grading failed: {type(error).__name__}: {error}", 500)
    result = gradescope_results(row, tests)
    partial = results / ".results.json.tmp"
    partial.write_text(json.dumps(result, indent=1), encoding="utf-8")
    os.replace(partial, results / "results.json")
    print(f"tlcourse: {result['score']:g} points, {row['status']} ({row.get('sandbox', '-')})")
    return result


if __name__ == "__main__":
    run_autograder()

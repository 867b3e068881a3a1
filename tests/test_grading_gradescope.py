"""Gradescope (issue 20, item 4): the zip ``tlcourse assign --gradescope`` writes, run in a
simulated container without bubblewrap.

``tlcourse assign --gradescope fast`` builds the red team's small assignment, and for each
submission a fresh ``/autograder`` is laid out in a temporary folder (``source/`` = the zip,
``submission/``, ``results/``, ``run_autograder``), then ``run_autograder`` runs as Gradescope
runs it: as root, with only the virtual environment on the PATH (no ``bwrap``), tlcourse
already installed (``setup.sh`` not run). The notebook then runs as the unprivileged user. The
run gets a mount namespace of its own, as in a Docker container: the cgroup file system
read-only, and the Python installation open to other users where it sits in a folder they
cannot enter (``/root/.pyenv`` on the project's machines); nothing of the host changes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
import zipfile
from importlib import metadata
from pathlib import Path

import psutil
import pytest
from otter_cells import HIDDEN_VALUE, hostile_notebook, redteam_master

from tlcourse.cli import main
from tlcourse.grading.gradescope import CONFIG, ROOT_ENV
from tlcourse.grading.privileges import slot_uid

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="Gradescope runs run_autograder as root"),
]

MARKER = f"tlcourse-gradescope-{uuid.uuid4().hex[:12]}"
# The hidden answer, in no file but the autograder's (the tests' sources are world-readable).
SECRET = str(10**8 + uuid.uuid4().int % 10**8)
NAME = "07_redteam"

# Reads every file it can reach for the hidden test (the autograder zip's, in source/ or in the
# grader's temporary folders), forges results.json, replaces the builtins, and leaves a daemon
# that keeps forging and waits for the checker's copy of the tests.
HOSTILE = r"""
import builtins, glob, io, os, re, sys, zipfile
found, leaks = None, []
pattern = re.compile(rb"abs\(x - " + rb"(\d{9})\)")  # SECRET's form

def scan(data, where):
    global found
    match = pattern.search(data)
    if match:
        found = int(match[1])
        leaks.append(where)
    if data[:2] == b"PK":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for name in archive.namelist():
                    scan(archive.read(name), where + ":" + name)
        except Exception:
            pass

for top in ("ROOT", "/tmp", "/dev/shm", os.path.expanduser("~"), os.getcwd() + "/../../.."):
    for base, dirs, files in os.walk(top):
        for file in files:
            if file.endswith((".zip", ".py", ".json", ".ipynb", ".bin")):
                try:
                    scan(open(os.path.join(base, file), "rb").read(8 << 20), base + "/" + file)
                except Exception:
                    pass
for folder in glob.glob("/proc/[0-9]*"):
    for name in ("cmdline", "environ"):
        try:
            scan(open(f"{folder}/{name}", "rb").read(), folder)
        except Exception:
            pass
FORGE = '''
import os, time
grading = os.path.realpath(os.getcwd() + "/../../..")  # the grader's temporary folder
def forge():
    for path in ("ROOT/results/results.json", "ROOT/results/.results.json.tmp",
                 "ROOT/source/CONFIG"):
        try:
            open(path, "w").write('{"score": 100.0, "tests": [], "output": "forged"}')
        except Exception:
            pass
    try:  # the checker's copy of the tests
        data = open(grading + "/checker/in/autograder.zip", "rb").read()
        open("/tmp/proof-MARKER", "wb").write(data)
    except Exception:
        pass
deadline = time.time() + SECONDS
if SECONDS:
    open("/tmp/started-MARKER", "w").close()  # the daemon did start
forge()
while time.time() < deadline:
    time.sleep(0.2)
    forge()
'''
exec(FORGE.replace("SECONDS", "0"), {})
if os.fork() == 0:  # a daemon: double fork, new session
    os.setsid()
    if os.fork() == 0:
        os.execv(sys.executable, [sys.executable, "-c", FORGE.replace("SECONDS", "300"), "MARKER"])
    os._exit(0)
os.wait()
_isinstance = isinstance  # in the student's kernel x = 5.5 is an int now
builtins.isinstance = lambda obj, k: (type(obj) is float and obj == 5.5) or _isinstance(obj, k)
os.write(2, f"REDTEAM leaks={leaks}\n".encode())
"""
# x = 5.5 is no int; "a" and 7 pass their public tests only; "no" fails both of q4's.
HOSTILE_ANSWERS = {"x": "found if found is not None else 5.5", "answer": '"a"', "n": "7",
                   "seen_fast": '"no"'}  # fmt: skip


def _container_prefix(venv_bin: str, stash: str) -> list[str]:
    """The command that runs the rest as in a Docker container: no cgroup to make (a read-only
    file system over the cgroups: only the grader's own kill ends what the notebook leaves), the
    Python installation open to other users."""
    script = "set -e; PATH=/usr/sbin:/usr/bin:/sbin:/bin; mount --make-rprivate /; "
    script += "mount -t tmpfs -o ro tmpfs /sys/fs/cgroup; "
    python = Path(os.path.realpath(sys.executable))
    closed = next((p for p in reversed(python.parents) if p.stat().st_mode & 1 == 0), None)
    if closed is not None:
        child = closed / python.relative_to(closed).parts[0]
        script += (f"mount --bind {child} {stash}; mount -t tmpfs -o mode=0755 tmpfs {closed}; "
                   f"mkdir {child}; mount --bind {stash} {child}; ")  # fmt: skip
    script += f'PATH={venv_bin}; exec "$@"'
    return [shutil.which("unshare"), "--mount", "/bin/sh", "-c", script, "sh"]


def _run(zip_path: Path, notebook: Path) -> tuple[dict, str, str]:
    """Lay out a fresh /autograder, grade ``notebook``: (results.json, its text, the output)."""
    root, stash = Path(tempfile.mkdtemp(prefix="gradescope-")), tempfile.mkdtemp()
    try:
        root.chmod(0o755)  # as /autograder: the student may look around
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(root / "source")
        shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
        (root / "submission").mkdir()
        (root / "results").mkdir()
        (root / "submission" / "my_work.ipynb").write_text(
            notebook.read_text(encoding="utf-8").replace("ROOT", str(root)), encoding="utf-8"
        )
        venv_bin = os.path.dirname(sys.executable)
        env = {**os.environ, "PATH": venv_bin, ROOT_ENV: str(root)}
        command = [*_container_prefix(venv_bin, stash), "/bin/bash",
                   str(root / "run_autograder")]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
        output = done.stdout + done.stderr
        assert done.returncode == 0, output[-3000:]
        text = (root / "results" / "results.json").read_text(encoding="utf-8")
        assert (root / "results" / "results.json").stat().st_uid == 0
        return json.loads(text), text, output
    finally:
        shutil.rmtree(root, ignore_errors=True)
        os.rmdir(stash)


@pytest.fixture(scope="module")
def gradescope(tmp_path_factory):
    """The zip, and the results of an honest, a blank and a hostile submission."""
    folder = tmp_path_factory.mktemp("gradescope")
    master = redteam_master(folder / "masters", NAME)
    master.write_text(master.read_text(encoding="utf-8").replace(HIDDEN_VALUE, SECRET), "utf-8")
    dist, student = folder / "dist", folder / "student"
    assert main(["assign", "--masters", str(master.parent), "--out", str(dist),
                 "--student-dir", str(student), "--gradescope", "fast"]) == 0  # fmt: skip
    zip_path = dist / NAME / "gradescope" / f"{NAME}-gradescope.zip"
    blank, hostile = student / f"{NAME}.ipynb", folder / "hostile.ipynb"
    code = HOSTILE.replace("MARKER", MARKER).replace("CONFIG", CONFIG)
    hostile_notebook(blank, hostile, before=[code], answers=HOSTILE_ANSWERS)
    solutions = dist / NAME / "autograder" / f"{NAME}.ipynb"
    runs = {
        name: _run(zip_path, path)
        for name, path in (("honest", solutions), ("blank", blank), ("hostile", hostile))
    }
    leftovers = [p.info["cmdline"] for p in psutil.process_iter(["cmdline"])
                 if MARKER in " ".join(p.info["cmdline"] or [])]  # fmt: skip
    return zip_path, runs, leftovers


def test_zip_has_setup_run_autograder_tests_and_pinned_requirements(gradescope):
    zip_path = gradescope[0]
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
        setup = archive.read("setup.sh").decode()
        requirements = archive.read("requirements.txt").decode().split()
        config = json.loads(archive.read(CONFIG))
        modes = {n: archive.getinfo(n).external_attr >> 16 for n in ("setup.sh", "run_autograder")}
    assert {"setup.sh", "run_autograder", f"{NAME}-autograder.zip", CONFIG} <= names
    assert {"tlcourse-src/pyproject.toml", "tlcourse-src/tlcourse/grading/gradescope.py",
            "tlcourse-src/data/imagenet_classes.txt"} <= names  # fmt: skip
    assert config == {"autograder": f"{NAME}-autograder.zip", "fast": True, "timeout": 600.0}
    assert all(mode & 0o111 for mode in modes.values())
    assert f"tensorflow=={metadata.version('tensorflow')}" in requirements
    assert f"keras=={metadata.version('keras')}" in requirements
    assert any(r.startswith("otter-grader==") for r in requirements)
    assert "pip install -q -r requirements.txt ./tlcourse-src" in setup
    assert f"useradd -l -M -N -g {slot_uid(0)} -u {slot_uid(0)}" in setup
    for script in ("setup.sh", "run_autograder"):
        with zipfile.ZipFile(zip_path) as archive:
            text = archive.read(script).decode()
        assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0, script


def test_solutions_score_full_marks_and_blank_zero(gradescope):
    runs = gradescope[1]
    honest, _, output = runs["honest"]
    assert honest["score"] == 5.0, output[-3000:]
    assert "(user)" in output  # graded without bubblewrap, as the unprivileged user
    assert sum(t["score"] for t in honest["tests"]) == 5.0
    assert sum(t["max_score"] for t in honest["tests"]) == 5.0
    visibility = {t["name"]: t["visibility"] for t in honest["tests"]}
    assert visibility["q1: public tests"] == "visible"
    assert visibility["q1: hidden tests"] == "after_published"
    assert runs["blank"][0]["score"] == 0.0


def test_no_hidden_test_is_shown(gradescope):
    for name, (_, text, _) in gradescope[1].items():
        assert SECRET not in text, name
        assert "hidden test(s) passed" in text


def test_hostile_submission_reads_no_test_forges_nothing_and_leaves_no_process(gradescope):
    _, runs, leftovers = gradescope
    results, _, output = runs["hostile"]
    assert results["score"] == 1.0, output[-3000:]  # q2 and q3's public tests only
    assert results["output"].startswith("Graded: ok")
    started = Path(f"/tmp/started-{MARKER}")
    assert started.exists()
    started.unlink()
    assert leftovers == []
    assert not list(Path("/tmp").glob(f"proof-{MARKER}*"))

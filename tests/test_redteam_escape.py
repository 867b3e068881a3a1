"""Red team: escaping the sandbox when the grader runs as root (issue 17, item 1).

bubblewrap started by root keeps every capability, and its read-only binds are made in its own
mount namespace: one ``mount(2)`` call from a notebook cell used to remount the tlcourse package
read-write, and a submission appended code to the checker on the host. Graded as root (CI and
many containers do), a submission here tries to remount every path it sees read-write and to
write through it, to append to the checker, to create device nodes, to read ``/proc/1/root``, to
become root again, and to do it all over from a user namespace of its own. It must get nothing:
its score is what its wrong answers earn, the host's package, data and Python installation are
unchanged, no marker lands outside a sandbox, and the honest neighbour keeps full points.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest
from otter_cells import HONEST_ANSWERS, host_snapshot, hostile_notebook, redteam_master

from tlcourse.grading import assign_notebook, bwrap_problem, grade_folder

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: the attack is on root's sandbox"),
]

MARKER = f"tlcourse-escape-{uuid.uuid4().hex[:12]}"
WRONG = {"x": "5", "answer": '"a"', "n": "7", "seen_fast": '"no"'}
WRONG_SCORES = {"q1": 1.0, "q2": 0.5, "q3": 0.5, "q4": 0.0}  # the public tests it passes
# Writable by design: the sandbox's own memory-backed folders, gone with it.
PRIVATE = {"/box", "/dev/shm"}

ESCAPE = r"""
import ctypes, os
libc = ctypes.CDLL(None, use_errno=True)
MS_REMOUNT, MS_BIND, CLONE_NEWUSER, CLONE_NEWNS = 32, 4096, 0x10000000, 0x00020000
found = []

def attempt(what, call):
    try:
        call()
        found.append(f"{what}: ALLOWED")
    except OSError as error:
        found.append(f"{what}: refused {error.errno}")

def remount(target):  # the same bind, without MS_RDONLY: read-write
    if libc.mount(None, target.encode(), None, MS_REMOUNT | MS_BIND, None) != 0:
        raise OSError(ctypes.get_errno(), "mount")

def write_through(target):
    with open(os.path.join(target, "MARKER"), "w") as file:
        file.write("escaped")

def from_a_namespace_of_its_own():
    if libc.unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare")
    remount(package)
    write_through(package)

package = os.environ["PYTHONPATH"]  # the folder holding the tlcourse package: bound
targets = [line.split()[4] for line in open("/proc/self/mountinfo")]
for target in targets:
    attempt(f"remount {target}", lambda: remount(target))
    attempt(f"write {target}", lambda: write_through(target))
checker = os.path.join(package, "tlcourse", "grading", "checker.py")
attempt("append checker.py", lambda: open(checker, "a").write("\n# escaped\n"))
attempt("mknod /box/null", lambda: os.mknod("/box/null", 0o666 | 0o020000, os.makedev(1, 3)))
attempt("mknod /dev/sda", lambda: os.mknod("/dev/MARKER", 0o666 | 0o060000, os.makedev(8, 0)))
attempt("list /proc/1/root", lambda: os.listdir("/proc/1/root"))
attempt("read /proc/1/environ", lambda: open("/proc/1/environ", "rb").read())
attempt("setuid 0", lambda: os.setuid(0))
attempt("chroot", lambda: os.chroot("/box"))
attempt("user namespace", from_a_namespace_of_its_own)
os.write(2, ("REDTEAM " + str(len(targets)) + " mounts | " + " | ".join(found) + "\n").encode())
"""


@pytest.fixture(scope="module")
def escape(tmp_path_factory):
    """Grade the batch once, as root: (table, what the submission saw, host before, after)."""
    root = tmp_path_factory.mktemp("escape")
    assigned = assign_notebook(redteam_master(root / "masters", "09_escape"), root / "dist",
                               root / "student")  # fmt: skip
    subs = root / "submissions"
    subs.mkdir()
    hostile_notebook(assigned.student, subs / "a_escape.ipynb", answers=WRONG,
                     before=[ESCAPE.replace("MARKER", MARKER)])  # fmt: skip
    hostile_notebook(assigned.student, subs / "b_honest.ipynb", answers=HONEST_ANSWERS)
    before = host_snapshot()
    table = grade_folder(subs, assigned.autograder, root / "scores.csv", timeout=300, jobs=2,
                         fast=True, logs=root / "logs", progress=None)  # fmt: skip
    after = host_snapshot()
    log = (root / "logs" / "a_escape.txt").read_text(encoding="utf-8")
    seen = next(line for line in log.splitlines() if line.startswith("REDTEAM "))
    return table.set_index("student"), seen, before, after


def test_no_mount_can_be_made_writable_and_nothing_is_written_through_one(escape):
    _, seen, _, _ = escape
    attempts = seen.split(" | ")[1:]
    remounts = [a for a in attempts if a.startswith("remount ")]
    assert len(remounts) >= 8, seen  # every bound path was tried: /usr, Python, tlcourse...
    assert not any("ALLOWED" in a for a in remounts), seen
    written = {a.split()[1].rstrip(":") for a in attempts if a.startswith("write ") and
               "ALLOWED" in a}  # fmt: skip
    assert written <= PRIVATE, written


@pytest.mark.parametrize("attempt", ["append checker.py", "mknod /box/null", "mknod /dev/sda",
                                     "list /proc/1/root", "read /proc/1/environ", "setuid 0",
                                     "chroot", "user namespace"])  # fmt: skip
def test_each_way_out_is_refused(escape, attempt):
    _, seen, _, _ = escape
    result = next(a for a in seen.split(" | ") if a.startswith(f"{attempt}:"))
    assert "refused" in result, result


def test_the_host_is_byte_identical_and_the_scores_are_earned(escape):
    table, _, before, after = escape
    assert after == before, "the package, its data or the Python installation changed"
    assert after["foreign"] == "", "a file of a sandbox's user landed on the host"
    for folder in (Path("/tmp"), Path.cwd(), Path.home()):
        assert not list(folder.glob(f"{MARKER}*")), folder
    assert table.loc["a_escape", list(WRONG_SCORES)].to_dict() == WRONG_SCORES
    assert tuple(table.loc["b_honest", ["total", "possible", "status"]]) == (5.0, 5.0, "ok")

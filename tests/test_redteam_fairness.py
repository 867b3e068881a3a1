"""Red team: a neighbour that takes the CPU, on a machine without cgroups (issue 17, item 4).

Linux shares the CPU per session: a submission that starts dozens of busy processes, each in a
session of its own, leaves next to nothing to the submission graded beside it (``--jobs 2``),
which used to time out with 0. Where the grader may create cgroups each sandbox is one entity
for the scheduler (tests/test_redteam_forgery.py grades such a neighbour with them); here they
are switched off, as for an ordinary user without a delegated cgroup, and the stage clock
(:mod:`tlcourse.grading.clock`) must keep the honest neighbour's time limit from running out
while it is starved. The hostile submission's own clock runs at full speed: it times out.
"""

from __future__ import annotations

import re

import pytest
from otter_cells import HONEST_ANSWERS, host_snapshot, hostile_notebook, redteam_master

from tlcourse.grading import Limits, assign_notebook, bwrap_problem, grade_folder
from tlcourse.grading import runner as runner_module
from tlcourse.grading.clock import LONGEST

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(bwrap_problem() is not None, reason=f"bwrap: {bwrap_problem()}"),
]

# Seconds per stage; starved for that long, the honest worker would time out. The hog lives
# this long and its spinners starve the whole machine meanwhile: no longer than the honest
# worker needs, with a margin, when it is not starved.
TIMEOUT = 75
COUNT = 48  # busy processes, each in a session of its own

PROCESSES = f"""
import subprocess, sys, time
spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
            for _ in range({COUNT})]
while True:
    time.sleep(1)
"""


@pytest.fixture(scope="module")
def starved(tmp_path_factory):
    """Grade the hog and an honest neighbour together, without cgroups: (table, logs, host
    before, host after)."""
    root = tmp_path_factory.mktemp("fairness")
    assigned = assign_notebook(redteam_master(root / "masters", "10_fairness"), root / "dist",
                               root / "student")  # fmt: skip
    subs = root / "submissions"
    subs.mkdir()
    # Right after the parameters cell: the spinners start before the neighbour's kernel does.
    hostile_notebook(assigned.student, subs / "a_processes.ipynb", before=[PROCESSES])
    hostile_notebook(assigned.student, subs / "b_honest.ipynb", answers=HONEST_ANSWERS)
    before = host_snapshot()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner_module, "sandbox_group", lambda processes: None)
        table = grade_folder(subs, assigned.autograder, root / "scores.csv", timeout=TIMEOUT,
                             jobs=2, fast=True, logs=root / "logs", progress=None,
                             limits=Limits(processes=256))  # fmt: skip
    return table.set_index("student"), root / "logs", before, host_snapshot()


def test_the_starved_neighbour_keeps_full_points_and_the_hog_times_out(starved):
    table, _, before, after = starved
    assert tuple(table.loc["b_honest", ["total", "possible", "status"]]) == (5.0, 5.0, "ok"), (
        table.loc["b_honest", "reason"]
    )
    assert tuple(table.loc["a_processes", ["total", "status"]]) == (0.0, "timeout")
    assert after == before


def test_the_clock_counted_less_than_the_wall_clock_while_the_neighbour_was_starved(starved):
    _, logs, _, _ = starved
    header = (logs / "b_honest.txt").read_text(encoding="utf-8").splitlines()[0]
    wall, counted = (float(v) for v in re.findall(r"([\d.]+) s", header))
    assert counted < wall - 10, header  # the hog held it back, and that time did not count
    hog = (logs / "a_processes.txt").read_text(encoding="utf-8").splitlines()[0]
    wall, counted = (float(v) for v in re.findall(r"([\d.]+) s", hog))
    # Stopped by its own clock (not by the cap of LONGEST times the limit): hogging the CPU
    # bought it no time.
    assert counted >= TIMEOUT - 1 and wall < TIMEOUT * LONGEST, hog

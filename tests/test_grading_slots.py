"""Sandbox slots are machine-wide: two grading processes never share a slot (a uid, a process
limit, an end_processes)."""

import subprocess
import sys

from tlcourse.grading.privileges import sandbox_slot

HOLD = (
    "import sys, time\n"
    "from tlcourse.grading.privileges import sandbox_slot\n"
    "with sandbox_slot() as slot:\n"
    "    print(slot, flush=True)\n"
    "    time.sleep(60)\n"
)


def test_another_process_never_gets_a_slot_held_here():
    with sandbox_slot() as mine:
        other = subprocess.Popen([sys.executable, "-c", HOLD], stdout=subprocess.PIPE, text=True)
        try:
            theirs = int(other.stdout.readline())
            assert theirs != mine
            with sandbox_slot() as third:
                assert third not in (mine, theirs)
        finally:
            other.kill()
            other.wait()

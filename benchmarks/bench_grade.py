"""Benchmark: the time per submission of ``tlcourse grade``, one honest submission, fast mode.

The submission is the solutions notebook of a master (notebook 01 by default), put through
``tlcourse assign`` here; each round grades it with ``tlcourse grade SUBMISSIONS --fast
--jobs 1`` in a fresh process, as an instructor would, and reads the per-submission
``seconds`` column of the CSV (what the grader measured for that row) beside the command's
wall-clock time (which adds the start-up of the command itself). The converted weights are made
once in a temporary cache, as an instructor's machine has them.

Run: ``.venv/bin/python benchmarks/bench_grade.py [--notebook 01] [--rounds 3]
[--before REVISION] [--after REVISION]``. ``--before`` also grades with the code of that git
revision (a detached worktree), alternating with this tree (or ``--after``'s revision) round by
round, so that both see the same machine: the ratio is what to read, the machine's speed changes
from hour to hour.
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return "load average " + ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _checkout(revision: str) -> str:
    """A detached worktree of ``revision`` in a temporary folder (for ``--before``)."""
    folder = tempfile.mkdtemp(prefix="bench-before-")
    subprocess.run(["git", "worktree", "add", "--detach", "-f", folder, revision], check=True,
                   capture_output=True, cwd=REPO)  # fmt: skip
    return folder


def _prepare(root: Path, notebook: str) -> tuple[Path, Path]:
    """(submissions folder with one honest submission, autograder zip); weights converted."""
    from tlcourse.grading import assign_notebook
    from tlcourse.models.backbones.efficientnet_lite import convert_efficientnet_lite0

    convert_efficientnet_lite0(root / "cache" / "weights")
    master = next((REPO / "notebooks" / "masters").glob(f"{notebook}*.ipynb"))
    assigned = assign_notebook(master, root / "dist", root / "student")
    submissions = root / "submissions"
    submissions.mkdir()
    (submissions / "honest.ipynb").write_bytes(assigned.solutions.read_bytes())
    return submissions, assigned.autograder


def _grade(submissions: Path, autograder: Path, package_parent: str, root: Path) -> tuple:
    """One ``tlcourse grade`` run: (wall seconds of the command, the row's seconds, its row)."""
    out = root / "scores.csv"
    env = {**os.environ, "PYTHONPATH": package_parent, "TLCOURSE_CACHE_DIR": str(root / "cache")}
    start = time.perf_counter()
    # From another folder: `python -m` puts the working directory first on the path, before
    # PYTHONPATH (the older checkout of --before).
    subprocess.run(
        [sys.executable, "-m", "tlcourse.cli", "grade", str(submissions), "--autograder",
         str(autograder), "--out", str(out), "--fast", "--jobs", "1"],
        check=True, env=env, stdout=subprocess.DEVNULL, cwd=root,
    )  # fmt: skip
    wall = time.perf_counter() - start
    with open(out, newline="", encoding="utf-8") as file:
        row = next(csv.DictReader(file))
    return wall, float(row["seconds"]), row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", default="01", help="master notebook (start of its name)")
    parser.add_argument("--rounds", type=int, default=3, help="gradings per tree (default 3)")
    parser.add_argument("--before", help="a git revision to time against, side by side")
    parser.add_argument("--after", help="a git revision to time instead of this tree")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    submissions, autograder = _prepare(root, args.notebook)
    after = args.after or "this tree"
    trees = {after: _checkout(args.after) if args.after else str(REPO)}
    if args.before:
        trees[args.before] = _checkout(args.before)
    print(f"tlcourse grade, one honest {autograder.stem} submission, --fast --jobs 1  [{load()}]")
    seconds: dict[str, list[float]] = {name: [] for name in trees}
    try:
        for round_number in range(1, args.rounds + 1):
            for name, parent in trees.items():
                wall, row_seconds, row = _grade(submissions, autograder, parent, root)
                if row["status"] != "ok" or row["total"] != row["possible"]:
                    raise SystemExit(f"{name}: the honest submission scored {row}")
                seconds[name].append(row_seconds)
                print(f"   round {round_number}, {name}: {row_seconds:.1f} s per submission "
                      f"({wall:.1f} s for the whole command)  [{load()}]", flush=True)  # fmt: skip
    finally:
        for revision in (args.before, args.after):
            if revision:
                subprocess.run(["git", "worktree", "remove", "--force", trees[revision]],
                               check=False, capture_output=True, cwd=REPO)  # fmt: skip
    medians = {name: statistics.median(values) for name, values in seconds.items()}
    for name, median in medians.items():
        print(f"   {name}: median {median:.1f} s per submission over {args.rounds} rounds")
    if args.before:
        ratio = medians[after] / medians[args.before]
        print(f"   {after} / {args.before}: {ratio:.2f}x")


if __name__ == "__main__":
    main()

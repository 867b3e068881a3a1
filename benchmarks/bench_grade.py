"""Benchmark: what one fast-mode submission costs ``tlcourse grade``, beside ``otter run``.

The submission is the solutions notebook of a master, put through ``tlcourse assign`` here.
Each round grades it with ``tlcourse grade SUBMISSIONS --fast --jobs 1`` in a fresh process,
as an instructor would (the CSV's ``seconds`` for the row, and the whole command), and with
``otter run`` on the same file and autograder (``TLCOURSE_FAST=1``), in turn, the order swapped
every round; the ratio of the medians is what to read, since the machine's speed changes from
minute to minute. The converted weights are made once in a temporary cache, as an instructor's
machine has them. Each command's CPU seconds (user + system, its whole process tree) are
printed beside its wall time; ``--stages`` also runs the two stages of ``tlcourse grade`` one
after the other in a fresh process, as it does, and prints each one's CPU seconds (the worker
with the student's kernel, the checker).

Run: ``.venv/bin/python benchmarks/bench_grade.py [--notebook 01 02 ...] [--rounds 3]
[--batch N --jobs 2] [--before REVISION] [--after REVISION] [--stages]``. ``--batch N`` also
grades N copies of the submission with ``--jobs`` at a time, once per round (seconds per
submission). ``--before`` also grades with the code of that git revision (a detached worktree).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def load() -> str:
    return "load " + " ".join(f"{v:.1f}" for v in os.getloadavg())


class TreeCPU:
    """CPU seconds (user + system) of this process's descendants while the block runs, read
    every 0.1 s (``getrusage`` misses the stages: bubblewrap does not pass their usage on).
    Each process's last tenth of a second before it ends is not counted."""

    def __enter__(self) -> TreeCPU:
        self.seen: dict[tuple[int, float], float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll)
        self._thread.start()
        return self

    def _poll(self) -> None:
        me = psutil.Process()
        while True:
            for process in me.children(recursive=True):
                try:
                    times = process.cpu_times()
                    self.seen[(process.pid, process.create_time())] = times.user + times.system
                except psutil.Error:
                    continue
            if self._stop.wait(0.1):
                return

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.seconds = sum(self.seen.values())


def _checkout(revision: str) -> str:
    """A detached worktree of ``revision`` in a temporary folder (for ``--before``)."""
    folder = tempfile.mkdtemp(prefix="bench-before-")
    subprocess.run(["git", "worktree", "add", "--detach", "-f", folder, revision], check=True,
                   capture_output=True, cwd=REPO)  # fmt: skip
    return folder


def _prepare(root: Path, notebook: str, copies: int) -> tuple[Path, Path]:
    """(a folder with one honest submission and one with ``copies``, the autograder zip)."""
    from tlcourse.grading import assign_notebook

    master = next((REPO / "notebooks" / "masters").glob(f"{notebook}*.ipynb"))
    assigned = assign_notebook(master, root / "dist", root / "student")
    for folder, count in ((root / "one", 1), (root / "batch", copies)):
        folder.mkdir()
        for number in range(count):
            (folder / f"honest{number}.ipynb").write_bytes(assigned.solutions.read_bytes())
    return root / "one", assigned.autograder


def _env(root: Path, package_parent: str) -> dict:
    return {**os.environ, "PYTHONPATH": package_parent, "TLCOURSE_CACHE_DIR": str(root.parent)}


def _grade(submissions: Path, autograder: Path, parent: str, root: Path, jobs: int = 1):
    """One ``tlcourse grade`` run: (wall seconds of the command, its CPU seconds, the rows)."""
    out = root / "scores.csv"
    start = time.perf_counter()
    # From another folder: `python -m` puts the working directory first on the path, before
    # PYTHONPATH (the older checkout of --before).
    with TreeCPU() as cpu:
        subprocess.run(
            [sys.executable, "-m", "tlcourse.cli", "grade", str(submissions), "--autograder",
             str(autograder), "--out", str(out), "--fast", "--jobs", str(jobs)],
            check=True, env=_env(root, parent), stdout=subprocess.DEVNULL, cwd=root,
        )  # fmt: skip
    wall, seconds = time.perf_counter() - start, cpu.seconds
    with open(out, newline="", encoding="utf-8") as file:
        rows = list(csv.DictReader(file))
    for row in rows:
        if row["status"] != "ok" or row["total"] != row["possible"]:
            raise SystemExit(f"{parent}: the honest submission scored {row}")
    return wall, seconds, rows


def _otter(submissions: Path, autograder: Path, root: Path) -> tuple[float, float]:
    """One ``otter run`` of the same submission: the command's (wall, CPU) seconds."""
    out = root / "otter"
    out.mkdir(exist_ok=True)
    start = time.perf_counter()
    with TreeCPU() as cpu:
        subprocess.run(
            [str(Path(sys.executable).parent / "otter"), "run",
             str(submissions / "honest0.ipynb"), "-a", str(autograder), "-o", str(out),
             "--no-logo"],
            check=True, env={**_env(root, str(REPO)), "TLCOURSE_FAST": "1"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root,
        )  # fmt: skip
    wall, seconds = time.perf_counter() - start, cpu.seconds
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    if results["score"] != sum(test.get("max_score", 0) for test in results["tests"]):
        raise SystemExit(f"otter run: the honest submission scored {results['score']}")
    return wall, seconds


def _stages(submission: Path, autograder: Path) -> None:
    """(``--stages-of``, in a fresh process) the two stages as ``tlcourse grade --fast`` runs
    them, but one after the other (the grader starts the checker beside the worker), to give
    each its own CPU; prints their CPU and wall seconds as JSON."""
    from tlcourse.grading.autograder import read_test_files
    from tlcourse.grading.names import question_names
    from tlcourse.grading.privileges import sandbox_slot, slot_uid
    from tlcourse.grading.runner import run_worker, start_checker, unpack_answers
    from tlcourse.grading.sandbox import Limits
    from tlcourse.grading.submissions import prepare_submission

    questions = {q: question_names(t) for q, t in read_test_files(autograder).items()}
    with sandbox_slot() as slot, tempfile.TemporaryDirectory() as tmp:
        uid = slot_uid(slot) if os.geteuid() == 0 else None
        options = dict(sandbox=True, fast=True, timeout=600, limits=Limits(), uid=uid)
        notebook, _ = prepare_submission(submission, Path(tmp) / "submission", None)
        start = time.perf_counter()
        with TreeCPU() as worker_cpu:
            worker = run_worker(notebook, questions, Path(tmp) / "worker", **options)
        report = unpack_answers(worker.sent, Path(tmp) / "answers", Limits().answers)
        middle = time.perf_counter()
        with TreeCPU() as checker_cpu:
            checker = start_checker(autograder, Path(tmp) / "checker", **options)(
                Path(tmp) / "answers"
            )  # started after the worker here: each stage's own CPU
        end = time.perf_counter()
        checked = json.loads(checker.sent.read_text(encoding="utf-8"))
    if report.get("failure") or report.get("errors") or checked.get("failure"):
        raise SystemExit(f"stages: {report} {checked.get('failure')}")
    if sum(checked["scores"].values()) != sum(checked["possible"].values()):
        raise SystemExit(f"stages: the honest submission scored {checked['scores']}")
    print(json.dumps({"worker": {"cpu": worker_cpu.seconds, "wall": middle - start},
                      "checker": {"cpu": checker_cpu.seconds, "wall": end - middle}}))  # fmt: skip


def _notebook(args, trees: dict, cache: Path) -> None:
    root = Path(tempfile.mkdtemp(prefix=f"nb{args.notebook}-", dir=cache))
    one, autograder = _prepare(root, args.notebook, args.batch)
    print(f"{autograder.stem}: one honest submission, --fast  [{load()}]", flush=True)
    times: dict[str, list[float]] = {}
    for number in range(1, args.rounds + 1):
        runs = [*trees.items(), ("otter run", None)]
        for name, parent in runs if number % 2 else runs[::-1]:
            if parent is None:
                wall, seconds = _otter(one, autograder, root)
                times.setdefault(name, []).append(wall)
                times.setdefault(f"{name} CPU", []).append(seconds)
                print(f"  round {number}, {name}: {wall:.1f} s, CPU {seconds:.1f} s  [{load()}]")
                continue
            try:  # another grader on this machine may kill a stage (slots share uids)
                wall, seconds, rows = _grade(one, autograder, parent, root)
            except SystemExit as failure:
                print(f"  round {number}, {name}: not counted: {str(failure)[:300]}")
                continue
            times.setdefault(name, []).append(float(rows[0]["seconds"]))
            times.setdefault(f"{name} (command)", []).append(wall)
            times.setdefault(f"{name} (command) CPU", []).append(seconds)
            print(f"  round {number}, {name}: {rows[0]['seconds']} s per submission, {wall:.1f} s "
                  f"the command, CPU {seconds:.1f} s  [{load()}]", flush=True)  # fmt: skip
            if args.stages:
                stages = subprocess.run(
                    [sys.executable, __file__, "--stages-of", str(one / "honest0.ipynb"),
                     str(autograder)], check=True, env=_env(root, parent), cwd=root,
                    stdout=subprocess.PIPE, text=True,
                ).stdout.splitlines()[-1]  # fmt: skip
                for stage, value in json.loads(stages).items():
                    times.setdefault(f"{name}: {stage} CPU", []).append(value["cpu"])
                    times.setdefault(f"{name}: {stage} wall", []).append(value["wall"])
                print(f"  round {number}, {name}, stage by stage: {stages}  [{load()}]", flush=True)
        if args.batch:
            wall, _, rows = _grade(root / "batch", autograder, next(iter(trees.values())), root,
                                   args.jobs)  # fmt: skip
            times.setdefault("batch", []).append(wall / len(rows))
            print(f"  round {number}, {len(rows)} submissions --jobs {args.jobs}: {wall:.1f} s, "
                  f"{wall / len(rows):.1f} s per submission  [{load()}]", flush=True)  # fmt: skip
    medians = {name: statistics.median(values) for name, values in times.items()}
    otter, otter_cpu = medians.pop("otter run"), medians.pop("otter run CPU")
    print(f"  median over {args.rounds} rounds: otter run {otter:.1f} s, CPU {otter_cpu:.1f} s")
    for name, median in medians.items():
        base = otter_cpu if name.endswith("CPU") else otter
        print(f"  {name}: {median:.1f} s, {median / base:.2f}x otter run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebook", nargs="+", default=["01"], help="masters (name starts)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--batch", type=int, default=0, help="copies graded at once per round")
    parser.add_argument("--jobs", type=int, default=2, help="--jobs of the batch (default 2)")
    parser.add_argument("--before", help="a git revision to time as well, side by side")
    parser.add_argument("--after", help="a git revision to time instead of this tree")
    parser.add_argument("--stages", action="store_true", help="also time each stage alone")
    parser.add_argument("--stages-of", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stages_of:
        return _stages(*map(Path, args.stages_of))
    from tlcourse.models.backbones.efficientnet_lite import convert_efficientnet_lite0

    cache = Path(tempfile.mkdtemp(prefix="bench-grade-"))
    convert_efficientnet_lite0(cache / "weights")
    trees = {args.after or "tlcourse grade": _checkout(args.after) if args.after else str(REPO)}
    if args.before:
        trees[args.before] = _checkout(args.before)
    try:
        for notebook in args.notebook:
            _notebook(argparse.Namespace(**{**vars(args), "notebook": notebook}), trees, cache)
    finally:
        for revision in (args.before, args.after):
            if revision:
                subprocess.run(["git", "worktree", "remove", "--force", trees[revision]],
                               check=False, capture_output=True, cwd=REPO)  # fmt: skip


if __name__ == "__main__":
    main()

"""``tlcourse grade --slurm``: the scripts it writes, and a real single-node Slurm grading a folder
in a 2-task job array plus a dependent merge, equal to grading it in one process.

The Slurm test needs root and Debian's ``slurm-wlm`` and ``munge``; it starts the daemons with
``scripts/start_slurm.sh`` when they are not running (and ends those it started). Without them it
skips, except where ``TLCOURSE_REQUIRE_SLURM=1`` (CI: ``.ci/run`` installs and starts Slurm).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from test_grading import _submission, write_master

from tlcourse.cli import main
from tlcourse.grading import assign_notebook, bwrap_problem, grade_folder
from tlcourse.grading.cluster import cluster_folder, write_cluster_job
from tlcourse.grading.gradebook import in_shard, read_scores

REPO = Path(__file__).resolve().parents[1]
PIDS = Path("/run/tlcourse-slurm.pids")  # what scripts/start_slurm.sh started


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """The tiny assignment and two submissions, one in each of 2 shards: amy (3/3), dee (2/3)."""
    root = tmp_path_factory.mktemp("slurm_course")
    result = assign_notebook(write_master(root / "masters"), root / "dist", root / "student")

    def half(cells):  # q1's public test passes, its hidden one fails
        index = next(i for i, c in enumerate(cells) if "x = 6 * 7" in "".join(c["source"]))
        cells[index]["source"] = "x = 41"

    subs = root / "subs"
    _submission(result.solutions, subs / "amy.ipynb")
    _submission(result.solutions, subs / "dee.ipynb", half)
    assert in_shard("amy", 1, 2) and in_shard("dee", 2, 2)
    return root, result.autograder, subs


def test_written_scripts_run_one_shard_per_task_then_merge(course, tmp_path, capsys):
    root, autograder, subs = course
    out = tmp_path / "grades" / "hw1.csv"
    code = main(["grade", str(subs), "--autograder", str(autograder), "--out", str(out),
                 "--slurm", "3", "--fast", "--timeout", "120", "--jobs", "2"])  # fmt: skip
    assert code == 0
    folder = cluster_folder(out)
    assert f"bash {folder}/submit.sh" in capsys.readouterr().out
    assert not out.exists() and not list(folder.glob("shard-*")), "nothing graded, nothing run"
    grade = (folder / "grade.sbatch").read_text()
    assert "#SBATCH --array=1-3\n" in grade and "#SBATCH --cpus-per-task=2\n" in grade
    # The largest shard holds 1 submission: 1 x 120 s, plus 10 minutes.
    assert "#SBATCH --time=12\n" in grade
    assert f"--out {folder}/shard-$K-of-3.csv --shard $K/3" in grade
    assert all(f" {flag} " in grade for flag in ("--resume", "--fast", "--jobs 2"))
    merge = (folder / "merge.sbatch").read_text()
    shards = " ".join(f"{folder}/shard-{k}-of-3.csv" for k in (1, 2, 3))
    assert f"gradebook {shards} --out {out}\n" in merge
    submit = (folder / "submit.sh").read_text()
    assert "--dependency=afterok:$array" in submit
    for script in ("grade.sbatch", "merge.sbatch", "submit.sh"):
        subprocess.run(["bash", "-n", str(folder / script)], check=True)
    job = yaml.safe_load((folder / "k8s-job.yaml").read_text())
    spec = job["spec"]
    assert (job["kind"], spec["completionMode"], spec["completions"]) == ("Job", "Indexed", 3)
    command = spec["template"]["spec"]["containers"][0]["command"]
    assert "K=$((JOB_COMPLETION_INDEX + 1))" in command[2] and "--shard $K/3" in command[2]
    mount = spec["template"]["spec"]["containers"][0]["volumeMounts"][0]["mountPath"]
    assert all(Path(p).is_relative_to(mount) for p in (subs, autograder, folder))
    # --submit alone and --shard with --slurm are refused; a shard count below 1 is named.
    assert main(["grade", str(subs), "--autograder", str(autograder), "--submit"]) != 0
    assert "--slurm" in capsys.readouterr().err
    assert main(["grade", str(subs), "--autograder", str(autograder), "--out", str(out),
                 "--slurm", "2", "--shard", "1/2"]) != 0  # fmt: skip
    assert "'shard'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="'tasks'"):
        write_cluster_job(subs, autograder, out, 0)


def _slurm_problem() -> str | None:
    if os.geteuid() != 0:
        return "not root: the test starts Slurm's daemons (scripts/start_slurm.sh)"
    missing = [p for p in ("slurmctld", "slurmd", "sbatch", "munged") if not shutil.which(p)]
    if missing:
        return f"no {', '.join(missing)}: apt-get install slurm-wlm munge (.ci/run does)"
    return None


@pytest.fixture(scope="module")
def slurm():
    """A running single-node Slurm; the daemons this fixture started are ended afterwards."""
    problem = _slurm_problem()
    if problem is not None:
        if os.environ.get("TLCOURSE_REQUIRE_SLURM") == "1":
            pytest.fail(f"TLCOURSE_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)
    script = str(REPO / "scripts" / "start_slurm.sh")
    if PIDS.exists():  # started by someone else (CI): started again only if they have ended
        subprocess.run(["bash", script], check=True, timeout=120)
        yield
        return
    subprocess.run(["bash", script], check=True, timeout=120)
    yield
    subprocess.run(["bash", script, "stop"], check=True, timeout=60)


def _state(job: str) -> str:
    shown = subprocess.run(["scontrol", "show", "job", "-o", job], capture_output=True,
                           text=True, check=False).stdout  # fmt: skip
    found = re.search(r"JobState=(\S+)", shown)
    return found.group(1) if found else "GONE"


def _scores(path: Path) -> list[tuple]:
    keep = ("student", "q1", "q2", "total", "possible", "status", "autograder", "feedback")
    return [tuple(r[k] for k in keep) for r in read_scores(path)]


@pytest.mark.slow
def test_slurm_array_and_merge_equal_one_process(slurm, course, tmp_path, capsys):
    root, autograder, subs = course
    # In the sandbox where bubblewrap works (CI): the grader's real path, inside a Slurm task.
    sandbox = bwrap_problem() is None
    out = tmp_path / "scores.csv"
    assert main(["grade", str(subs), "--autograder", str(autograder), "--out", str(out),
                 "--slurm", "2", "--submit", "--timeout", "300",
                 *([] if sandbox else ["--no-sandbox"])]) == 0  # fmt: skip
    found = re.search(r"grading array (\d+) .* merge job (\d+)", capsys.readouterr().out)
    array, merge = found.groups()
    # The same folder in one process, while Slurm grades it.
    one = tmp_path / "one.csv"
    grade_folder(subs, autograder, one, timeout=300, sandbox=sandbox, progress=None,
                 logs=tmp_path / "logs")  # fmt: skip
    deadline = time.monotonic() + 600
    while (state := _state(merge)) in ("PENDING", "RUNNING", "COMPLETING"):
        assert time.monotonic() < deadline, "the merge job has not ended in 10 minutes"
        time.sleep(0.5)
    logs = {p.name: p.read_text() for p in (cluster_folder(out) / "logs").iterdir()}
    assert state == "COMPLETED", (state, logs)
    assert sorted(logs) == [f"grade-{array}_1.out", f"grade-{array}_2.out", f"merge-{merge}.out"]
    rows = read_scores(out)
    assert [(r["student"], r["total"], r["shard"]) for r in rows] == [
        ("amy", "3.0", "1/2"), ("dee", "2.0", "2/2")]  # fmt: skip
    assert {r["sandbox"] for r in rows} == {"bwrap" if sandbox else "none"}
    assert _scores(out) == _scores(one), [(r["student"], r["reason"]) for r in read_scores(one)]

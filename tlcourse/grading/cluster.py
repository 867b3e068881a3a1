"""Grading on a cluster: a Slurm job array, one shard per task, and a dependent merge job.

:func:`write_cluster_job` writes, beside the scores table (``scores.cluster/`` for
``scores.csv``): ``grade.sbatch`` (task K of the array runs ``tlcourse grade --shard K/N
--resume``), ``merge.sbatch`` (``tlcourse gradebook`` of the shard tables), ``submit.sh``
(submits both, the merge ``--dependency=afterok`` on the array) and ``k8s-job.yaml``, a
Kubernetes Indexed Job of the same shards. Nothing is submitted but by :func:`submit_slurm`
(``--submit``). Slurm needs the submissions, the autograder, this folder and the Python at the
same paths on every node; ``--resume`` makes a rerun of a failed task keep its graded rows.
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

from tlcourse.errors import check_int, check_real, invalid_parameter
from tlcourse.grading.autograder import DIST_DIR, resolve_autograder
from tlcourse.grading.gradebook import in_shard
from tlcourse.grading.submissions import submission_files

__all__ = ["cluster_folder", "submit_slurm", "write_cluster_job"]

_GRADE = """#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --array=1-{tasks}
#SBATCH --cpus-per-task={jobs}
#SBATCH --time={minutes}
#SBATCH --output={logs}/grade-%A_%a.out
# One shard per array task. Partition, account and memory: sbatch's -p/-A/--mem, or its
# SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_MEM_PER_NODE variables when submitting.
set -euo pipefail
K=$SLURM_ARRAY_TASK_ID
exec {python} -m tlcourse.cli {grade} --out {folder}/shard-$K-of-{tasks}.csv --shard $K/{tasks}
"""
_MERGE = """#!/bin/bash
#SBATCH --job-name={name}-merge
#SBATCH --time=30
#SBATCH --output={logs}/merge-%j.out
# Runs after every task of the grading array succeeded (submit.sh: --dependency=afterok).
set -euo pipefail
exec {python} -m tlcourse.cli gradebook {shards} --out {out}
"""
_SUBMIT = """#!/bin/bash
# Submit the grading array, then the merge that waits for all of it: bash {folder}/submit.sh
set -euo pipefail
array=$(sbatch --parsable {folder}/grade.sbatch)
array=${{array%%;*}}
merge=$(sbatch --parsable --dependency=afterok:$array {folder}/merge.sbatch)
merge=${{merge%%;*}}
echo "submitted: grading array $array ({tasks} tasks), merge job $merge -> {out}"
"""
_K8S = """# A Kubernetes Indexed Job of the same {tasks} shards: pod INDEX (JOB_COMPLETION_INDEX,
# 0 to {last}) grades shard INDEX+1. Written by tlcourse, never run by it. Before
# `kubectl apply -f`, set the image (one with tlcourse installed) and a volume claim that holds
# {root}, mounted at that same path so the paths below hold. bubblewrap in a pod needs user
# namespaces, which the default seccomp profile usually refuses: allow them in the pod's
# profile, or grade with --no-sandbox only what you trust. Once the Job is complete, merge:
#   kubectl wait --for=condition=complete --timeout=-1s job/{name}
#   {merge}
apiVersion: batch/v1
kind: Job
metadata:
  name: {name}
spec:
  completionMode: Indexed
  completions: {tasks}
  parallelism: {tasks}
  backoffLimit: {tasks}
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: grade
          image: tlcourse-grader
          command: {command}
          resources:
            requests: {{cpu: "{jobs}"}}
          volumeMounts:
            - {{name: course, mountPath: {root}}}
      volumes:
        - name: course
          persistentVolumeClaim: {{claimName: tlcourse-course}}
"""


def cluster_folder(out: str | os.PathLike) -> Path:
    """The folder beside the scores table for its cluster job.

    Example:
        >>> cluster_folder("grades/hw1.csv").as_posix()
        'grades/hw1.cluster'
    """
    return Path(out).with_name(f"{Path(out).stem}.cluster")


def write_cluster_job(submissions: str | os.PathLike, autograder: str | os.PathLike,
                      out: str | os.PathLike, tasks: int, *, jobs: int = 1, timeout: float = 600,
                      options: list[str] | tuple[str, ...] = (),
                      dist: str | os.PathLike = DIST_DIR) -> Path:  # fmt: skip
    """Write the scripts and manifest that grade ``submissions`` in ``tasks`` shards into
    ``out``; return their folder. ``jobs`` (the CPUs a task asks for), ``timeout``: ``tlcourse
    grade``'s (a task's time limit: its shard's submissions, ``jobs`` at a time, ``timeout``
    each, plus 10 minutes); ``options``: its other options, as given (``--fast``, ``--logs``).

    Example:
        >>> write_cluster_job("submissions/", "02", "scores.csv", tasks=0)
        Traceback (most recent call last):
        ...
        tlcourse.errors.InvalidParameterError: The 'tasks' parameter of write_cluster_job must \
be an int >= 1. Got 0 instead.
    """
    func = "write_cluster_job"
    tasks, jobs = check_int("tasks", tasks, func, low=1), check_int("jobs", jobs, func, low=1)
    timeout = check_real("timeout", timeout, func, low=0, low_open=True)
    subs, out = Path(submissions).absolute(), Path(out).absolute()
    files = submission_files(subs, func)
    zip_path = resolve_autograder(autograder, dist).absolute()
    folder = cluster_folder(out)
    (folder / "logs").mkdir(parents=True, exist_ok=True)
    largest = max(sum(in_shard(p.stem, k, tasks) for p in files) for k in range(1, tasks + 1))
    minutes = math.ceil(math.ceil(largest / jobs) * timeout / 60) + 10
    grade = ["grade", str(subs), "--autograder", str(zip_path), "--resume", "--jobs", str(jobs),
             "--timeout", f"{timeout:g}", *options]  # fmt: skip
    shards = [str(folder / f"shard-{k}-of-{tasks}.csv") for k in range(1, tasks + 1)]
    merge = ["gradebook", *shards, "--out", str(out)]
    name = re.sub(r"[^a-z0-9-]+", "-", f"grade-{out.stem}".lower()).strip("-")[:50]
    python = shlex.quote(sys.executable)
    fill = {"name": name, "tasks": tasks, "jobs": jobs, "folder": shlex.quote(str(folder)),
            "out": shlex.quote(str(out)), "python": python, "logs": folder / "logs"}  # fmt: skip
    texts = {"grade.sbatch": _GRADE.format(**fill, minutes=minutes, grade=shlex.join(grade)),
             "merge.sbatch": _MERGE.format(**fill, shards=shlex.join(shards)),
             "submit.sh": _SUBMIT.format(**fill)}  # fmt: skip
    # The pod's shell computes K; its shard table is named like Slurm's.
    pod = (f"K=$((JOB_COMPLETION_INDEX + 1)); exec tlcourse {shlex.join(grade)} --out "
           f"{fill['folder']}/shard-$K-of-{tasks}.csv --shard $K/{tasks}")  # fmt: skip
    root = os.path.commonpath([subs, zip_path.parent, folder, out.parent])
    texts["k8s-job.yaml"] = _K8S.format(
        **fill, last=tasks - 1, root=json.dumps(root), merge="tlcourse " + shlex.join(merge),
        command=json.dumps(["bash", "-c", pod]),
    )  # fmt: skip
    for file, text in texts.items():
        (folder / file).write_text(text, encoding="utf-8")
    for file in ("grade.sbatch", "merge.sbatch", "submit.sh"):
        (folder / file).chmod(0o755)
    return folder


def submit_slurm(folder: str | os.PathLike) -> tuple[str, str]:
    """Run ``folder/submit.sh`` (``sbatch``); return the array's and the merge's job ids, or
    raise ``InvalidParameterError`` with sbatch's message."""
    script = str(Path(folder) / "submit.sh")
    done = subprocess.run(["bash", script], capture_output=True, text=True, check=False)
    found = re.search(r"grading array (\S+) .* merge job (\S+)", done.stdout)
    if done.returncode != 0 or found is None:
        raise invalid_parameter(
            "folder", "submit_slurm", "a job sbatch accepts", str(folder),
            f"sbatch said: {(done.stderr or done.stdout).strip()[-500:]}",
        )  # fmt: skip
    return found.group(1), found.group(2)

"""``tlcourse assign`` and ``tlcourse grade``: the graded notebooks, for instructors."""

from __future__ import annotations

import os

__all__ = ["add_parser"]


def _run_assign(args) -> int:
    from tlcourse.grading import assign_all

    assigned = assign_all(args.masters, args.out, args.student_dir, run_tests=args.run_tests,
                          colab=args.colab or args.colab_install is not None,
                          colab_install=args.colab_install, gradescope=args.gradescope)  # fmt: skip
    print(f"{len(assigned)} notebook(s): student versions in {args.student_dir}/, "
          f"autograders in {args.out}/NAME/autograder/NAME-autograder.zip")  # fmt: skip
    return 0


def _run_slurm(args) -> int:
    from tlcourse.errors import invalid_parameter
    from tlcourse.grading.cluster import submit_slurm, write_cluster_job

    if args.shard is not None:  # each task grades its own
        raise invalid_parameter("shard", "tlcourse grade", "left out with --slurm", args.shard)
    options = ["--fast"] * args.fast + ["--no-sandbox"] * args.no_sandbox
    options += [] if args.memory is None else ["--memory", f"{args.memory:g}"]
    options += [] if args.logs is None else ["--logs", os.path.abspath(args.logs)]
    folder = write_cluster_job(args.submissions, args.autograder, args.out, args.slurm,
                               jobs=args.jobs, timeout=args.timeout, options=options,
                               dist=args.dist)  # fmt: skip
    print(f"cluster job: {folder}/ (grade.sbatch, merge.sbatch, submit.sh, k8s-job.yaml)")
    if not args.submit:
        print(f"submit it with: bash {folder}/submit.sh")
        return 0
    array, merge = submit_slurm(folder)
    print(f"submitted: grading array {array} ({args.slurm} tasks), merge job {merge} -> {args.out}")
    return 0


def _run_grade(args) -> int:
    from tlcourse.errors import invalid_parameter
    from tlcourse.grading import STATUSES, grade_folder

    if args.slurm is not None:
        return _run_slurm(args)
    if args.submit:
        raise invalid_parameter("submit", "tlcourse grade", "given with --slurm N", True)

    from tlcourse.grading.sandbox import Limits

    limits = Limits() if args.memory is None else Limits(memory=int(args.memory * (1 << 30)))
    table = grade_folder(args.submissions, args.autograder, args.out, timeout=args.timeout,
                         jobs=args.jobs, dist=args.dist, logs=args.logs, fast=args.fast,
                         sandbox=not args.no_sandbox, limits=limits, shard=args.shard,
                         resume=args.resume)  # fmt: skip
    counts = table["status"].value_counts()
    statuses = ", ".join(f"{counts[s]} {s}" for s in STATUSES if s in counts)
    where = "" if not args.no_sandbox else "; graded WITHOUT a sandbox"
    print(f"scores: {args.out} ({len(table)} submission(s): {statuses}{where})")
    return 0


def _run_gradebook(args) -> int:
    from pathlib import Path

    from tlcourse.grading.gradebook import ScoreFile, merge_shards, write_canvas, write_feedback

    rows, columns = merge_shards([Path(p) for p in args.shards])
    if args.out:
        ScoreFile(Path(args.out), columns).replace(rows)
        print(f"gradebook: {args.out} ({len(rows)} students from {len(args.shards)} table(s))")
    if args.canvas:
        name = args.assignment or (rows[0]["autograder"].split("@")[0] if rows else "Grade")
        write_canvas(rows, Path(args.canvas), name, args.roster)
        print(f"Canvas import: {args.canvas} (column {name!r})")
    if args.feedback:
        write_feedback(rows, columns, Path(args.feedback))
        print(f"feedback: {len(rows)} file(s) in {args.feedback}/ (no hidden test shown)")
    return 0


def _add(parser, *specs) -> None:
    """``(flags, help, options)`` triples as arguments of ``parser``."""
    for flags, text, options in specs:
        parser.add_argument(*flags.split(), help=text, **options)


def add_parser(sub) -> None:
    """Add the ``assign``, ``grade`` and ``gradebook`` subcommands to ``sub``."""
    about = "student notebooks and autograders from the master notebooks (otter)"
    assign = sub.add_parser("assign", help=about)
    _add(assign,
        ("--masters", "folder of master notebooks (default: notebooks/masters)",
         {"default": "notebooks/masters"}),
        ("--out", "build folder for otter's output and the autograder zips (default: dist)",
         {"default": "dist"}),
        ("--student-dir", "where the student notebooks are written (default: notebooks/student)",
         {"default": "notebooks/student"}),
        ("--run-tests", "let otter execute each solutions notebook against its tests (slow; set "
         "TLCOURSE_FAST=1 for the fast mode)", {"action": "store_true"}),
        ("--colab", "also build Colab versions (notebook + tests/ folder + zip) in OUT/colab/",
         {"action": "store_true"}),
        ("--colab-install", "pip requirement the Colab versions install tlcourse from, e.g. "
         "'tlcourse @ git+https://github.com/ORG/REPO' (implies --colab)",
         {"default": None, "metavar": "REQUIREMENT"}),
        ("--gradescope", "also write OUT/NAME/gradescope/NAME-gradescope.zip, to upload as a "
         "Gradescope autograder; MODE: the grader's mode (full, the default, or fast)",
         {"nargs": "?", "const": "full", "choices": ["full", "fast"], "metavar": "MODE"}),
    )  # fmt: skip
    assign.set_defaults(func=_run_assign)

    about = "grade a folder of submitted notebooks offline (otter run) into a CSV"
    grade = sub.add_parser("grade", help=about)
    _add(grade,
        ("submissions", "folder of submitted .ipynb (or otter .zip) files, one per student",
         {"metavar": "SUBMISSIONS"}),
        ("--autograder", "autograder zip, or a notebook name such as 02 or "
         "02_training_from_scratch, looked up in --dist", {"required": True}),
        ("--out", "CSV of scores, one row per student, written as each finishes (default: "
         "scores.csv)", {"default": "scores.csv"}),
        ("--timeout", "seconds per submission before it is stopped (default: 600)",
         {"type": float, "default": 600}),
        ("--jobs", "submissions graded at the same time (default: 1)", {"type": int, "default": 1}),
        ("--dist", "build folder of `tlcourse assign` (default: dist)", {"default": "dist"}),
        ("--logs", "keep each student's log in DIR (for you: it names hidden tests)",
         {"default": None, "metavar": "DIR"}),
        ("--fast", "run the notebooks in fast mode: the grader sets FAST = True right after "
         "each notebook's parameters cell, whatever the student wrote there",
         {"action": "store_true"}),
        ("--no-sandbox", "run submissions WITHOUT the bubblewrap sandbox, with your permissions "
         "(only for submissions you trust; the CSV says so per row)", {"action": "store_true"}),
        ("--memory", "memory limit per submission in GiB (default: 8)",
         {"type": float, "default": None, "metavar": "GIB"}),
        ("--shard", "grade only the K-th of N parts of SUBMISSIONS (by a hash of each file "
         "name, so a late submission moves no one else); merge with `tlcourse gradebook`",
         {"default": None, "metavar": "K/N"}),
        ("--resume", "keep the rows already in --out graded with this same autograder, grade "
         "the rest", {"action": "store_true"}),
        ("--slurm", "grade nothing here: write a Slurm job array of N shards and its merge into "
         "--out (and a Kubernetes Indexed Job) in a folder beside --out",
         {"type": int, "default": None, "metavar": "N"}),
        ("--submit", "with --slurm: submit them (sbatch)", {"action": "store_true"}))  # fmt: skip
    grade.set_defaults(func=_run_grade)

    about = "merge score tables (shards) and export Canvas grades and feedback"
    book = sub.add_parser("gradebook", help=about)
    _add(book,
        ("shards", "tables of `tlcourse grade`", {"nargs": "+", "metavar": "SCORES.csv"}),
        ("--out", "the merged table (CSV)", {"default": None}),
        ("--canvas", "a Canvas gradebook import CSV", {"default": None, "metavar": "CSV"}),
        ("--roster", "a Canvas gradebook export: file names matched to its SIS Login ID, SIS "
         "User ID or ID", {"default": None, "metavar": "CSV"}),
        ("--assignment", "the Canvas column (default: the assignment name)", {"default": None}),
        ("--feedback", "one STUDENT.md per student: public tests and their messages, hidden "
         "tests only counted", {"default": None, "metavar": "DIR"}))  # fmt: skip
    book.set_defaults(func=_run_gradebook)

"""``tlcourse assign`` and ``tlcourse grade``: the graded notebooks, for instructors."""

from __future__ import annotations

__all__ = ["add_parser"]


def _run_assign(args) -> int:
    from tlcourse.grading import assign_all

    assigned = assign_all(
        args.masters,
        args.out,
        args.student_dir,
        run_tests=args.run_tests,
        colab=args.colab or args.colab_install is not None,
        colab_install=args.colab_install,
    )
    print(
        f"{len(assigned)} notebook(s): student versions in {args.student_dir}/, "
        f"autograders in {args.out}/NAME/autograder/NAME-autograder.zip"
    )
    return 0


def _run_grade(args) -> int:
    from tlcourse.grading import STATUSES, grade_folder
    from tlcourse.grading.sandbox import Limits

    limits = Limits() if args.memory is None else Limits(memory=int(args.memory * (1 << 30)))
    table = grade_folder(
        args.submissions,
        args.autograder,
        args.out,
        timeout=args.timeout,
        jobs=args.jobs,
        dist=args.dist,
        logs=args.logs,
        fast=args.fast,
        sandbox=not args.no_sandbox,
        limits=limits,
        shard=args.shard,
        resume=args.resume,
    )
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


def add_parser(sub) -> None:
    """Add the ``assign`` and ``grade`` subcommands to ``sub`` (argparse subparsers)."""
    assign = sub.add_parser(
        "assign", help="student notebooks and autograders from the master notebooks (otter)"
    )
    assign.add_argument(
        "--masters",
        default="notebooks/masters",
        help="folder of master notebooks (default: notebooks/masters)",
    )
    assign.add_argument(
        "--out",
        default="dist",
        help="build folder for otter's output and the autograder zips (default: dist)",
    )
    assign.add_argument(
        "--student-dir",
        default="notebooks/student",
        help="where the student notebooks are written (default: notebooks/student)",
    )
    assign.add_argument(
        "--run-tests",
        action="store_true",
        help="let otter execute each solutions notebook against its tests "
        "(slow; set TLCOURSE_FAST=1 for the fast mode)",
    )
    assign.add_argument(
        "--colab",
        action="store_true",
        help="also build Colab versions (notebook + tests/ folder + zip) in OUT/colab/",
    )
    assign.add_argument(
        "--colab-install",
        default=None,
        metavar="REQUIREMENT",
        help="pip requirement the Colab versions install tlcourse from, e.g. "
        "'tlcourse @ git+https://github.com/ORG/REPO' (implies --colab)",
    )
    assign.set_defaults(func=_run_assign)

    grade = sub.add_parser(
        "grade", help="grade a folder of submitted notebooks offline (otter run) into a CSV"
    )
    grade.add_argument(
        "submissions",
        metavar="SUBMISSIONS",
        help="folder of submitted .ipynb (or otter .zip) files, one per student",
    )
    grade.add_argument(
        "--autograder",
        required=True,
        help="autograder zip, or a notebook name such as 02 or "
        "02_training_from_scratch, looked up in --dist",
    )
    grade.add_argument(
        "--out",
        default="scores.csv",
        help="CSV of scores, one row per student (default: scores.csv)",
    )
    grade.add_argument(
        "--timeout",
        type=float,
        default=600,
        help="seconds per submission before it is stopped (default: 600)",
    )
    grade.add_argument(
        "--jobs", type=int, default=1, help="submissions graded at the same time (default: 1)"
    )
    grade.add_argument(
        "--dist", default="dist", help="build folder of `tlcourse assign` (default: dist)"
    )
    grade.add_argument(
        "--logs", default=None, metavar="DIR", help="keep otter's output per student in DIR"
    )
    grade.add_argument(
        "--fast",
        action="store_true",
        help="run the notebooks in fast mode: the grader sets FAST = True right after each "
        "notebook's parameters cell, whatever the student wrote there",
    )
    grade.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run submissions WITHOUT the bubblewrap sandbox, with your permissions (only for "
        "submissions you trust; the CSV says so per row)",
    )
    grade.add_argument(
        "--memory",
        type=float,
        default=None,
        metavar="GIB",
        help="memory limit per submission in GiB (default: 8)",
    )
    grade.add_argument(
        "--shard",
        default=None,
        metavar="K/N",
        help="grade only the K-th of N parts of SUBMISSIONS (by a hash of each file name, so a "
        "late submission moves no one else); merge the tables with `tlcourse gradebook`",
    )
    grade.add_argument(
        "--resume",
        action="store_true",
        help="keep the rows already in --out graded with this same autograder, grade the rest",
    )
    grade.set_defaults(func=_run_grade)

    book = sub.add_parser(
        "gradebook", help="merge score tables (shards) and export Canvas grades and feedback"
    )
    book.add_argument("shards", nargs="+", metavar="SCORES.csv", help="tables of tlcourse grade")
    book.add_argument("--out", default=None, help="the merged table (CSV)")
    book.add_argument("--canvas", default=None, metavar="CSV", help="a Canvas gradebook import")
    book.add_argument(
        "--roster",
        default=None,
        metavar="CSV",
        help="a Canvas gradebook export: file names matched to SIS Login ID, SIS User ID or ID",
    )
    book.add_argument(
        "--assignment", default=None, help="the Canvas column (default: the assignment name)"
    )
    book.add_argument(
        "--feedback",
        default=None,
        metavar="DIR",
        help="one STUDENT.md per student: public tests and messages, hidden tests only counted",
    )
    book.set_defaults(func=_run_gradebook)

"""The grading worker: ``python -m tlcourse.grading.worker SUBMISSION AUTOGRADER REPORT``.

Runs in a process of its own, so that a stuck or crashing submission cannot take the
instructor's process with it. It grades one submission with ``otter run`` and writes a JSON
report: ``{"scores": {question: points}, "possible": {question: points}, "errors": [{"source",
"error"}], "failure": message or None}``.
"""

from __future__ import annotations

import json
import sys
import traceback

__all__ = ["main", "run_otter"]


def run_otter(submission: str, autograder: str) -> dict:
    """Grade ``submission`` with ``otter run`` and return the report (never raises).

    Example:
        >>> run_otter("missing.ipynb", "missing.zip")["failure"] is not None
        True
    """
    report = {"scores": {}, "possible": {}, "errors": [], "failure": None}
    try:
        from otter.run import main as otter_run

        results = otter_run(submission, autograder=autograder, output_dir=None, no_logo=True)
    except BaseException as error:
        traceback.print_exc()
        report["failure"] = f"{type(error).__name__}: {error}"
        return report
    if results.has_catastrophic_failure():
        report["failure"] = f"otter could not read the results: {results.catastrophic_error}"
    for name, test_file in results.results.items():
        report["scores"][name] = float(test_file.score)
        report["possible"][name] = float(test_file.possible)
    for cell in (results.notebook or {}).get("cells", []):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                source = cell.get("source", "")
                report["errors"].append(
                    {
                        "source": "".join(source) if isinstance(source, list) else source,
                        "error": f"{output.get('ename')}: {output.get('evalue')}",
                    }
                )
    return report


def main(argv: list[str] | None = None) -> int:
    """Grade one submission and write the report; the exit status is 0 once it is written."""
    submission, autograder, report_path = (sys.argv[1:] if argv is None else argv)[:3]
    report = run_otter(submission, autograder)
    with open(report_path, "w", encoding="utf-8") as file:
        json.dump(report, file)
    return 0


if __name__ == "__main__":
    sys.exit(main())

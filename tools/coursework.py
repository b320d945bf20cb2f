"""The course's coursework commands: student editions, and grading.

    python tools/coursework.py student notebooks student              # what `make student` runs
    python tools/coursework.py grade submissions/ export.zip --out outputs/grades

``student`` (tools/editions.py) needs only nbformat: ``make student`` runs it with any Python
3.10+ that has it. ``grade`` (tools/grading.py) needs the course's environment, since it
executes the submissions with a kernel that imports gan_helpers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import editions

NOT_ALL_GRADED = 3  # `grade`'s exit status when some submissions could not be graded (summary.md lists them)


def main() -> None:
    parser = argparse.ArgumentParser(description="Write student editions of the chapters, or grade submissions.")
    sub = parser.add_subparsers(dest="command", required=True)
    student = sub.add_parser("student", help="write student editions of every NN_*.ipynb in SOURCE to TARGET")
    student.add_argument("source", type=Path)
    student.add_argument("target", type=Path)
    student.add_argument("--repository", help="owner/name where the student editions are published, for their "
                         "Colab badges (default: the course's, from tools/course.toml)")
    student.add_argument("--branch", help="the branch there (default: the course's)")
    grader = sub.add_parser("grade", help="grade submissions against the instructor editions")
    grader.add_argument("submissions", type=Path, nargs="+", help="notebooks, folders of them (a folder per "
                        "student, or name__file.ipynb) and zips (an LMS export)")
    grader.add_argument("--instructor", type=Path, help="the instructor edition for every submission (default: "
                        "the chapter each names in its metadata, else in its file name)")
    grader.add_argument("--notebooks", type=Path, default=editions.ROOT / "notebooks",
                        help="the folder of instructor editions NN_*.ipynb (default: the course's notebooks/)")
    grader.add_argument("--profile", default="smoke", help="PROFILE parameter of the chapters (default smoke)")
    grader.add_argument("--cell-timeout", type=float, default=300, help="seconds a cell may run (default 300)")
    grader.add_argument("--time-limit", type=float, default=1200, help="seconds a notebook may run (default 1200)")
    grader.add_argument("--out", type=Path, default=Path("outputs/grades"), help="folder for the reports")
    args = parser.parse_args()
    if args.command == "student":
        editions.write_student_editions(args.source, args.target, args.repository, args.branch)
    else:
        import grading  # the course's environment: nbclient, a kernel with gan_helpers

        try:
            results = grading.grade_and_report(
                args.submissions, args.out, instructor=args.instructor, notebooks=args.notebooks,
                profile=args.profile, cell_timeout=args.cell_timeout, time_limit=args.time_limit)
        except (ValueError, grading.SetupError) as error:  # nothing to grade, or no kernel to grade with
            sys.exit(f"error: {error}")
        sys.exit(NOT_ALL_GRADED if any(r.problem for r in results) else 0)


if __name__ == "__main__":
    main()

"""The course's home and release, from tools/course.toml: Colab badges, install cells and links.

    python tools/release.py check          # every badge, install cell and link agrees with course.toml
    python tools/release.py write          # rewrite them from course.toml (after moving the repository)
    python tools/release.py pin v0.2.0     # the release step: the notebooks install gan_helpers from tag v0.2.0

Every public badge opens a **student edition**: the committed copies in student/ (solutions
stubbed, no hidden tests, no answer key), which `write` and `pin` regenerate from notebooks/
(tools/editions.py, the same files `make student` writes) and `check` compares with them.

In a notebook the tool touches only two cells: the first markdown cell (the Colab badge) and the
first code cell (the install line), found by position and written back by cell id right after
reading the file, so edits to the other cells are never overwritten.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

import book
import editions

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomllib's forerunner
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
COURSE = ROOT / "tools" / "course.toml"
STUDENT = "student"  # the committed student editions, in the repository: what every badge opens

# Any repository and ref, and the instructor editions' folder too, so that `write` also replaces an
# old home and the badges that opened the instructor editions.
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/[\w./-]+?/"
                   r"(?:notebooks|student)/(?P<name>[\w.-]+\.ipynb)")
INSTALL = re.compile(r"git\+https://github\.com/[\w.-]+/[\w.-]+@[\w./-]+")
CONFIG_URL = re.compile(r"^(repository:\n  url: )\S+\n(  branch: )\S+$", re.MULTILINE)
CLONE = re.compile(r"git clone https://github\.com/[\w.-]+/(?P<name>[\w.-]+) && cd (?P=name)")
REF = re.compile(r"[\w][\w./-]*")


@dataclass(frozen=True)
class Course:
    repository: str  # owner/name on GitHub
    branch: str  # what the badges and the book's launch buttons open
    release: str  # the tag whose gan_helpers the notebooks install

    @property
    def url(self) -> str:
        return f"https://github.com/{self.repository}"

    @property
    def install_source(self) -> str:
        """What the install cell passes to pip: ``git+https://github.com/<owner>/<name>@<release>``."""
        return f"git+{self.url}@{self.release}"

    def badge_url(self, notebook: str) -> str:
        """Colab's URL of ``notebook``'s student edition (``{name}`` stays a placeholder)."""
        return f"https://colab.research.google.com/github/{self.repository}/blob/{self.branch}/{STUDENT}/{notebook}"


def load_course(path: Path | None = None) -> Course:
    path = path or COURSE
    settings = tomllib.loads(path.read_text())
    course = Course(**{key: settings[key] for key in ("repository", "branch", "release")})
    if not re.fullmatch(r"[\w.-]+/[\w.-]+", course.repository):
        raise SystemExit(f"{path}: repository = {course.repository!r}; expected GitHub's owner/name")
    for key in ("branch", "release"):
        if not REF.fullmatch(getattr(course, key)):
            raise SystemExit(f"{path}: {key} = {getattr(course, key)!r} is not a git branch or tag name")
    return course


def first_cell(notebook, cell_type: str):
    return next((cell for cell in notebook.cells if cell.cell_type == cell_type), None)


def notebook_problems(course: Course, path: Path) -> list[str]:
    """What in ``path``'s badge cell and install cell disagrees with ``course`` (empty: all agree)."""
    notebook = nbformat.read(path, as_version=4)
    install, badge = first_cell(notebook, "code"), first_cell(notebook, "markdown")
    problems = []
    sources = INSTALL.findall(install.source) if install else []
    if sources != [course.install_source] or "%pip install" not in install.source:
        problems.append(f"{path.name}: the first code cell should `%pip install` from {course.install_source}; found {sources}")
    badges = [m.group(0) for m in BADGE.finditer(badge.source)] if badge else []
    if badges != [course.badge_url(path.name)]:
        problems.append(f"{path.name}: the first markdown cell should hold the badge {course.badge_url(path.name)}; found {badges}")
    return problems


def missing_editions(names) -> list[str]:
    """The badge targets among ``names`` (notebook file names) that student/ does not hold."""
    return [f"{STUDENT}/{name}" for name in names if not (ROOT / STUDENT / name).exists()]


def student_edition_text(course: Course, path: Path) -> str:
    """The student edition of the chapter ``path`` as its file holds it, badge opening itself."""
    edition = editions.student_edition(nbformat.read(path, as_version=4), badge=course.badge_url("{name}"))
    return nbformat.writes(edition) + "\n"


def student_problems(course: Course) -> list[str]:
    """Committed student editions that are missing, stale (their chapter changed since) or orphaned."""
    problems = []
    for path in book.chapter_notebooks():
        committed = ROOT / STUDENT / path.name
        if not committed.exists():
            problems.append(f"{STUDENT}/{path.name} is missing")
        elif json.loads(committed.read_text()) != json.loads(student_edition_text(course, path)):
            problems.append(f"{STUDENT}/{path.name} is stale: notebooks/{path.name} changed since it was written")
    chapters = {path.name for path in book.chapter_notebooks()}
    problems += [f"{STUDENT}/{path.name} has no chapter in notebooks/" for path in sorted((ROOT / STUDENT).glob("*.ipynb"))
                 if path.name not in chapters]
    if problems:
        problems.append("run `make student` (or `python tools/release.py write`) and commit student/")
    return problems


def write_student_editions(course: Course) -> list[Path]:
    """Write every chapter's student edition to student/; returns the files that changed."""
    (ROOT / STUDENT).mkdir(exist_ok=True)
    changed = []
    for path in book.chapter_notebooks():
        target, text = ROOT / STUDENT / path.name, student_edition_text(course, path)
        if not target.exists() or target.read_text() != text:
            target.write_text(text)
            changed.append(target)
    return changed


def text_problems(course: Course) -> list[str]:
    """README badges, the book's repository link and the clone command against ``course``."""
    problems = []
    readme = (ROOT / "README.md").read_text()
    badges = list(BADGE.finditer(readme))
    wrong = [m.group(0) for m in badges if m.group(0) != course.badge_url(m["name"])]
    if wrong:
        problems.append(f"README.md: badges that do not open {course.repository}@{course.branch}'s student editions: {wrong}")
    chapters = [path.name for path in book.chapter_notebooks()]
    if sorted(m["name"] for m in badges) != chapters:
        problems.append(f"README.md: one Colab badge per chapter expected ({chapters}); found {[m['name'] for m in badges]}")
    missing = missing_editions(sorted({m["name"] for m in badges} | set(chapters)))
    if missing:
        problems.append(f"the badges open {missing}, which the repository does not hold: run `make student` and commit student/")
    config = CONFIG_URL.search((ROOT / "_config.yml").read_text())
    if not config or config.group(0) != f"repository:\n  url: {course.url}\n  branch: {course.branch}":
        problems.append(f"_config.yml: repository should be url {course.url}, branch {course.branch}")
    running = (ROOT / "book" / "running.md").read_text()
    if any(m.group(0) != f"git clone {course.url} && cd {m['name']}" for m in CLONE.finditer(running)):
        problems.append(f"book/running.md: the clone command should name {course.url}")
    return problems


def write_notebook(course: Course, path: Path) -> bool:
    """Rewrite the badge and install cells of ``path`` from ``course``; True if anything changed."""
    notebook = nbformat.read(path, as_version=4)  # read right before writing: others edit other cells
    changed = False
    for cell, pattern, new in (
        (first_cell(notebook, "markdown"), BADGE, course.badge_url(path.name)),
        (first_cell(notebook, "code"), INSTALL, course.install_source),
    ):
        if cell is None:
            continue
        source = pattern.sub(new, cell.source)
        if source != cell.source:
            cell.source, changed = source, True
    if changed:
        nbformat.write(notebook, path)
    return changed


def write(course: Course) -> list[Path]:
    """Put ``course`` into every notebook, the README, _config.yml and book/running.md, then write
    the student editions the badges open; returns the changed files."""
    changed = [path for path in book.chapter_notebooks() if write_notebook(course, path)]
    edits = {
        ROOT / "README.md": lambda text: BADGE.sub(lambda m: course.badge_url(m["name"]), text),
        ROOT / "_config.yml": lambda text: CONFIG_URL.sub(rf"\g<1>{course.url}\n\g<2>{course.branch}", text),
        ROOT / "book" / "running.md": lambda text: CLONE.sub(
            f"git clone {course.url} && cd {course.repository.split('/')[1]}", text),
    }
    for path, edit in edits.items():
        text = path.read_text()
        if edit(text) != text:
            path.write_text(edit(text))
            changed.append(path)
    return changed + write_student_editions(course)


def pin(ref: str) -> Course:
    """The release step: record ``ref`` in course.toml and write it into every install cell."""
    if not REF.fullmatch(ref):
        raise SystemExit(f"{ref!r} is not a git tag name")
    text = COURSE.read_text()
    COURSE.write_text(re.sub(r'^release = "[^"]*"', f'release = "{ref}"', text, count=1, flags=re.MULTILINE))
    course = load_course()
    for path in write(course):
        print(f"wrote {path.relative_to(ROOT)}")
    print(f"Next: commit these files, then `git tag {ref} && git push origin {ref}`: the tag is what the notebooks install.")
    return course


def release_drift(course: Course) -> str | None:
    """A note when the released tag exists here and its gan_helpers differs from this checkout's."""
    def git(*args: str) -> int:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True).returncode

    if git("rev-parse", "--verify", "--quiet", f"{course.release}^{{commit}}") != 0:
        return f"tag {course.release} is not in this clone yet: the release step creates it"
    if git("diff", "--quiet", course.release, "--", "gan_helpers", "pyproject.toml") != 0:
        return f"gan_helpers changed since {course.release}: Colab users get the released version until the next `pin`"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("check", help="exit 1 if a badge, install cell or link disagrees with course.toml")
    sub.add_parser("write", help="rewrite badges, install cells and links from course.toml")
    sub.add_parser("pin", help="the release step: notebooks install gan_helpers from this tag").add_argument("tag")
    args = parser.parse_args()
    if args.command == "pin":
        pin(args.tag)
        return
    course = load_course()
    if args.command == "write":
        for path in write(course):
            print(f"wrote {path.relative_to(ROOT)}")
        return
    problems = ([p for path in book.chapter_notebooks() for p in notebook_problems(course, path)] + text_problems(course)
                + student_problems(course))
    print("\n".join(problems) or f"every notebook installs {course.install_source} and opens {course.repository}@{course.branch}")
    note = release_drift(course)
    if note:
        print(f"note: {note}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()

"""The GPU build of the book (.github/workflows/book-gpu.yml): one job per chapter, then one that
assembles the book. The workflow's two halves run here on the CPU in the smoke profile."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

import book  # tools/book.py

WORKFLOW = book.ROOT / ".github" / "workflows" / "book-gpu.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def test_one_gpu_job_per_chapter_then_the_book_then_pages(workflow):
    jobs = workflow["jobs"]
    # the matrix is the chapter list the repository itself prints
    chapters = subprocess.run([sys.executable, str(book.ROOT / "tools" / "book.py"), "chapters"],
                              capture_output=True, text=True, check=True).stdout
    assert json.loads(chapters) == [nb.stem for nb in book.chapter_notebooks()]
    assert any("tools/book.py chapters" in r and "GITHUB_OUTPUT" in r for r in runs(jobs["chapters"]))

    execute = jobs["execute"]
    assert {"self-hosted", "gpu"} <= set(execute["runs-on"])
    assert execute["strategy"]["matrix"]["chapter"] == "${{ fromJSON(needs.chapters.outputs.list) }}"
    assert execute["strategy"]["fail-fast"] is False
    assert any("tools/book.py execute --profile full" in r and "${{ matrix.chapter }}" in r for r in runs(execute))
    upload = next(s for s in execute["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert set(upload["with"]["path"].splitlines()) == {
        "executed/full/${{ matrix.chapter }}.ipynb", "executed/full/${{ matrix.chapter }}.status.json",
        "outputs/full/${{ matrix.chapter }}/"}

    assemble = jobs["book"]
    assert assemble["needs"] == "execute"
    download = next(s for s in assemble["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert download["with"] == {"pattern": "chapter-*", "merge-multiple": True, "path": "."}
    assert any("tools/book.py build --profile full --executed-dir executed/full" in r for r in runs(assemble))
    pages = next(s for s in assemble["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert pages["with"]["path"] == "_build/html"

    publish = jobs["publish"]
    assert publish["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in publish["steps"])


def test_the_two_halves_on_the_cpu_in_smoke(tmp_path, monkeypatch):
    """Half 1: the execute job's command for chapter 1, in its own folder (as on its own runner).
    Half 2: the artifacts merged into one tree (as download-artifact does), and the book job's
    build command staging the book from them. jupyter-book itself is not run here: the book
    tests build the same executed copies."""
    chapter = "01_vanilla_gan"
    job = tmp_path / "jobs" / chapter
    result = subprocess.run(
        [sys.executable, str(book.ROOT / "tools" / "book.py"), "execute", "--profile", "smoke", "--force", chapter,
         "--out-root", str(job / "executed"), "--outputs-root", str(job / "outputs")],
        capture_output=True, text=True, cwd=book.ROOT, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    artifact = [job / "executed" / "smoke" / f"{chapter}.ipynb", job / "executed" / "smoke" / f"{chapter}.status.json",
                job / "outputs" / "smoke" / chapter]
    assert all(path.exists() for path in artifact), [str(p) for p in artifact if not p.exists()]
    assert json.loads(artifact[1].read_text())["status"] == "executed"
    assert (artifact[2] / "metrics.json").exists()

    # the other chapters' jobs: recorded as skipped (what a runner without their data uploads)
    merged = tmp_path / "merged"
    shutil.copytree(job, merged, dirs_exist_ok=True)
    for notebook in book.chapter_notebooks():
        if notebook.stem != chapter:
            book.write_status(merged / "executed" / "smoke", notebook.stem, status="skipped", reason="test: not run",
                              missing="test: this job was not run", profile="smoke", seconds=None, headline="-")

    commands = []
    monkeypatch.setattr(book.subprocess, "run", lambda command, **kw: commands.append(command) or
                        subprocess.CompletedProcess(command, 0))
    monkeypatch.setattr(sys, "argv", ["book.py", "build", "--profile", "smoke", "--executed-dir", str(merged / "executed" / "smoke")])
    book.main()
    (command,) = commands
    src = book.ROOT / "_build" / "src"
    assert Path(command[0]).name == "jupyter-book" and command[1:3] == ["build", str(src)]
    staged = nbformat.read(src / "notebooks" / f"{chapter}.ipynb", as_version=4)
    executed = nbformat.read(artifact[0], as_version=4)
    assert sum(len(c.get("outputs", [])) for c in staged.cells) > 10  # the executed copy, outputs and all
    assert [c.source for c in staged.cells] == [c.source.replace(book.NBVAL_MARK + "\n", "") for c in executed.cells
                                                if "injected-parameters" not in c.metadata.get("tags", [])]
    for notebook in book.chapter_notebooks():
        assert (src / "notebooks" / notebook.name).exists(), f"{notebook.name} is not in the staged book"

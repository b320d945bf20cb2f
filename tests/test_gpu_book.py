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
    listed = {stage: json.loads(subprocess.run(
        [sys.executable, str(book.ROOT / "tools" / "book.py"), "chapters", "--stage", stage],
        capture_output=True, text=True, check=True).stdout) for stage in ("train", "score")}
    assert listed["train"] + listed["score"] == [nb.stem for nb in book.chapter_notebooks()]
    assert listed["score"] == ["06_evaluation"]  # it reads the others' outputs: it runs after them
    (listing,) = runs(jobs["chapters"])
    assert "chapters --stage train" in listing and "chapters --stage score" in listing and "GITHUB_OUTPUT" in listing

    execute = jobs["execute"]
    assert {"self-hosted", "gpu"} <= set(execute["runs-on"])
    assert execute["strategy"]["matrix"]["chapter"] == "${{ fromJSON(needs.chapters.outputs.train) }}"
    assert execute["strategy"]["fail-fast"] is False
    assert any("tools/book.py execute --profile full" in r and "${{ matrix.chapter }}" in r for r in runs(execute))
    upload = next(s for s in execute["steps"] if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()"
    assert set(upload["with"]["path"].splitlines()) == {
        "executed/full/${{ matrix.chapter }}.ipynb", "executed/full/${{ matrix.chapter }}.status.json",
        "outputs/full/${{ matrix.chapter }}/"}

    score = jobs["score"]
    assert score["needs"] == ["chapters", "execute"] and score["if"] == "${{ !cancelled() }}"
    assert score["strategy"]["matrix"]["chapter"] == "${{ fromJSON(needs.chapters.outputs.score) }}"
    names = [s.get("uses", s.get("run", "")) for s in score["steps"]]
    gather = next(i for i, n in enumerate(names) if n.startswith("actions/download-artifact"))
    run_it = next(i for i, n in enumerate(names) if "tools/book.py execute --profile full" in n)
    keep = next(i for i, n in enumerate(names) if n.startswith("actions/upload-artifact"))
    assert gather < run_it < keep  # the others' outputs are in place before chapter 6 reads them
    assert score["steps"][gather]["with"] == {"pattern": "chapter-*", "merge-multiple": True, "path": "."}
    assert score["steps"][keep]["with"]["path"] == upload["with"]["path"]  # the same artifact layout

    assemble = jobs["book"]
    assert assemble["needs"] == ["execute", "score"]
    download = next(s for s in assemble["steps"] if s.get("uses", "").startswith("actions/download-artifact"))
    assert download["with"] == {"pattern": "chapter-*", "merge-multiple": True, "path": "."}
    assert any("tools/book.py build --profile full --executed-dir executed/full" in r for r in runs(assemble))
    pages = next(s for s in assemble["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert pages["with"]["path"] == "_build/html"

    publish = jobs["publish"]
    assert publish["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in publish["steps"])


def test_the_execute_command_runs_one_chapter_into_the_folders_it_is_given(monkeypatch, tmp_path):
    """The execute job's command line reaches book.execute with one chapter and its own folders."""
    calls = []
    monkeypatch.setattr(book, "execute", lambda *args, **kwargs: calls.append((args, kwargs)))
    monkeypatch.setattr(sys, "argv", ["book.py", "execute", "--profile", "full", "--force", "03_dcgan_celeba",
                                      "--out-root", str(tmp_path / "executed"), "--outputs-root", str(tmp_path / "outputs")])
    book.main()
    ((args, kwargs),) = calls
    assert args == ("full", True) and kwargs["notebooks"] == [book.NOTEBOOKS / "03_dcgan_celeba.ipynb"]
    assert kwargs["out_root"] == tmp_path / "executed" and kwargs["outputs_root"] == tmp_path / "outputs"


def test_the_book_job_builds_from_artifacts_gathered_from_one_job_per_chapter(executed_smoke, tmp_path, monkeypatch):
    """The chapters executed in smoke (the session's executed copies, made by the same
    book.execute as each GPU job) are packed as the workflow's artifacts, one folder per
    chapter with the workflow's paths, merged as download-artifact does, and the book job's
    build command stages the book from them. jupyter-book itself is not run here: test_book.py
    builds the same executed copies."""
    merged = tmp_path / "merged"
    for notebook in book.chapter_notebooks():
        job = tmp_path / "jobs" / notebook.stem  # what this chapter's upload-artifact step keeps
        for name in (f"{notebook.stem}.ipynb", f"{notebook.stem}.status.json"):
            if (executed_smoke["dir"] / name).exists():
                (job / "executed" / "smoke").mkdir(parents=True, exist_ok=True)
                shutil.copy2(executed_smoke["dir"] / name, job / "executed" / "smoke" / name)
        if (executed_smoke["outputs"] / notebook.stem).exists():
            shutil.copytree(executed_smoke["outputs"] / notebook.stem, job / "outputs" / "smoke" / notebook.stem)
        assert (job / "executed" / "smoke" / f"{notebook.stem}.status.json").exists(), notebook.stem
        shutil.copytree(job, merged, dirs_exist_ok=True)  # download-artifact, merge-multiple: true

    commands = []
    monkeypatch.setattr(book.subprocess, "run", lambda command, **kw: commands.append(command) or
                        subprocess.CompletedProcess(command, 0))
    monkeypatch.setattr(sys, "argv", ["book.py", "build", "--profile", "smoke", "--executed-dir", str(merged / "executed" / "smoke")])
    book.main()
    (command,) = commands
    src = book.ROOT / "_build" / "src"
    assert Path(command[0]).name == "jupyter-book" and command[1:3] == ["build", str(src)]
    for notebook in book.chapter_notebooks():
        staged = nbformat.read(src / "notebooks" / notebook.name, as_version=4)
        status = json.loads((merged / "executed" / "smoke" / f"{notebook.stem}.status.json").read_text())
        if status["status"] != "executed":
            continue  # a skipped chapter's page: tested in test_book.py
        executed = nbformat.read(merged / "executed" / "smoke" / notebook.name, as_version=4)
        assert sum(len(c.get("outputs", [])) for c in staged.cells) > 5, notebook.stem  # outputs and all
        assert [c.id for c in staged.cells] == [c.id for c in executed.cells
                                                if "injected-parameters" not in c.metadata.get("tags", [])]

"""The GPU build of the book (.github/workflows/book-gpu.yml): one job per chapter, then one that
assembles the book. Its structure is checked here (profile, setup without apt, what persists on the
runner, timeouts from the plan, what each artifact holds); the jobs' artifacts are packed from the
chapters executed in the smoke profile by the rules of upload-artifact, and the book job's build
runs on what its download gives it."""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath

import nbformat
import numpy as np
import pytest
import yaml

import book  # tools/book.py
import gpu_runner  # tools/gpu_runner.py
import plan  # tools/plan.py

WORKFLOW = book.ROOT / ".github" / "workflows" / "book-gpu.yml"
TIMEOUT_FROM_PLAN = "${{ fromJSON(needs.chapters.outputs.timeouts)[matrix.chapter] }}"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def gpu_jobs(workflow: dict) -> dict[str, dict]:
    return {name: job for name, job in workflow["jobs"].items() if "self-hosted" in job["runs-on"]}


def uploads(job: dict) -> list[dict]:
    return [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-artifact")]


def download(job: dict) -> dict:
    (step,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/download-artifact")]
    return step


def expand(text: str, chapter: str, profile: str) -> str:
    """A workflow string for one matrix entry: the expressions and $PROFILE filled in."""
    return (text.replace("${{ matrix.chapter }}", chapter).replace("${{ env.PROFILE }}", profile)
            .replace('"$PROFILE"', profile).replace("$PROFILE", profile))


# --- upload-artifact@v4 and download-artifact@v4, as their READMEs describe them ----------------

WILDCARD = re.compile(r"[*?\[]")


def search_path(pattern: str) -> PurePosixPath:
    """The part of a path pattern before its first wildcard segment."""
    parts = []
    for part in pattern.rstrip("/").split("/"):
        if WILDCARD.search(part):
            break
        parts.append(part)
    return PurePosixPath(*parts)


def pack(workspace: Path, paths: str) -> dict[str, Path]:
    """What upload-artifact keeps of ``paths`` (one per line) in ``workspace``: {path in the
    artifact: file}. A directory takes every file below it, ``**`` any depth (none too); the
    artifact's root is the folder the search paths share (for a single file, its folder)."""
    patterns = [line.strip() for line in paths.splitlines() if line.strip()]
    files = set()
    for pattern in patterns:
        if WILDCARD.search(pattern):
            files |= {p for p in workspace.glob(pattern) if p.is_file()}
        elif (workspace / pattern).is_dir():
            files |= {p for p in (workspace / pattern).rglob("*") if p.is_file()}
        elif (workspace / pattern).is_file():
            files.add(workspace / pattern)
    searches = [search_path(p) for p in patterns]
    if len(searches) == 1 and (workspace / searches[0]).is_file():
        base = searches[0].parent
    else:
        base = PurePosixPath(os.path.commonpath([str(s) for s in searches]))
    return {p.relative_to(workspace / base).as_posix(): p for p in files}


def artifacts_of(job: dict, workspace: Path, chapter: str, profile: str, when: str = "success") -> dict[str, dict[str, Path]]:
    """{artifact name: its files} that ``job``'s upload steps make for ``chapter`` (steps with
    ``if: failure()`` only when ``when`` is "failure")."""
    made = {}
    for step in uploads(job):
        condition = step.get("if", "success()")
        if condition not in ("always()", f"{when}()"):
            continue
        made[expand(step["with"]["name"], chapter, profile)] = pack(workspace, expand(step["with"]["path"], chapter, profile))
    return made


def gather(step: dict, artifacts: dict[str, dict[str, Path]], target: Path, profile: str) -> Path:
    """download-artifact with ``pattern`` and ``merge-multiple: true``: every matching artifact's
    files copied into ``target / path``; returns that folder."""
    assert step["with"].get("merge-multiple") is True
    folder = target / expand(step["with"]["path"], "", profile)
    for name, files in artifacts.items():
        if fnmatch.fnmatchcase(name, step["with"]["pattern"]):
            for relative, source in files.items():
                (folder / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, folder / relative)
    return folder


# --- the jobs ----------------------------------------------------------------------------------


def test_one_gpu_job_per_chapter_then_the_book_then_pages(workflow):
    jobs = workflow["jobs"]
    # the matrix is the chapter list the repository itself prints
    listed = {stage: json.loads(subprocess.run(
        [sys.executable, str(book.ROOT / "tools" / "book.py"), "chapters", "--stage", stage],
        capture_output=True, text=True, check=True).stdout) for stage in ("train", "score")}
    assert listed["train"] + listed["score"] == [nb.stem for nb in book.chapter_notebooks()]
    assert listed["score"] == ["06_evaluation"]  # it reads the others' outputs: it runs after them
    (listing,) = [r for r in runs(jobs["chapters"]) if "GITHUB_OUTPUT" in r]
    assert "chapters --stage train" in listing and "chapters --stage score" in listing
    assert set(jobs["chapters"]["outputs"]) == {"train", "score", "timeouts"}

    execute = jobs["execute"]
    assert {"self-hosted", "gpu"} <= set(execute["runs-on"])
    assert execute["strategy"]["matrix"]["chapter"] == "${{ fromJSON(needs.chapters.outputs.train) }}"
    assert execute["strategy"]["fail-fast"] is False

    score = jobs["score"]
    assert score["needs"] == ["chapters", "execute"] and score["if"] == "${{ !cancelled() }}"
    assert score["strategy"]["matrix"]["chapter"] == "${{ fromJSON(needs.chapters.outputs.score) }}"
    names = [s.get("uses", s.get("run", "")) for s in score["steps"]]
    gather_at = next(i for i, n in enumerate(names) if n.startswith("actions/download-artifact"))
    run_at = next(i for i, n in enumerate(names) if "tools/book.py execute" in n)
    keep_at = next(i for i, n in enumerate(names) if n.startswith("actions/upload-artifact"))
    assert gather_at < run_at < keep_at  # the others' outputs are in place before chapter 6 reads them

    assemble = jobs["book"]
    assert assemble["needs"] == ["execute", "score"] and assemble["if"] == "${{ !cancelled() }}"
    pages = next(s for s in assemble["steps"] if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert pages["with"]["path"] == "_build/html"

    publish = jobs["publish"]
    assert publish["permissions"] == {"pages": "write", "id-token": "write"}
    assert any(s.get("uses", "").startswith("actions/deploy-pages") for s in publish["steps"])


def test_the_profile_is_gpu_unless_full_is_chosen(workflow):
    """`gpu` (class-size) by default and on tags; `full` (hours per chapter) only when chosen."""
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads the key `on` as True
    inputs = (triggers["workflow_dispatch"] or {}).get("inputs", {})
    assert "profile" in inputs, "Run workflow offers no choice of profile"
    choice = inputs["profile"]
    assert choice["type"] == "choice" and choice["options"] == ["gpu", "full"] and choice["default"] == "gpu"
    assert workflow["env"]["PROFILE"] == "${{ inputs.profile || 'gpu' }}"
    commands = [r for job in workflow["jobs"].values() if "steps" in job for r in runs(job) if "tools/book.py" in r]
    executes = [r for r in commands if "tools/book.py execute" in r]
    builds = [r for r in commands if "tools/book.py build" in r]
    assert len(executes) == 2 and len(builds) == 1  # the training chapters, chapter 6, the book
    assert all('--profile "$PROFILE"' in r for r in executes + builds)
    assert all("${{ matrix.chapter }}" in r for r in executes)
    assert "--profile full" not in WORKFLOW.read_text()


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


# --- setup on the runners: no apt, the data where the chapters read it, kept between jobs -------


def make(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([shutil.which("make"), "-C", str(book.ROOT), *args], capture_output=True, text=True, env=env)


def test_gpu_jobs_set_up_without_apt_or_sudo(workflow, tmp_path):
    targets = set()
    for name, job in gpu_jobs(workflow).items():
        for command in runs(job):
            assert not re.search(r"\b(apt|apt-get|sudo)\b", command), (name, command)
            targets |= set(re.findall(r"\bmake\s+([\w-]+)", command))
    assert targets == {"setup-gpu", "venv"}  # never `make setup`, whose `system` installs Debian packages
    env = {**os.environ, "GAN_DATA_ROOT": str(tmp_path / "data"), "VENV": str(tmp_path / "venv")}
    for target in targets:
        planned = make("-n", target, env=env)
        assert planned.returncode == 0, planned.stderr
        assert not re.search(r"\b(apt-get|sudo)\b", planned.stdout), (target, planned.stdout)
    provision = next(line for line in make("-n", "setup-gpu", env=env).stdout.splitlines() if "provision.py" in line)
    assert "--datasets MNIST" in provision  # what the chapters read; no Fashion-MNIST from Debian


def fake_commands(folder: Path, **scripts: str) -> Path:
    folder.mkdir()
    for name, body in scripts.items():
        (folder / name).write_text(f"#!/bin/sh\n{body}\n")
        (folder / name).chmod(0o755)
    return folder


@pytest.mark.parametrize("case", ["no apt-get", "no root or sudo"])
def test_make_system_skips_apt_with_one_line_where_it_cannot_run(case, tmp_path):
    """Without apt-get, or as a user without sudo, `make system` says what it skipped and succeeds."""
    marker = tmp_path / "apt-get-ran"
    scripts = {"id": "echo 1000"} if case == "no root or sudo" else {"id": "echo 0"}
    if case == "no root or sudo":
        scripts["apt-get"] = f"touch {marker}"
    path = fake_commands(tmp_path / "bin", **scripts)
    result = make("-s", "system", env={"PATH": str(path), "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    (line,) = result.stdout.splitlines()
    assert line.startswith("skipping Debian packages") and "npm" in line, line
    assert ("no apt-get" if case == "no apt-get" else "root or sudo") in line
    assert not marker.exists()


def test_the_data_root_comes_from_the_environment(tmp_path, monkeypatch):
    """The Makefile provisions GAN_DATA_ROOT when the environment sets it (the runners' folder),
    so the chapters read what setup provisioned; the FID weights go where gan_helpers looks."""
    elsewhere = tmp_path / "runner data"
    env = {**os.environ, "GAN_DATA_ROOT": str(elsewhere)}
    database = make("-pn", "data", env=env).stdout
    assert f"# environment\nGAN_DATA_ROOT = {elsewhere}\n" in database
    planned = make("-n", "data", env=env).stdout
    # one command provisions the data and the FID weights, into GAN_DATA_ROOT and its weights/
    assert f'tools/provision.py --root "{elsewhere}"' in planned and "--inception-weights" in planned
    monkeypatch.setenv("GAN_DATA_ROOT", str(elsewhere))
    from gan_helpers.fid import fid_dir

    assert fid_dir() == elsewhere / "weights"
    for unset in ({k: v for k, v in os.environ.items() if k != "GAN_DATA_ROOT"}, {**os.environ, "GAN_DATA_ROOT": ""}):
        assert f'--root "{book.ROOT}/data"' in make("-n", "data", env=unset).stdout
    # the test suite reads data/ (tests/conftest.py) whatever the environment says
    assert f'--root "{book.ROOT}/data"' in make("-n", "test", env=env).stdout


def test_the_venv_pip_cache_and_data_are_kept_on_the_runner(workflow, tmp_path, monkeypatch):
    """actions/checkout cleans the workspace: every GPU job first points VENV, PIP_CACHE_DIR and
    GAN_DATA_ROOT at the runner's tool cache, and runs Python from that venv."""
    for name, job in gpu_jobs(workflow).items():
        steps = [s.get("run", s.get("uses", "")) for s in job["steps"]]
        locate = steps.index('python3 tools/gpu_runner.py env >> "$GITHUB_ENV"')
        assert steps[0].startswith("actions/checkout") and locate == 1, name
        assert all(".venv" not in r for r in runs(job)), name
        pythons = [r for r in runs(job) if "python" in r and "gpu_runner.py env" not in r]
        assert pythons and all('"$VENV/bin/python"' in r for r in pythons), name
        if name != "book":  # the jobs that read data take the repository variable
            assert job["steps"][locate]["env"] == {"GAN_DATA_ROOT": "${{ vars.GAN_DATA_ROOT }}"}, name

    cache = tmp_path / "_tool"
    located = gpu_runner.runner_env({"RUNNER_TOOL_CACHE": str(cache), "GAN_DATA_ROOT": ""})
    assert set(located) == {"VENV", "PIP_CACHE_DIR", "GAN_DATA_ROOT"}
    assert all(Path(value).is_relative_to(cache / "gan-course") for value in located.values())
    assert gpu_runner.runner_env({"RUNNER_TOOL_CACHE": str(cache), "GAN_DATA_ROOT": "/datasets"})["GAN_DATA_ROOT"] == "/datasets"
    # a new venv when the pinned requirements change, the same one otherwise
    copy = tmp_path / "repo"
    copy.mkdir()
    for file in ("requirements.txt", "pyproject.toml"):
        shutil.copy2(book.ROOT / file, copy / file)
    monkeypatch.setattr(gpu_runner, "ROOT", copy)
    assert gpu_runner.runner_env({"RUNNER_TOOL_CACHE": str(cache)})["VENV"] == located["VENV"]
    (copy / "requirements.txt").write_text((copy / "requirements.txt").read_text().replace("torch==", "torch>="))
    assert gpu_runner.runner_env({"RUNNER_TOOL_CACHE": str(cache)})["VENV"] != located["VENV"]
    # and make builds the venv there
    planned = make("-n", "venv", env={**os.environ, "VENV": located["VENV"]}).stdout
    assert f"python3 -m venv {located['VENV']}" in planned


def test_the_gpu_is_checked_against_the_driver_torch_needs(workflow):
    requirements = (book.ROOT / "requirements.txt").read_text()
    assert "torch==2.14.1" in requirements and "torch==2.14.1" in WORKFLOW.read_text()  # the header's torch
    assert gpu_runner.MIN_DRIVER[13] == 580 and "driver >= 580" in WORKFLOW.read_text()
    for name in ("execute", "score"):
        steps = [s.get("run", s.get("uses", "")) for s in workflow["jobs"][name]["steps"]]
        check = next(i for i, s in enumerate(steps) if "tools/gpu_runner.py check" in s)
        assert check < next(i for i, s in enumerate(steps) if "tools/book.py execute" in s), name
    problem = gpu_runner.driver_problem("13.0", "570.86.15")
    assert problem and ">= 580" in problem and "570.86.15" in problem
    assert gpu_runner.driver_problem("13.0", "580.65.06") is None
    assert gpu_runner.driver_problem("12.6", "550.54.15") is None
    assert "CPU build" in gpu_runner.driver_problem(None, "580.65.06")


def test_each_chapter_times_out_after_the_plan_allows(workflow, monkeypatch):
    """timeout-minutes comes per chapter from tools/gpu_runner.py timeouts, which adds a margin to
    the plan's training estimate in the workflow's profile (tools/plan.py estimate_minutes)."""
    for name in ("execute", "score"):
        assert workflow["jobs"][name]["timeout-minutes"] == TIMEOUT_FROM_PLAN, name
    chapters = workflow["jobs"]["chapters"]
    assert chapters["outputs"]["timeouts"] == "${{ steps.list.outputs.timeouts }}"
    (listing,) = [s["run"] for s in chapters["steps"] if s.get("id") == "list"]
    assert 'tools/gpu_runner.py timeouts --profile "$PROFILE" --gpu "$GPU"' in listing
    assert 'echo "timeouts=$timeouts" >> "$GITHUB_OUTPUT"' in listing
    assert workflow["env"]["GPU"] == "${{ vars.GAN_RUNNER_GPU || 'T4' }}"

    # the mapping: every chapter, each from its own estimate (a minute of plan per chapter and
    # profile on 2 cores: stated estimates here, the plan itself below for one chapter)
    if not hasattr(plan, "estimate_minutes"):
        pytest.fail("tools/plan.py has no estimate_minutes(notebook, profile, gpu): issue 14 adds it")
    stated = {nb.stem: 10.0 * (i + 1) for i, nb in enumerate(book.chapter_notebooks())}
    asked = []
    monkeypatch.setattr(plan, "estimate_minutes", lambda notebook, profile, gpu="T4":
                        asked.append((Path(notebook).stem, profile, gpu)) or stated[Path(notebook).stem])
    minutes = gpu_runner.timeouts("full", "L4")
    train = [nb.stem for nb in book.chapter_notebooks() if book.chapter_stage(nb) == "train"]
    assert asked == [(chapter, "full", "L4") for chapter in train]  # chapter 6 trains nothing
    assert minutes == {chapter: gpu_runner.timeout_minutes(stated[chapter] if chapter in train else 0.0,
                                                           "train" if chapter in train else "score")
                       for chapter in stated}
    assert len(set(minutes.values())) == len(minutes)  # per chapter, not one number for all
    assert gpu_runner.timeout_minutes(0.5) == 50 and gpu_runner.timeout_minutes(10) == 85
    assert gpu_runner.timeout_minutes(0, "score") == 105
    assert gpu_runner.timeout_minutes(10_000) == 5 * 24 * 60  # GitHub's limit for a self-hosted job
    monkeypatch.undo()
    estimate = plan.estimate_minutes(book.NOTEBOOKS / "01_vanilla_gan.ipynb", "gpu", gpu="T4")
    assert 0 < estimate < 60 and gpu_runner.timeout_minutes(estimate) < 360  # a class-size chapter


# --- the artifacts: what each later job reads, and nothing else ---------------------------------


def write_chapter_outputs(workspace: Path, profile: str) -> None:
    """Each chapter's executed copy and status, and its OUT_DIR as a run leaves it: samples,
    metrics, config, and what nothing downstream reads (checkpoints, an image cache)."""
    executed = workspace / "executed" / profile
    executed.mkdir(parents=True)
    for notebook in book.chapter_notebooks():
        shutil.copy2(notebook, executed / notebook.name)
        book.write_status(executed, notebook.stem, status="executed", reason="", profile=profile, seconds=1.0, headline="-")
    from gan_helpers.runs import COURSE_GANS

    for chapter, sub, _, _ in COURSE_GANS:
        folder = workspace / "outputs" / profile / chapter / sub
        folder.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(folder / "samples.npz", images=np.full((4, 8, 8), len(chapter + sub), np.uint8))
        (folder / "checkpoint.pt").write_bytes(b"weights")
        if not sub:
            (folder / "metrics.json").write_text(json.dumps({"FID": 1.0, "gans": {"DCGAN": {"FID": 2.0}}}))
            (folder / "config.json").write_text(json.dumps({"profile": profile}))
            (folder / "images_64.pt").write_bytes(b"an image cache")


def chapter_artifacts(workflow: dict, workspace: Path, profile: str) -> dict[str, dict[str, Path]]:
    made = {}
    for notebook in book.chapter_notebooks():
        job = workflow["jobs"]["score" if book.chapter_stage(notebook) == "score" else "execute"]
        made |= artifacts_of(job, workspace, notebook.stem, profile)
    return made


def default_profile(workflow: dict) -> str:
    """The profile a run gets without inputs: ``${{ inputs.profile || 'gpu' }}`` -> gpu."""
    found = re.search(r"\|\|\s*'(\w+)'", workflow["env"]["PROFILE"])
    return found.group(1) if found else workflow["env"]["PROFILE"]


@pytest.fixture()
def runner(workflow, tmp_path) -> tuple[Path, str, dict[str, dict[str, Path]]]:
    """A runner's workspace after every chapter's job (see write_chapter_outputs), its profile,
    and the artifacts the jobs upload from it."""
    profile = default_profile(workflow)
    workspace = tmp_path / "runner"
    write_chapter_outputs(workspace, profile)
    return workspace, profile, chapter_artifacts(workflow, workspace, profile)


def test_artifacts_leave_checkpoints_and_caches_on_the_runner(runner):
    _, _, made = runner
    kept = [f"{name}: {path}" for name, files in made.items() for path in files]
    assert kept and not [p for p in kept if p.endswith(".pt")]


def test_chapter_6_reads_the_same_runs_from_the_artifacts(workflow, runner, tmp_path):
    from gan_helpers.runs import course_runs

    workspace, profile, made = runner
    score = tmp_path / "score job"
    gather(download(workflow["jobs"]["score"]), made, score, profile)
    before = course_runs(workspace / "outputs" / profile)
    after = course_runs(score / "outputs" / profile)
    assert [r.status for r in after] == [r.status for r in before] and {r.status for r in after} == {"found"}
    assert all(np.array_equal(a.images, b.images) and a.metrics == b.metrics for a, b in zip(after, before))


def test_the_book_job_downloads_only_the_executed_notebooks(workflow, runner, tmp_path):
    """Their figures are in them; the status files say which chapters ran. Where the download
    puts them is where the build command reads them."""
    _, profile, made = runner
    assemble = workflow["jobs"]["book"]
    step = download(assemble)
    fetched = [path for name, files in made.items() if fnmatch.fnmatchcase(name, step["with"]["pattern"]) for path in files]
    assert sorted(fetched) == sorted(f"{nb.stem}{suffix}" for nb in book.chapter_notebooks() for suffix in (".ipynb", ".status.json"))
    folder = gather(step, made, tmp_path / "book job", profile)
    (build,) = [r for r in runs(assemble) if "tools/book.py build" in r]
    executed_dir = expand(build, "", profile).split("--executed-dir ")[1].split()[0].strip('"')
    assert executed_dir == folder.relative_to(tmp_path / "book job").as_posix()


def test_a_failed_chapter_keeps_its_partial_notebook(workflow, tmp_path):
    workspace = tmp_path / "runner"
    (workspace / "executed" / "gpu").mkdir(parents=True)
    (workspace / "executed" / "gpu" / "05_wgan_gp_cifar10.running.ipynb").write_text("{}")
    made = artifacts_of(workflow["jobs"]["execute"], workspace, "05_wgan_gp_cifar10", "gpu", when="failure")
    assert made == {"failed-05_wgan_gp_cifar10": {"05_wgan_gp_cifar10.running.ipynb":
                                                  workspace / "executed" / "gpu" / "05_wgan_gp_cifar10.running.ipynb"}}


def test_the_book_job_builds_from_artifacts_gathered_from_one_job_per_chapter(workflow, executed_smoke, tmp_path, monkeypatch):
    """The chapters executed in smoke (the session's executed copies, made by the same
    book.execute as each GPU job) laid out as on a runner, packed by the workflow's upload steps,
    gathered by the score and book jobs' download steps; chapter 6 reads the same runs from them,
    and the book job's build command stages the book from them. jupyter-book itself is not run
    here: test_book.py builds the same executed copies."""
    from gan_helpers.runs import course_runs

    profile = "smoke"
    workspace = tmp_path / "runner"
    (workspace / "executed").mkdir(parents=True)
    shutil.copytree(executed_smoke["dir"], workspace / "executed" / profile)
    shutil.copytree(executed_smoke["outputs"], workspace / "outputs" / profile)
    made = chapter_artifacts(workflow, workspace, profile)
    assert not [p for files in made.values() for p in files if p.endswith("checkpoint.pt")]
    gathered = gather(download(workflow["jobs"]["score"]), made, tmp_path / "score job", profile)
    before, after = course_runs(workspace / "outputs" / profile), course_runs(gathered / "outputs" / profile)
    assert [(r.label, r.status) for r in after] == [(r.label, r.status) for r in before]
    merged = gather(download(workflow["jobs"]["book"]), made, tmp_path / "book job", profile)

    commands = []
    monkeypatch.setattr(book.subprocess, "run", lambda command, **kw: commands.append(command) or
                        subprocess.CompletedProcess(command, 0))
    (build,) = [r for r in runs(workflow["jobs"]["book"]) if "tools/book.py build" in r]
    arguments = shlex.split(expand(build, "", profile))
    arguments[arguments.index("--executed-dir") + 1] = str(merged)
    monkeypatch.setattr(sys, "argv", ["book.py", *arguments[arguments.index("build"):]])
    book.main()
    (command,) = commands
    src = book.ROOT / "_build" / "src"
    assert Path(command[0]).name == "jupyter-book" and command[1:3] == ["build", str(src)]
    for notebook in book.chapter_notebooks():
        edition = arguments[arguments.index("--edition") + 1] if "--edition" in arguments else "student"
        staged = nbformat.read(src / book.EDITIONS[edition] / notebook.name, as_version=4)
        status = json.loads((merged / f"{notebook.stem}.status.json").read_text())
        if status["status"] != "executed":
            continue  # a skipped chapter's page: tested in test_book.py
        executed = nbformat.read(merged / notebook.name, as_version=4)
        assert sum(len(c.get("outputs", [])) for c in staged.cells) > 5, notebook.stem  # outputs and all
        left_out = {"injected-parameters"} | ({"answer-key"} if edition == "student" else set())
        assert [c.id for c in staged.cells] == [c.id for c in executed.cells
                                                if not left_out & set(c.metadata.get("tags", []))]

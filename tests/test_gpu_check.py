"""tools/gpu_check.py on the CPU: the whole check in --quick mode on chapter 1, started as on a GPU
machine without nbformat (no CUDA here: it says so and exits 0; bf16 forced, so that the autocast
path runs), and the comparisons failing when they should: a resume that starts afresh, mixed
precision beyond its bound, a spent budget."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

import gpu_check  # tools/gpu_check.py

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_1 = ROOT / "notebooks" / "01_vanilla_gan.ipynb"
# Runs `python tools/gpu_check.py ARGS...` with nbformat made unimportable, as on a GPU machine's
# plain PyTorch, where the check reads the notebooks as JSON.
WITHOUT_NBFORMAT = ("import runpy, sys; sys.modules['nbformat'] = None; sys.argv = sys.argv[1:]; "
                    "runpy.run_path(sys.argv[0], run_name='__main__')")


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a shared 2-core CPU, two threads each wait on the other's core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    """The check's own command line, on chapter 1: (completed process, rows of its JSON)."""
    out = tmp_path_factory.mktemp("gpu_check") / "check.json"
    env = os.environ | {"GAN_DEVICE": "cpu", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_NBFORMAT, "tools/gpu_check.py", "--quick", "--chapters", "01",
         "--precision", "bf16", "--json", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result, json.loads(out.read_text())["rows"]


@pytest.fixture(scope="module")
def plan():
    return gpu_check.import_plan()[0]


def rows_of(rows: list[dict], check: str) -> list[dict]:
    return [row for row in rows if row["check"] == check]


def test_without_cuda_it_says_so_reads_json_and_exits_0(quick_run):
    result, rows = quick_run
    assert "No CUDA here" in result.stdout
    (environment,) = rows_of(rows, "environment")
    assert environment["status"] == "SKIP" and "no CUDA" in environment["detail"]
    assert environment["extra"]["precision"] == "bf16"
    assert environment["extra"]["notebook reader"] == "json (no nbformat)"
    (inception,) = rows_of(rows, "inception")
    assert inception["status"] == "SKIP" and "no CUDA" in inception["detail"]
    assert not [row for row in rows if row["status"] == "FAIL"]
    for row in rows:  # the printed table holds every row
        assert f"| {row['subject']}" in result.stdout


def test_throughput_rows_for_each_profile_with_a_rate(quick_run):
    _, rows = quick_run
    throughput = rows_of(rows, "throughput")
    assert [(row["extra"]["chapter"], row["extra"]["profile"]) for row in throughput] == [
        ("01_vanilla_gan", "gpu"), ("01_vanilla_gan", "full")]
    for row in throughput:
        assert row["status"] == "PASS", row
        assert row["images_per_s"] > 0 and row["train_minutes"] > 0
        assert row["extra"]["g_steps"] > 0 and row["extra"]["steps_timed"] == 2
        assert row["peak_mib"] is None  # no GPU memory on the CPU


def test_resume_on_the_cpu_is_bitwise_equal(quick_run):
    _, rows = quick_run
    (resume,) = rows_of(rows, "resume")
    assert resume["status"] == "PASS", resume["detail"]
    assert resume["value"] == 0.0
    assert resume["extra"]["epochs_trained_after_resume"] == [2]
    assert resume["extra"]["history_epochs"] == [1, 2]


def test_amp_comparison_ran_in_bf16_and_stayed_close(quick_run):
    _, rows = quick_run
    (amp,) = rows_of(rows, "amp vs fp32")
    assert amp["status"] == "PASS", amp["detail"]
    assert amp["extra"]["precision"] == "bf16"
    differences = amp["extra"]["per_step"]
    assert len(differences) == 3
    assert all(0 <= d <= gpu_check.AMP_BOUND for d in differences)
    assert max(differences) > 0  # autocast ran: bf16 is not bit-equal to fp32


def test_a_resume_that_starts_afresh_fails(tmp_path, plan):
    row = gpu_check.check_resume(torch.device("cpu"), "fp32", tmp_path, plan, resume=False)
    assert row.status == "FAIL"
    assert "trained epochs [1, 2], not [2]" in row.detail
    assert row.value > 0  # other initial weights: the final ones differ too


def test_amp_beyond_its_bound_fails(plan):
    subject = gpu_check.read_subjects(plan, CHAPTER_1, ("smoke",))[0]
    row = gpu_check.check_amp(plan, subject, torch.device("cpu"), gpu_check.gh.mixed_precision("cpu", "bf16"),
                              steps=2, bound=0.0)
    assert row.status == "FAIL" and row.value > 0
    skipped = gpu_check.check_amp(plan, subject, torch.device("cpu"), gpu_check.gh.mixed_precision("cpu", "fp32"))
    assert skipped.status == "SKIP"


def test_a_spent_budget_skips_what_is_left(tmp_path, capsys):
    out = tmp_path / "check.json"
    code = gpu_check.main(["--quick", "--chapters", "01", "--device", "cpu", "--max-seconds", "0", "--json", str(out)])
    assert code == 0
    rows = json.loads(out.read_text())["rows"]
    assert [row["check"] for row in rows] == ["environment", "resume", "amp vs fp32", "inception", "throughput", "throughput"]
    assert all(row["status"] == "SKIP" for row in rows)
    assert all("--max-seconds" in row["detail"] for row in rows[1:])


def test_notebooks_read_as_json_match_nbformat():
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        ours, theirs = gpu_check.read_notebook_json(path), nbformat.read(path, as_version=4)
        assert ours.metadata == theirs.metadata
        assert [(c.cell_type, c.source, c.metadata) for c in ours.cells] == [
            (c.cell_type, c.source, c.metadata) for c in theirs.cells]

"""Execute the notebooks with papermill and build the Jupyter Book from the executed copies.

    python tools/book.py execute --profile auto     # executed/<profile>/*.ipynb, outputs/<profile>/<chapter>/
    python tools/book.py execute --profile cpu 02_conditional_gan   # one chapter
    python tools/book.py build --profile cpu        # _build/html from executed/cpu
    python tools/book.py refresh-nbval              # store smoke outputs of nbval-checked cells
    python tools/book.py build --profile full --executed-dir DIR   # from copies gathered elsewhere (CI)
    python tools/book.py plan --profile full        # steps, FLOPs and estimated GPU time per chapter
    python tools/book.py chapters                   # the chapter names as JSON (the GPU workflow's matrix)

The sources in notebooks/ stay clean; only the small outputs that nbval checks are stored in them.

A chapter that trains on an image dataset names it in its notebook metadata
(``{"gan_course": {"dataset": "celeba"}}``). When that dataset is missing, ``execute`` does not run
the chapter (nothing trains on made-up data to fill the gap): it records why, and the book shows
the unexecuted notebook under a note saying which dataset is missing and how to get it. Every
``execute`` records each chapter's status (executed or skipped, profile, wall time, headline
metric) in ``executed/<profile>/<chapter>.status.json``; ``build`` ends with a table of them.
The tests pass ``image_folder`` (a stand-in folder of shapes, tools/standin.py) instead.
"""

from __future__ import annotations

import argparse
import json
import shutil
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NBVAL_MARK = "# NBVAL_CHECK_OUTPUT"  # the older comment form; chapters now use the tag
NBVAL_TAG = "nbval-check-output"  # the cell tag nbval honours: outputs compared, readers see no marker


def nbval_checked(cell) -> bool:
    """Whether nbval compares this cell's stored outputs (the tag, or the older comment)."""
    return NBVAL_TAG in cell.metadata.get("tags", []) or NBVAL_MARK in cell.source


def chapter_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def chapter_dataset(notebook: Path) -> str | None:
    """The image dataset a chapter trains on (``gan_helpers.images.DATASETS``), from its
    notebook metadata ``gan_course.dataset``; None for a chapter that brings its own data."""
    metadata = json.loads(Path(notebook).read_text()).get("metadata", {})
    return metadata.get("gan_course", {}).get("dataset")


def chapter_stage(notebook: Path) -> str:
    """"train" for a chapter that trains its GANs, "score" for one that scores the others' outputs
    (notebook metadata ``gan_course.stage``; chapter 6), so that it runs after them."""
    metadata = json.loads(Path(notebook).read_text()).get("metadata", {})
    return metadata.get("gan_course", {}).get("stage", "train")


def missing_dataset(notebook: Path, data_root: str | Path) -> str | None:
    """None when the chapter's dataset is there (or it needs none); else the message saying
    which dataset is missing, where it was looked for and every way to get it."""
    from gan_helpers.images import DataNotFoundError, find_dataset

    dataset = chapter_dataset(notebook)
    if dataset is None:
        return None
    try:
        find_dataset(dataset, data_root)
    except DataNotFoundError as error:
        return str(error)
    return None


def write_status(target: Path, chapter: str, **status) -> None:
    """Record a chapter's execution (status, reason, profile, seconds, headline) for the book."""
    (target / f"{chapter}.status.json").write_text(json.dumps({"chapter": chapter, **status}, indent=2) + "\n")


def read_status(target: Path, chapter: str) -> dict | None:
    path = target / f"{chapter}.status.json"
    return json.loads(path.read_text()) if path.exists() else None


def headline(out_dir: Path) -> str:
    """A chapter's headline metric from its metrics.json: its own "headline" line, else the
    first of the measures chapters 1 and 2 report."""
    path = out_dir / "metrics.json"
    if not path.exists():
        return "-"
    metrics = json.loads(path.read_text())
    if "headline" in metrics:
        return str(metrics["headline"])
    if "conditioned_accuracy" in metrics:
        return f"conditioned accuracy {metrics['conditioned_accuracy']:.1%}"
    if "IS" in metrics:
        return f"IS {metrics['IS']:.2f}"
    return "-"


def resolve(profile: str) -> str:
    from gan_helpers.profiles import resolve_profile

    return resolve_profile(profile)


def is_fresh(executed: Path, source: Path) -> bool:
    """The executed copy is newer than its notebook and every helper module."""
    if not executed.exists():
        return False
    inputs = [source, *(ROOT / "gan_helpers").glob("*.py")]
    return executed.stat().st_mtime > max(p.stat().st_mtime for p in inputs)


def execute(profile: str, force: bool = False, notebooks: list[Path] | None = None, out_root: Path | None = None,
            outputs_root: Path | None = None, parameters: dict | None = None,
            image_folder: Path | dict[str, Path] | None = None) -> Path:
    """Run every chapter with papermill in ``profile``; returns the folder of executed copies.

    Executed copies go to ``out_root/<profile>`` (default executed/), each chapter's OUT_DIR to
    ``outputs_root/<profile>/<chapter>`` (default outputs/); ``parameters`` adds to those injected.
    A chapter whose image dataset is missing is skipped (see the module's docstring), unless
    ``image_folder`` is given: then every image chapter trains on that folder (IMAGE_FOLDER), or
    on the folder given for its dataset when it is a dict (dataset name -> folder).
    """
    import papermill

    profile = resolve(profile)
    target = (out_root or ROOT / "executed") / profile
    target.mkdir(parents=True, exist_ok=True)
    data_root = (parameters or {}).get("DATA_ROOT") or os.environ.get("GAN_DATA_ROOT") or ROOT / "data"
    for source in notebooks or chapter_notebooks():
        executed = target / source.name
        dataset = chapter_dataset(source)
        image_chapter = dataset is not None
        folder = image_folder.get(dataset) if isinstance(image_folder, dict) else image_folder
        missing = None if folder is not None else missing_dataset(source, data_root)
        if missing:
            print(f"{source.name}: skipped, its data is missing:\n{missing}", flush=True)
            write_status(target, source.stem, status="skipped", reason=missing.splitlines()[0].removesuffix(" Looked in:"),
                         missing=missing, profile=profile, seconds=None, headline="-")
            continue
        if not force and is_fresh(executed, source) and (read_status(target, source.stem) or {}).get("status") != "skipped":
            print(f"{source.name}: up to date ({executed})")
            continue
        # Train afresh when forced, or when a finished run exists but the notebook or helpers have
        # changed since (its checkpoint may not fit); resume when an earlier run never finished.
        fresh_start = force or executed.exists()
        print(f"{source.name}: executing in profile {profile} ...", flush=True)
        start = time.perf_counter()
        running = executed.with_name(executed.stem + ".running.ipynb")  # renamed when it completes
        out_dir = (outputs_root or ROOT / "outputs") / profile / source.stem
        papermill.execute_notebook(
            str(source),
            str(running),
            parameters={
                "PROFILE": profile,
                "OUT_DIR": str(out_dir),
                "INTERACTIVE": False,
                **({"RESUME": False} if fresh_start else {}),
                **({"IMAGE_FOLDER": str(folder)} if image_chapter and folder is not None else {}),
                **(parameters or {}),
            },
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
        )
        running.replace(executed)
        seconds = time.perf_counter() - start
        write_status(target, source.stem, status="executed", reason="", profile=profile, seconds=round(seconds, 1),
                     headline=headline(Path((parameters or {}).get("OUT_DIR", out_dir))))
        print(f"{source.name}: done in {seconds:.0f} s -> {executed}")
    return target


def skipped_page(source: Path, missing: str) -> nbformat.NotebookNode:
    """The unexecuted chapter, outputs cleared, under a note saying which dataset is missing
    and how to get it (the book's page for a chapter that could not run)."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    title, _, ways = missing.partition("\n")
    note = (":::{admonition} Not executed: the data is missing\n:class: warning\n"
            "This page shows the chapter's code without results: it was built where its dataset\n"
            f"is not available. {title}\n\n"
            f"```text\n{ways.strip()}\n```\n\n"
            "Then run `make book` again (or `python tools/book.py execute` for this chapter).\n:::")
    notebook.cells.insert(1, nbformat.v4.new_markdown_cell(note, id="data-missing-note"))
    return notebook


def summary_table(profile: str, executed_dir: Path | None = None) -> str:
    """Every chapter's last execution as a Markdown table: executed or skipped (why), profile,
    wall time, headline metric."""
    executed_dir = executed_dir or ROOT / "executed" / profile
    rows = ["| Chapter | Status | Profile | Wall time | Headline |", "| --- | --- | --- | --- | --- |"]
    for notebook in chapter_notebooks():
        status = read_status(executed_dir, notebook.stem)
        if status is None:
            state = "executed (no record)" if (executed_dir / notebook.name).exists() else "not executed"
            rows.append(f"| {notebook.stem} | {state} | - | - | - |")
            continue
        state = status["status"] + (f": {status['reason']}" if status.get("reason") else "")
        seconds = "-" if status.get("seconds") is None else f"{status['seconds'] / 60:.1f} min"
        rows.append(f"| {notebook.stem} | {state} | {status.get('profile', '-')} | {seconds} | {status.get('headline', '-')} |")
    return "\n".join(rows)


def stage(profile: str, executed_dir: Path | None = None, edition: str = "instructor") -> Path:
    """Copy the book's pages and the executed notebooks into _build/src (the book's source).

    ``edition="student"``: each chapter as its student edition (tools/coursework.py), outputs kept
    except those of solutions and checks: no solutions, hidden tests or answer keys."""
    executed_dir = executed_dir or ROOT / "executed" / profile
    skipped = {nb.stem: status["missing"] for nb in chapter_notebooks()
               if (status := read_status(executed_dir, nb.stem)) and status["status"] == "skipped"}
    missing = [nb.name for nb in chapter_notebooks() if not (executed_dir / nb.name).exists() and nb.stem not in skipped]
    if missing:
        raise SystemExit(f"not executed yet in profile {profile}: {missing}; run `python tools/book.py execute --profile {profile}`")
    src = ROOT / "_build" / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "book", src / "book")
    (src / "notebooks").mkdir()
    for notebook in chapter_notebooks():
        if notebook.stem in skipped:
            nbformat.write(skipped_page(notebook, skipped[notebook.stem]), src / "notebooks" / notebook.name)
            continue
        executed = nbformat.read(executed_dir / notebook.name, as_version=4)
        # papermill's injected cell holds machine paths; the run's settings are shown by the
        # notebook's own config table, so the book leaves the injected cell out
        executed.cells = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        for cell in executed.cells:  # nbval's older comment marker is for the tests, not readers
            cell.source = cell.source.replace(NBVAL_MARK + "\n", "")
        if edition == "student":
            import coursework

            executed = coursework.student_edition(executed, keep_outputs=True)
        nbformat.write(executed, src / "notebooks" / notebook.name)
    return src


def build(profile: str, executed_dir: Path | None = None, edition: str = "instructor") -> Path:
    """Build _build/html with warnings treated as errors (``edition``: instructor or student)."""
    profile = resolve(profile)
    src = stage(profile, executed_dir, edition)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(src), "--path-output", str(ROOT), "-W", "--keep-going", "--quiet"]
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"jupyter-book build failed (exit {result.returncode})")
    index = ROOT / "_build" / "html" / "index.html"
    print(f"The book ({edition} edition, {profile} profile) is at {index}\nOpen it with: python -m webbrowser file://{index}")
    print(f"\n{summary_table(profile, executed_dir)}")
    return index


def refresh_nbval(notebooks: list[Path] | None = None) -> None:
    """Execute in smoke and keep, in the sources, only the outputs of nbval-checked cells.

    Image chapters run on the test stand-in folder (tools/standin.py), as in the tests."""
    from standin import standin_folders

    with tempfile.TemporaryDirectory() as tmp:
        executed_dir = execute("smoke", force=True, notebooks=notebooks, out_root=Path(tmp),
                               outputs_root=Path(tmp) / "outputs",
                               image_folder=standin_folders(Path(tmp) / "standin"))
        for source in notebooks or chapter_notebooks():
            notebook = nbformat.read(source, as_version=4)
            executed = {cell.id: cell for cell in nbformat.read(executed_dir / source.name, as_version=4).cells}
            kept = 0
            for cell in notebook.cells:
                if cell.cell_type != "code":
                    continue
                if nbval_checked(cell):
                    # nbval compares only cells that were run: keep the outputs and the count
                    cell.outputs = executed[cell.id].outputs
                    cell.execution_count = executed[cell.id].execution_count
                    kept += 1
                else:
                    cell.outputs, cell.execution_count = [], None
                cell.metadata.pop("papermill", None)
                cell.metadata.pop("execution", None)
            notebook.metadata.pop("papermill", None)
            nbformat.write(notebook, source)
            print(f"{source.name}: stored the outputs of {kept} checked cells")


def parse_parameter(text: str) -> tuple[str, object]:
    """'EPOCHS=5' -> ('EPOCHS', 5); 'ARCH=conv' -> ('ARCH', 'conv')."""
    import ast

    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise SystemExit(f"-p expects NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("execute", "build"):
        p = sub.add_parser(name)
        p.add_argument("--profile", default="auto")
        if name == "execute":
            p.add_argument("--force", action="store_true", help="execute even if the copy is up to date")
            p.add_argument("chapters", nargs="*", help="chapter names such as 01_vanilla_gan (default: all)")
            p.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                           help="a notebook parameter, e.g. -p ARCH=conv -p EPOCHS=5 (Python literals, else strings)")
            p.add_argument("--out-root", type=Path, help="executed copies go to OUT_ROOT/<profile> (default: executed/)")
            p.add_argument("--outputs-root", type=Path, help="each chapter's OUT_DIR in OUTPUTS_ROOT/<profile> (default: outputs/)")
        else:
            p.add_argument("--edition", choices=("instructor", "student"), default="instructor",
                           help="student: no solutions, hidden tests or answer keys (default: instructor)")
            p.add_argument("--executed-dir", type=Path,
                           help="the executed copies, e.g. gathered from one CI job per chapter (default: executed/<profile>)")
    plan = sub.add_parser("plan", help="per chapter: steps, images, training FLOPs and estimated times on GPUs (tools/plan.py)")
    plan.add_argument("--profile", choices=("smoke", "cpu", "gpu", "full", "all"), default="all",
                      help="all: cpu, gpu and full (default)")
    plan.add_argument("chapters", nargs="*", help="chapter names (default: all)")
    plan.add_argument("--gpu", default="T4,A100,H100",
                      help="the GPUs to estimate for, comma-separated: T4, L4, V100, A100, H100 (default: T4,A100,H100)")
    plan.add_argument("--tflops", type=float,
                      help="the sustained TFLOP/s of the one --gpu named (default: a stated share of its tensor-core peak)")
    plan.add_argument("--step-ms", type=float,
                      help="the launch floor per G step in ms (default: the step's kernels x 6 us + 0.3 ms of Python)")
    listing = sub.add_parser("chapters", help="the chapter names as a JSON list (a CI matrix)")
    listing.add_argument("--stage", choices=("train", "score"),
                         help="only the chapters that train GANs, or only those that score the others' outputs")
    refresh = sub.add_parser("refresh-nbval")
    refresh.add_argument("chapters", nargs="*", help="chapter names (default: all)")
    args = parser.parse_args()
    if args.command == "execute":
        chosen = [NOTEBOOKS / f"{name.removesuffix('.ipynb')}.ipynb" for name in args.chapters] or None
        missing = [str(p) for p in chosen or [] if not p.exists()]
        if missing:
            raise SystemExit(f"no such chapter: {missing}; chapters: {[p.stem for p in chapter_notebooks()]}")
        execute(args.profile, args.force, notebooks=chosen, out_root=args.out_root, outputs_root=args.outputs_root,
                parameters=dict(parse_parameter(p) for p in args.parameter))
    elif args.command == "build":
        build(args.profile, executed_dir=args.executed_dir, edition=args.edition)
    elif args.command == "plan":
        import plan as planner  # tools/plan.py

        profiles = planner.PROFILES if args.profile == "all" else [args.profile]
        chosen = [NOTEBOOKS / f"{name.removesuffix('.ipynb')}.ipynb" for name in args.chapters] or chapter_notebooks()
        planner.main(chosen, profiles, gpus=args.gpu.split(","), tflops=args.tflops, step_ms=args.step_ms)
    elif args.command == "chapters":
        print(json.dumps([notebook.stem for notebook in chapter_notebooks()
                          if args.stage is None or chapter_stage(notebook) == args.stage]))
    else:
        refresh_nbval([NOTEBOOKS / f"{name.removesuffix('.ipynb')}.ipynb" for name in args.chapters] or None)


if __name__ == "__main__":
    main()

"""Execute the notebooks with papermill and build the Jupyter Book from the executed copies.

    python tools/book.py execute --profile auto     # executed/<profile>/*.ipynb, outputs/<profile>/<chapter>/
    python tools/book.py execute --profile cpu 02_conditional_gan   # one chapter
    python tools/book.py build --profile cpu        # _build/html from executed/cpu
    python tools/book.py refresh-nbval              # store smoke outputs of NBVAL_CHECK_OUTPUT cells

The sources in notebooks/ stay clean; only the small outputs that nbval checks are stored in them.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NBVAL_MARK = "# NBVAL_CHECK_OUTPUT"


def chapter_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


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
            outputs_root: Path | None = None, parameters: dict | None = None) -> Path:
    """Run every chapter with papermill in ``profile``; returns the folder of executed copies.

    Executed copies go to ``out_root/<profile>`` (default executed/), each chapter's OUT_DIR to
    ``outputs_root/<profile>/<chapter>`` (default outputs/); ``parameters`` adds to those injected.
    """
    import papermill

    profile = resolve(profile)
    target = (out_root or ROOT / "executed") / profile
    target.mkdir(parents=True, exist_ok=True)
    for source in notebooks or chapter_notebooks():
        executed = target / source.name
        if not force and is_fresh(executed, source):
            print(f"{source.name}: up to date ({executed})")
            continue
        # Train afresh when forced, or when a finished run exists but the notebook or helpers have
        # changed since (its checkpoint may not fit); resume when an earlier run never finished.
        fresh_start = force or executed.exists()
        print(f"{source.name}: executing in profile {profile} ...", flush=True)
        start = time.perf_counter()
        running = executed.with_name(executed.stem + ".running.ipynb")  # renamed when it completes
        papermill.execute_notebook(
            str(source),
            str(running),
            parameters={
                "PROFILE": profile,
                "OUT_DIR": str((outputs_root or ROOT / "outputs") / profile / source.stem),
                "INTERACTIVE": False,
                **({"RESUME": False} if fresh_start else {}),
                **(parameters or {}),
            },
            cwd=str(NOTEBOOKS),
            kernel_name="python3",
            progress_bar=False,
        )
        running.replace(executed)
        print(f"{source.name}: done in {time.perf_counter() - start:.0f} s -> {executed}")
    return target


def stage(profile: str, executed_dir: Path | None = None) -> Path:
    """Copy the book's pages and the executed notebooks into _build/src (the book's source)."""
    executed_dir = executed_dir or ROOT / "executed" / profile
    missing = [nb.name for nb in chapter_notebooks() if not (executed_dir / nb.name).exists()]
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
        executed = nbformat.read(executed_dir / notebook.name, as_version=4)
        # papermill's injected cell holds machine paths; the run's settings are shown by the
        # notebook's own config table, so the book leaves the injected cell out
        executed.cells = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
        nbformat.write(executed, src / "notebooks" / notebook.name)
    return src


def build(profile: str, executed_dir: Path | None = None) -> Path:
    """Build _build/html with warnings treated as errors."""
    profile = resolve(profile)
    src = stage(profile, executed_dir)
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(src), "--path-output", str(ROOT), "-W", "--keep-going", "--quiet"]
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"jupyter-book build failed (exit {result.returncode})")
    index = ROOT / "_build" / "html" / "index.html"
    print(f"The book ({profile} profile) is at {index}\nOpen it with: python -m webbrowser file://{index}")
    return index


def refresh_nbval() -> None:
    """Execute in smoke and keep, in the sources, only the outputs of NBVAL_CHECK_OUTPUT cells."""
    with tempfile.TemporaryDirectory() as tmp:
        executed_dir = execute("smoke", force=True, out_root=Path(tmp), outputs_root=Path(tmp) / "outputs")
        for source in chapter_notebooks():
            notebook = nbformat.read(source, as_version=4)
            executed = {cell.id: cell for cell in nbformat.read(executed_dir / source.name, as_version=4).cells}
            kept = 0
            for cell in notebook.cells:
                if cell.cell_type != "code":
                    continue
                if NBVAL_MARK in cell.source:
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
    sub.add_parser("refresh-nbval")
    args = parser.parse_args()
    if args.command == "execute":
        chosen = [NOTEBOOKS / f"{name.removesuffix('.ipynb')}.ipynb" for name in args.chapters] or None
        missing = [str(p) for p in chosen or [] if not p.exists()]
        if missing:
            raise SystemExit(f"no such chapter: {missing}; chapters: {[p.stem for p in chapter_notebooks()]}")
        execute(args.profile, args.force, notebooks=chosen, parameters=dict(parse_parameter(p) for p in args.parameter))
    elif args.command == "build":
        build(args.profile)
    else:
        refresh_nbval()


if __name__ == "__main__":
    main()

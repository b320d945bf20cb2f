"""Execute the notebooks with papermill and build the Jupyter Book from the executed copies.

    python tools/book.py execute --profile auto     # executed/<profile>/*.ipynb, outputs/<profile>/<chapter>/
    python tools/book.py execute --profile cpu 02_conditional_gan   # one chapter
    python tools/book.py build --profile cpu        # _build/html from executed/cpu: the student edition
    python tools/book.py build --profile cpu --edition instructor   # solutions folded, answer keys shown
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

The book is the **student edition** unless the instructor edition is asked for: each chapter as
tools/editions.py makes it (solutions stubbed, no hidden tests, no answer key), with the run's
outputs, staged in student/ so that its Colab and Binder buttons open the committed student
editions. Staging also tidies the outputs: the run's folders shown as ``OUT_DIR`` (and the other
path parameters by their names), progress bars reduced to their final state, and a banner on
every page run in ``smoke`` saying that its numbers mean nothing. MathJax is served from the
book itself (npm's ``mathjax``, installed once into .mathjax/), so formulas render offline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

import editions

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
NBVAL_MARK = "# NBVAL_CHECK_OUTPUT"  # the older comment form; chapters now use the tag
NBVAL_TAG = "nbval-check-output"  # the cell tag nbval honours: outputs compared, readers see no marker
EDITIONS = {"student": "student", "instructor": "notebooks"}  # edition -> the folder its chapters sit in
MATHJAX_VERSION = "3.2.2"  # npm's mathjax, served from the book (no CDN)
MATHJAX = ROOT / ".mathjax"  # where npm installs it (git-ignored); each build copies what pages load
# the combined TeX/MathML -> CommonHTML component (Sphinx's default), the components it loads on
# demand and the CommonHTML fonts; not the speech rule engine (sre/) or the SVG output
MATHJAX_PARTS = ("tex-mml-chtml.js", "input", "output/chtml", "ui", "a11y", "adaptors")
SMOKE_BANNER = """:::{admonition} A test run: the numbers on this page mean nothing
:class: warning smoke-banner
This page was executed in the `smoke` profile, a run of a few seconds that only checks that
every cell works (image chapters train on made-up stand-in shapes). Its losses, scores and
pictures, and any sentence about them, say nothing about what the chapter's GANs learn: the
book built with `make book` (`cpu` or `gpu` profile) shows real runs.
:::"""


def nbval_checked(cell) -> bool:
    """Whether nbval compares this cell's stored outputs (the tag, or the older comment)."""
    return NBVAL_TAG in cell.metadata.get("tags", []) or NBVAL_MARK in cell.source


def chapter_notebooks() -> list[Path]:
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def chapter_dataset(notebook: Path) -> str | None:
    """The image dataset a chapter trains on (``gan_helpers.datasets.DATASETS``), from its
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
    from gan_helpers import DataNotFoundError, find_dataset

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
        injected = {
            "PROFILE": profile,
            "OUT_DIR": str(out_dir),
            "INTERACTIVE": False,
            **({"RESUME": False} if fresh_start else {}),
            **({"IMAGE_FOLDER": str(folder)} if image_chapter and folder is not None else {}),
            **(parameters or {}),
        }
        # OUT_DIR holds the book's run of the chapter, whatever settings the book passes: the
        # kernel counts them as the chapter's defaults (gan_helpers.profiles.run_folder)
        declared = os.environ.get("GAN_RUN_DEFAULTS")
        os.environ["GAN_RUN_DEFAULTS"] = json.dumps({k.lower(): v for k, v in injected.items()},
                                                   default=str)
        try:
            papermill.execute_notebook(str(source), str(running), parameters=injected,
                                       cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False)
        finally:
            os.environ.pop("GAN_RUN_DEFAULTS")
            if declared is not None:
                os.environ["GAN_RUN_DEFAULTS"] = declared
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


def machine_paths(notebook: nbformat.NotebookNode) -> dict[str, str]:
    """The absolute paths of the machine that ran ``notebook`` -> how its page shows them: each
    path parameter papermill passed by its name (``OUT_DIR``, ``IMAGE_FOLDER``, ...), the folder
    above OUT_DIR (where chapter 6 reads the others) as ``OUT_DIR/..``, the repository as ``.``."""
    parameters = notebook.metadata.get("papermill", {}).get("parameters", {})
    shown = {str(ROOT): "."}
    if isinstance(parameters.get("OUT_DIR"), str):
        shown[str(Path(parameters["OUT_DIR"]).parent)] = "OUT_DIR/.."
    for name, value in parameters.items():
        if isinstance(value, str) and os.path.isabs(value) and len(value) > 1:
            shown[value.rstrip("/")] = name
    return shown


def collapse_progress(text: str) -> str:
    """Each line as a terminal leaves it: a progress bar's carriage returns keep only its final
    state (one "100%" line instead of "0%" and "100%")."""
    lines = []
    for line in text.split("\n"):
        states = [state for state in line.split("\r") if state]
        lines.append(states[-1] if states else "")
    return "\n".join(lines)


def tidy_outputs(notebook: nbformat.NotebookNode, shown: dict[str, str]) -> None:
    """In place: consecutive stream outputs merged and their progress bars collapsed; every path
    of ``shown`` (longest first, whole path segments only) replaced in text outputs."""
    keys = sorted(shown, key=len, reverse=True)
    pattern = re.compile("(?:" + "|".join(re.escape(key) for key in keys) + r")(?![\w-])") if keys else None
    replace = (lambda text: pattern.sub(lambda m: shown[m.group(0)], text)) if pattern else (lambda text: text)
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            previous = outputs[-1] if outputs else None
            if (output.output_type == "stream" and previous is not None and previous.output_type == "stream"
                    and previous.name == output.name):
                previous.text += output.text
            else:
                outputs.append(output)
        for output in outputs:
            if output.output_type == "stream":
                output.text = replace(collapse_progress(output.text))
            elif output.output_type == "error":
                output.evalue = replace(output.evalue)
                output.traceback = [replace(line) for line in output.traceback]
            else:
                for mime, value in output.get("data", {}).items():
                    if isinstance(value, str) and not mime.startswith("image/"):
                        output.data[mime] = replace(value)
        cell.outputs = outputs


def add_smoke_banner(notebook: nbformat.NotebookNode) -> None:
    """In place: SMOKE_BANNER right under the chapter's title (or first, if it has none)."""
    first = notebook.cells[0] if notebook.cells else None
    if first is not None and first.cell_type == "markdown" and first.source.startswith("# "):
        title, _, rest = first.source.partition("\n")
        first.source = f"{title}\n\n{SMOKE_BANNER}\n{rest}"
    else:
        notebook.cells.insert(0, nbformat.v4.new_markdown_cell(SMOKE_BANNER, id="smoke-banner"))


def chapter_page(executed: nbformat.NotebookNode, profile: str, edition: str) -> nbformat.NotebookNode:
    """An executed chapter as the book shows it: no papermill cell or nbval marker, machine paths
    shown by name, progress bars collapsed, the smoke banner when it ran in smoke, and, in the
    student edition, no solutions, hidden tests or answer keys."""
    # papermill's injected cell holds machine paths; the run's settings are shown by the
    # notebook's own config table, so the book leaves the injected cell out
    executed.cells = [c for c in executed.cells if "injected-parameters" not in c.metadata.get("tags", [])]
    for cell in executed.cells:  # nbval's older comment marker is for the tests, not readers
        cell.source = cell.source.replace(NBVAL_MARK + "\n", "")
    tidy_outputs(executed, machine_paths(executed))
    # papermill's records (its parameters, input and output paths, timings) stay out of the page's
    # downloadable notebook: they name the machine that ran it
    run = executed.metadata.pop("papermill", {})
    for cell in executed.cells:
        cell.metadata.pop("papermill", None)
        cell.metadata.pop("execution", None)
    if run.get("parameters", {}).get("PROFILE", profile) == "smoke":
        add_smoke_banner(executed)
    if edition == "student":
        # its Colab badge, like the launch buttons, opens the committed student edition
        badge = editions.student_badge(ROOT / EDITIONS["student"])
        executed = editions.student_edition(executed, badge=badge, keep_outputs=True)
    return executed


def stage(profile: str, executed_dir: Path | None = None, edition: str = "student", out: Path | None = None) -> Path:
    """Copy the book's pages and the executed chapters into ``out``/_build/src (the book's source;
    ``out`` is the repository unless given), each chapter as :func:`chapter_page` makes it.

    The student edition's chapters sit in student/ (the instructor's in notebooks/), so that the
    launch buttons, made from a page's path, open the committed student editions."""
    if edition not in EDITIONS:
        raise SystemExit(f"edition {edition!r}: expected one of {sorted(EDITIONS)}")
    executed_dir = executed_dir or ROOT / "executed" / profile
    skipped = {nb.stem: status["missing"] for nb in chapter_notebooks()
               if (status := read_status(executed_dir, nb.stem)) and status["status"] == "skipped"}
    missing = [nb.name for nb in chapter_notebooks() if not (executed_dir / nb.name).exists() and nb.stem not in skipped]
    if missing:
        raise SystemExit(f"not executed yet in profile {profile}: {missing}; run `python tools/book.py execute --profile {profile}`")
    src = Path(out or ROOT) / "_build" / "src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    folder = EDITIONS[edition]
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "book", src / "book")
    shutil.copytree(ROOT / "_static", src / "_static")
    if folder != "notebooks":  # the table of contents and the pages' links name the chapters' folder
        for path in [src / "_toc.yml", *(src / "book").glob("*.md")]:
            text = path.read_text()
            path.write_text(text.replace("file: notebooks/", f"file: {folder}/").replace("../notebooks/", f"../{folder}/"))
    (src / folder).mkdir()
    for notebook in chapter_notebooks():
        if notebook.stem in skipped:
            page = skipped_page(notebook, skipped[notebook.stem])
            if edition == "student":
                page = editions.student_edition(page)
        else:
            page = chapter_page(nbformat.read(executed_dir / notebook.name, as_version=4), profile, edition)
        nbformat.write(page, src / folder / notebook.name)
    return src


def mathjax() -> Path | None:
    """MathJax's es5 folder, installed by npm into .mathjax/ the first time (MATHJAX_VERSION);
    None, with a line saying why, where npm is missing or cannot install it."""
    package = MATHJAX / "node_modules" / "mathjax"
    installed = json.loads((package / "package.json").read_text())["version"] if (package / "package.json").exists() else None
    if installed == MATHJAX_VERSION:
        return package / "es5"
    npm = shutil.which("npm")
    why = "npm is not installed" if npm is None else None
    if npm is not None:
        print(f"installing MathJax {MATHJAX_VERSION} into {MATHJAX} (npm, once)", flush=True)
        result = subprocess.run([npm, "install", "--prefix", str(MATHJAX), "--no-save", "--no-audit", "--no-fund",
                                 "--loglevel=error", f"mathjax@{MATHJAX_VERSION}"])
        why = f"`npm install mathjax@{MATHJAX_VERSION}` failed (exit {result.returncode})" if result.returncode else None
    if why:
        print(f"{why}: this book loads MathJax from a CDN, so its formulas need internet to render. For a book "
              "that works offline, install Node.js's npm (`make system` does on Debian) and build again.")
        return None
    return package / "es5"


def build(profile: str, executed_dir: Path | None = None, edition: str = "student", out: Path | None = None) -> Path:
    """Build ``out``/_build/html (``out``: the repository unless given) with warnings treated as
    errors; ``edition``: student (the public book) or instructor. Returns its index.html."""
    profile = resolve(profile)
    out = Path(out or ROOT)
    es5 = mathjax()
    src = stage(profile, executed_dir, edition, out)
    if es5 is None:  # _config.yml's local mathjax_path would find nothing: the CDN's copy of the same version
        config = src / "_config.yml"
        config.write_text(config.read_text().replace(
            "mathjax_path: mathjax/", f"mathjax_path: https://cdn.jsdelivr.net/npm/mathjax@{MATHJAX_VERSION}/es5/"))
    html = out / "_build" / "html"
    shutil.rmtree(html, ignore_errors=True)  # no page of another edition or chapter set survives
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    command = [str(jupyter_book), "build", str(src), "--path-output", str(out), "-W", "--keep-going", "--quiet"]
    result = subprocess.run(command, cwd=ROOT)
    if result.returncode != 0:
        raise SystemExit(f"jupyter-book build failed (exit {result.returncode})")
    for part in MATHJAX_PARTS if es5 else ():  # _config.yml's mathjax_path points here
        source, target = es5 / part, html / "_static" / "mathjax" / part
        target.parent.mkdir(parents=True, exist_ok=True)
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, target)
    index = html / "index.html"
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
            p.add_argument("--edition", choices=sorted(EDITIONS), default="student",
                           help="student (the public book, the default): no solutions, hidden tests or answer "
                           "keys; instructor: solutions folded, answer keys shown")
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

"""Every chapter's times, kept in one place and written everywhere they are stated.

    python tools/times.py write    # rewrite every generated block from the notebooks' metadata
    python tools/times.py check    # list the blocks that disagree with it (exit status 1)

The one place is each chapter's notebook metadata, ``gan_course.times``:

- ``smoke_s``: seconds of the whole notebook in ``smoke`` (``smoke_note``: what it trains on);
- ``cpu_min``: minutes of the whole notebook in ``cpu`` on the reference machine (MACHINE), with
  the real images' statistics already cached; ``cpu_first_extra_min``: the minutes the first run
  adds to compute and cache them; ``cpu_detail``: what those minutes hold;
- ``gpu_t4_min`` and ``full_t4_min``: the training minutes on one T4 that the course's plan
  estimates (``python tools/book.py plan``; tests/test_times.py checks them against it), None for
  a chapter that trains nothing; ``full_what``: what ``full`` trains.

The README, the book's intro, running.md and instructors.md, and each notebook's **Time.**
paragraph hold blocks between ``<!-- times:NAME -->`` and ``<!-- /times:NAME -->`` lines (HTML
comments: invisible on GitHub, in Jupyter and in the book) that this script writes from them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import blocks
import book

ROOT = Path(__file__).resolve().parents[1]
MACHINE = "a 2-core x86-64 CPU without a GPU"
KEYS = {"smoke_s", "smoke_note", "cpu_min", "cpu_first_extra_min", "cpu_detail", "gpu_t4_min", "full_t4_min",
        "full_what"}
PLAN = "`python tools/book.py plan`"
TEN = 10  # the cpu profile's aim, in minutes
DOCUMENTS = {  # the generated blocks of each document
    "README.md": ("summary", "readme-table"),
    "book/intro.md": ("summary",),
    "book/running.md": ("profiles-table", "gpu-table"),
    "book/instructors.md": ("instructors-table",),
}


def read_times(notebook: Path) -> dict:
    """``gan_course.times`` of one chapter, checked for its keys."""
    times = json.loads(notebook.read_text()).get("metadata", {}).get("gan_course", {}).get("times")
    if times is None:
        raise ValueError(f"{notebook.name} has no gan_course.times in its metadata: add {sorted(KEYS)}")
    if set(times) != KEYS:
        raise ValueError(f"{notebook.name}: gan_course.times has {sorted(times)}, expected {sorted(KEYS)}")
    return times


def all_times() -> dict[str, dict]:
    return {notebook.stem: read_times(notebook) for notebook in book.chapter_notebooks()}


def number(stem: str) -> int:
    return int(stem[:2])


def minutes(value: float) -> str:
    """9.0 -> '9.0 min', 13 -> '13 min', 62.4 -> '62 min', 0.5 -> '30 s'."""
    if value < 1:
        return f"{value * 60:.0f} s"
    return f"{value:.1f} min" if value < 10 else f"{value:.0f} min"


def cpu_cell(t: dict) -> str:
    first = f"; {minutes(t['cpu_min'] + t['cpu_first_extra_min'])} the first time" if t["cpu_first_extra_min"] else ""
    return f"{minutes(t['cpu_min'])} ({t['cpu_detail']}{first})"


def smoke_cell(t: dict) -> str:
    return f"{t['smoke_s']} s" + (f" ({t['smoke_note']})" if t["smoke_note"] else "")


def t4_cell(value: float | None, what: str = "") -> str:
    if value is None:
        return "trains nothing"
    return f"{minutes(value)} of training" + (f" ({what})" if what else "")


def span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{minutes(low)}" if minutes(low) == minutes(high) else f"{minutes(low).split()[0]} to {minutes(high)}"


def listing(numbers: list[int]) -> str:
    """[1, 2, 6] -> '1, 2 and 6'."""
    words = [str(n) for n in numbers]
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def title(stem: str) -> str:
    """The chapter's title from its first heading ("# 1 · A vanilla GAN on MNIST")."""
    import nbformat

    first = nbformat.read(book.NOTEBOOKS / f"{stem}.ipynb", as_version=4).cells[0].source.splitlines()[0]
    return first.lstrip("# ").split(" · ", 1)[-1]


def summary(times: dict[str, dict]) -> str:
    """The sentence the README and the intro state about the cpu profile, true to the numbers."""
    cpu = [t["cpu_min"] for t in times.values()]
    first = [t["cpu_min"] + t["cpu_first_extra_min"] for t in times.values()]
    within = [number(stem) for stem, t in times.items() if t["cpu_min"] <= TEN]
    cached = [number(stem) for stem, t in times.items()
              if t["cpu_min"] <= TEN < t["cpu_min"] + t["cpu_first_extra_min"]]
    over = [number(stem) for stem, t in times.items() if t["cpu_min"] > TEN]
    sentence = (f"In its `cpu` profile a chapter runs on a laptop CPU in {span(cpu)} (measured on {MACHINE}, "
                f"the real images' statistics cached; up to {minutes(max(first))} the first time, which computes "
                "them)")
    if over:
        sentence += (f": chapters {listing(within)} within {TEN} minutes"
                     + (f" ({listing(cached)} once the statistics are cached)" if cached else "")
                     + f", chapter{'s' if len(over) > 1 else ''} {listing(over)} not yet")
    gpu = [t["gpu_t4_min"] for t in times.values() if t["gpu_t4_min"] is not None]
    return (sentence + f". In its `gpu` profile a chapter trains for {span(gpu)} on one Colab T4, by the "
            f"course's plan ({PLAN}; an estimate, not yet measured on a T4).")


def readme_table(times: dict[str, dict]) -> str:
    rows = ["| Chapter | `smoke` | `cpu` (measured) | `gpu` on a T4 (plan) | `full` on a T4 (plan) |",
            "| --- | --- | --- | --- | --- |"]
    for stem, t in times.items():
        rows.append(f"| {number(stem)} | {t['smoke_s']} s | {minutes(t['cpu_min'])}"
                    + (f" ({minutes(t['cpu_min'] + t['cpu_first_extra_min'])} the first time)"
                       if t["cpu_first_extra_min"] else "")
                    + f" | {t4_cell(t['gpu_t4_min'])} | {t4_cell(t['full_t4_min'])} |")
    return "\n".join(rows)


def instructors_table(times: dict[str, dict]) -> str:
    rows = [f"Measured on {MACHINE} (`smoke`, `cpu`: the whole notebook); `gpu` and `full`: training "
            f"minutes on one T4 estimated by the course's plan ({PLAN}), not yet measured on a T4.", "",
            "| Chapter | `smoke` | `cpu` | `gpu` (T4, plan) | `full` (T4, plan) |",
            "| --- | --- | --- | --- | --- |"]
    for stem, t in times.items():
        rows.append(f"| {number(stem)} · {title(stem)} | {smoke_cell(t)} | {cpu_cell(t)} | "
                    f"{t4_cell(t['gpu_t4_min'])} | {t4_cell(t['full_t4_min'], t['full_what'])} |")
    return "\n".join(rows)


def profiles_table(times: dict[str, dict]) -> str:
    smoke = [t["smoke_s"] for t in times.values()]
    cpu = [t["cpu_min"] for t in times.values()]
    first = max(t["cpu_min"] + t["cpu_first_extra_min"] for t in times.values())
    gpu = [t["gpu_t4_min"] for t in times.values() if t["gpu_t4_min"] is not None]
    full = [t["full_t4_min"] for t in times.values() if t["full_t4_min"] is not None]
    return "\n".join([
        "| Profile | Meant for | Time per chapter |",
        "| --- | --- | --- |",
        f"| `smoke` | CI and the regression tests | {min(smoke)} to {max(smoke)} s (measured on {MACHINE}) |",
        f"| `cpu` | a laptop without a GPU, 2 cores | {span(cpu)}, up to {minutes(first)} the first time "
        f"(measured on {MACHINE}) |",
        "| `gpu` | a class session on one GPU (a free Colab T4); what `auto` picks on a GPU | "
        f"{span(gpu)} of training on a T4 (the plan's estimate) |",
        f"| `full` | the paper-level run on one GPU, opt-in | {span(full)} of training on a T4 (the plan's estimate) |",
        "",
        "Each chapter's own times: *Run times* in {doc}`instructors`."])


def gpu_table(times: dict[str, dict]) -> str:
    """The plan's training minutes on a T4 and each job's timeout in the GPU workflow (the
    workflow's own formula, tools/gpu_runner.py, from the same estimates)."""
    import gpu_runner  # tools/gpu_runner.py

    rows = ["| Chapter | `gpu`: training on a T4 (plan) | `gpu`: timeout | `full`: training on a T4 (plan) "
            "| `full`: timeout |", "| --- | --- | --- | --- | --- |"]
    for stem, t in times.items():
        stage = "score" if t["gpu_t4_min"] is None else "train"
        cells = [f"{t4_cell(t[key]).removesuffix(' of training')} | "
                 f"{gpu_runner.timeout_minutes(t[key] or 0.0, stage)} min" for key in ("gpu_t4_min", "full_t4_min")]
        rows.append(f"| {number(stem)} | {' | '.join(cells)} |")
    return "\n".join(rows)


def timebox(t: dict) -> str:
    """The generated sentences of a chapter's **Time.** paragraph."""
    first = (f" ({minutes(t['cpu_min'] + t['cpu_first_extra_min'])} the first time, which computes and "
             "caches the real images' statistics)") if t["cpu_first_extra_min"] else ""
    text = (f"Measured on {MACHINE}: `smoke` {t['smoke_s']} s, `cpu` {minutes(t['cpu_min'])} for the whole "
            f"notebook{first}: {t['cpu_detail']}.")
    if t["gpu_t4_min"] is None:
        return text + " `gpu` and `full` have not been timed on a GPU yet."
    return text + (f" On one Colab T4, `gpu` trains for about {minutes(t['gpu_t4_min'])} and `full` for about "
                   f"{minutes(t['full_t4_min'])} by the course's plan ({PLAN}; estimates, not yet measured "
                   "on a T4), with loading and scoring on top.")


RENDER = {"summary": summary, "readme-table": readme_table, "instructors-table": instructors_table,
          "profiles-table": profiles_table, "gpu-table": gpu_table}


def replace(text: str, name: str, content: str, where: str) -> str:
    """``text`` with its ``times:NAME`` block holding ``content`` (tools/blocks.py)."""
    return blocks.replace(text, "times", name, content, where)


def expected() -> dict[str, str]:
    """{document path: its text with every block written}, for the documents and the notebooks'
    Time cells (``path#cell-id``)."""
    times = all_times()
    result = {}
    for name, blocks in DOCUMENTS.items():
        text = (ROOT / name).read_text()
        for block_name in blocks:
            text = replace(text, block_name, RENDER[block_name](times), name)
        result[name] = text
    import nbformat

    for notebook in book.chapter_notebooks():
        cells = [c for c in nbformat.read(notebook, as_version=4).cells if "<!-- times:timebox -->" in c.source]
        if len(cells) != 1:
            raise ValueError(f"{notebook.name}: one markdown cell must hold the '<!-- times:timebox -->' block")
        result[f"notebooks/{notebook.name}#{cells[0].id}"] = replace(cells[0].source, "timebox",
                                                                     timebox(times[notebook.stem]), notebook.name)
    return result


def current(key: str) -> str:
    import nbformat

    path, _, cell_id = key.partition("#")
    if not cell_id:
        return (ROOT / path).read_text()
    return next(c.source for c in nbformat.read(ROOT / path, as_version=4).cells if c.id == cell_id)


def problems() -> list[str]:
    """The documents and Time cells whose blocks disagree with the notebooks' metadata."""
    return [f"{key}: its times disagree with the notebooks' gan_course.times; run `python tools/times.py write`"
            for key, text in expected().items() if current(key) != text]


def write() -> list[str]:
    import nbformat

    changed = []
    for key, text in expected().items():
        if current(key) == text:
            continue
        path, _, cell_id = key.partition("#")
        if cell_id:
            notebook = nbformat.read(ROOT / path, as_version=4)
            next(c for c in notebook.cells if c.id == cell_id).source = text
            nbformat.write(notebook, ROOT / path)
        else:
            (ROOT / path).write_text(text)
        changed.append(key)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("write", "check"))
    args = parser.parse_args()
    if args.command == "write":
        for key in write():
            print(f"wrote the times in {key}")
        return 0
    found = problems()
    print("\n".join(found) or "every stated time agrees with the notebooks' metadata")
    return 1 if found else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())

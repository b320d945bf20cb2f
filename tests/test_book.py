"""The Jupyter Book: how tools/book.py stages the executed chapters (unit tests on fabricated runs),
then the public book built from the smoke-executed chapters into a temporary folder and opened in
a real headless Chromium."""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

import book
import editions
from test_notebooks import SCORING_ONLY

CHAPTERS = book.chapter_notebooks()
NEW = nbformat.v4


# --- staging: fabricated executed copies, no kernel ---------------------------------------------


def fake_run(executed_dir: Path, machine: Path, profile: str = "smoke") -> Path:
    """Every chapter as if papermill had run it on ``machine`` (a temporary folder): its
    parameters in the metadata, and in the first code cell the outputs a run prints there (its
    folder, a checkpoint path, chapter 6's folder of other runs, a progress bar in two writes)."""
    executed_dir.mkdir(parents=True)
    for path in CHAPTERS:
        notebook = nbformat.read(path, as_version=4)
        out_dir = machine / "outputs" / profile / path.stem
        notebook.metadata["papermill"] = {"parameters": {
            "PROFILE": profile, "OUT_DIR": str(out_dir), "INTERACTIVE": False,
            "IMAGE_FOLDER": str(machine / "standin" / "shapes")}}
        # a copy executed before the badges moved to student/: its badge opens the instructor edition
        notebook.cells[0].source = notebook.cells[0].source.replace("/blob/main/student/", "/blob/main/notebooks/")
        code = next(cell for cell in notebook.cells if cell.cell_type == "code")
        code.outputs = [
            NEW.new_output("stream", name="stdout", text=f"this run's folder: {out_dir}\n"),
            NEW.new_output("stream", name="stdout", text=f"checkpoints go to {out_dir}/checkpoint.pt\n"),
            NEW.new_output("stream", name="stdout", text="\rtraining:   0%|          | 0/16 [00:00<?, ?step/s]"),
            NEW.new_output("stream", name="stdout", text="\rtraining: 100%|##########| 16/16 [00:01<00:00, loss_D=1.2]\n"),
            NEW.new_output("execute_result", execution_count=1, data={
                "text/plain": f"PosixPath('{out_dir.parent}')",
                "text/html": f"<p>read {out_dir.parent}, images from {machine}/standin/shapes</p>"}),
        ]
        nbformat.write(notebook, executed_dir / path.name)
    return executed_dir


def page_text(notebook) -> str:
    """Everything a chapter page shows: sources and text outputs."""
    parts = []
    for cell in notebook.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts += [output.get("text", ""), output.get("evalue", ""), *output.get("traceback", [])]
            parts += [v for k, v in output.get("data", {}).items() if isinstance(v, str) and not k.startswith("image/")]
    return "\n".join(parts)


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> dict:
    """The fabricated smoke run staged in both editions, and a cpu run in the student edition."""
    base = tmp_path_factory.mktemp("staging")
    machine = base / "pytest-of-someone" / "run-7"
    smoke, cpu = fake_run(base / "smoke", machine), fake_run(base / "cpu", machine, profile="cpu")
    return {"machine": machine,
            "student": book.stage("smoke", smoke, "student", out=base / "student"),
            "instructor": book.stage("smoke", smoke, "instructor", out=base / "instructor"),
            "cpu": book.stage("cpu", cpu, out=base / "cpu")}


def test_the_student_edition_is_staged_where_the_launch_buttons_find_the_committed_editions(staged):
    src = staged["student"]
    assert sorted(p.name for p in (src / "student").glob("*.ipynb")) == [p.name for p in CHAPTERS]
    assert not (src / "notebooks").exists()
    for path in CHAPTERS:  # the launch buttons open <repository>/blob/<branch>/<page's path>.ipynb
        assert (book.ROOT / "student" / path.name).is_file(), f"student/{path.name} is not committed: run make student"
    badge = nbformat.read(src / "student" / "01_vanilla_gan.ipynb", as_version=4).cells[0].source
    assert "colab.research.google.com/github/gan-course/gan-course/blob/main/student/01_vanilla_gan.ipynb" in badge
    assert "/notebooks/" not in badge
    toc = (src / "_toc.yml").read_text()
    assert "file: student/01_vanilla_gan" in toc and "notebooks/" not in toc
    intro = (src / "book" / "intro.md").read_text()
    assert "{doc}`../student/01_vanilla_gan`" in intro and "../notebooks/" not in intro
    instructor = staged["instructor"]
    assert sorted(p.name for p in (instructor / "notebooks").glob("*.ipynb")) == [p.name for p in CHAPTERS]
    assert (instructor / "_toc.yml").read_text() == (book.ROOT / "_toc.yml").read_text()
    assert (src / "_static" / "course.css").is_file()


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_student_pages_hold_no_solutions_hidden_tests_or_answer_keys(staged, path):
    instructor_source = nbformat.read(path, as_version=4)
    student = nbformat.read(staged["student"] / "student" / path.name, as_version=4)
    text = page_text(student)
    for marker in ("### BEGIN SOLUTION", "BEGIN HIDDEN TESTS", "Answer key"):
        assert marker not in text
    assert not hidden_lines(instructor_source) & set(map(str.strip, text.splitlines()))
    assert not [c for c in student.cells if "answer-key" in c.metadata.get("tags", [])]
    # the instructor edition keeps them (folded), as the source has them
    instructor = page_text(nbformat.read(staged["instructor"] / "notebooks" / path.name, as_version=4))
    assert instructor.count("### BEGIN SOLUTION") == page_text(instructor_source).count("### BEGIN SOLUTION") > 0


@pytest.mark.parametrize("edition", ["student", "instructor"])
def test_pages_show_the_run_folders_by_name_and_one_line_per_progress_bar(staged, edition):
    machine = staged["machine"]
    for page in sorted((staged[edition] / book.EDITIONS[edition]).glob("*.ipynb")):
        notebook = nbformat.read(page, as_version=4)
        text = page_text(notebook)
        assert str(machine) not in text and "pytest-of" not in text, page.name
        assert str(machine) not in page.read_text(), f"{page.name}: the metadata names the machine"
        code = next(cell for cell in notebook.cells if cell.cell_type == "code" and cell.outputs)
        stream, result = code.outputs
        assert stream.text == ("this run's folder: OUT_DIR\ncheckpoints go to OUT_DIR/checkpoint.pt\n"
                               "training: 100%|##########| 16/16 [00:01<00:00, loss_D=1.2]\n")
        assert result.data["text/plain"] == "PosixPath('OUT_DIR/..')"
        assert result.data["text/html"] == "<p>read OUT_DIR/.., images from IMAGE_FOLDER</p>"


def test_every_smoke_page_opens_with_the_banner_and_no_other_page_does(staged):
    for edition in ("student", "instructor"):
        for page in sorted((staged[edition] / book.EDITIONS[edition]).glob("*.ipynb")):
            first = nbformat.read(page, as_version=4).cells[0]
            title, _, rest = first.source.partition("\n")
            assert title.startswith("# ") and rest.startswith("\n:::{admonition} A test run"), page.name
            assert ":class: warning smoke-banner" in rest
    for page in sorted((staged["cpu"] / "student").glob("*.ipynb")):
        assert "smoke-banner" not in page_text(nbformat.read(page, as_version=4))


def test_collapse_progress_keeps_what_a_terminal_shows():
    assert book.collapse_progress("a\n\rbar  0%\rbar 50%\rbar 100%\nb\r\n") == "a\nbar 100%\nb\n"
    assert book.collapse_progress("no bar\n") == "no bar\n"


def test_machine_paths_replace_whole_path_segments_only():
    notebook = NEW.new_notebook(cells=[NEW.new_code_cell("x", outputs=[NEW.new_output(
        "stream", name="stdout", text="/m/out/ch1/a.pt /m/out/ch10 /m/out/ch1. /m/out\n")])])
    notebook.metadata["papermill"] = {"parameters": {"OUT_DIR": "/m/out/ch1", "SEED": 3}}
    book.tidy_outputs(notebook, book.machine_paths(notebook))
    assert notebook.cells[0].outputs[0].text == "OUT_DIR/a.pt OUT_DIR/../ch10 OUT_DIR. OUT_DIR/..\n"


def test_the_public_book_is_the_student_edition_unless_the_instructor_edition_is_asked_for(monkeypatch):
    import sys

    import yaml

    calls = []
    monkeypatch.setattr(book, "build", lambda *args, **kwargs: calls.append(kwargs["edition"]))
    for extra in ([], ["--edition", "instructor"]):
        monkeypatch.setattr(sys, "argv", ["book.py", "build", "--profile", "cpu", *extra])
        book.main()
    assert calls == ["student", "instructor"]
    makefile = (book.ROOT / "Makefile").read_text()
    assert re.search(r"^EDITION \?= student$", makefile, re.M)
    assert "tools/book.py build --profile $(PROFILE) --edition $(EDITION)" in makefile
    workflow = yaml.safe_load((book.ROOT / ".github" / "workflows" / "book-gpu.yml").read_text())
    (command,) = [s["run"] for s in workflow["jobs"]["book"]["steps"] if "tools/book.py build" in s.get("run", "")]
    assert "--edition student" in command


def hidden_lines(notebook) -> set[str]:
    """The lines of the instructor's solutions and hidden tests that the student edition lacks."""
    student = "\n".join(c.source for c in editions.student_edition(notebook).cells)
    shown = set(map(str.strip, student.splitlines()))
    blocks = [m.group(0) for c in notebook.cells if c.cell_type == "code"
              for m in [*editions.HIDDEN.finditer(c.source), *editions.BLOCK.finditer(c.source)]]
    return {line.strip() for block in blocks for line in block.splitlines()
            if len(line.strip()) > 12 and line.strip() not in shown and not line.strip().startswith("###")}


# --- the public book, built from the chapters executed in smoke ---------------------------------


@pytest.fixture(scope="module")
def built_book(executed_smoke, tmp_path_factory):
    """The public book (student edition) of the smoke run, built in a temporary folder: the
    repository's _build/html, where `make book` puts a real book, is left as it was."""
    real = book.ROOT / "_build" / "html" / "index.html"
    before = real.stat().st_mtime_ns if real.exists() else None
    out = tmp_path_factory.mktemp("book")
    index = book.build("smoke", executed_dir=executed_smoke["dir"], out=out)  # -W: warnings are errors
    assert index == out / "_build" / "html" / "index.html" and index.exists()
    assert (real.stat().st_mtime_ns if real.exists() else None) == before, "the test book overwrote _build/html"
    return index.parent


def test_every_chapter_has_a_page_with_launch_buttons_to_its_student_edition(built_book):
    for notebook in CHAPTERS:
        page = (built_book / "student" / f"{notebook.stem}.html").read_text()
        assert f"colab.research.google.com/github/gan-course/gan-course/blob/main/student/{notebook.name}" in page
        assert "mybinder.org" in page and f"student/{notebook.name}" in page
        assert "/blob/main/notebooks/" not in page, "a button opens the instructor edition"
    assert not (built_book / "notebooks").exists()


def test_the_public_book_holds_no_hidden_tests_answer_keys_or_machine_paths(built_book, executed_smoke):
    from bs4 import BeautifulSoup

    hidden = {p.stem: hidden_lines(nbformat.read(p, as_version=4)) for p in CHAPTERS}
    everywhere = set().union(*hidden.values())  # a line hidden in one chapter may be shown in another
    pages = sorted(built_book.rglob("*.html"))
    assert len(pages) >= len(CHAPTERS) + 4
    machine = str(executed_smoke["outputs"].parent)
    for path in built_book.rglob("*"):  # pages, their notebooks to download, the search index
        if path.suffix in (".html", ".ipynb", ".js", ".txt"):
            assert machine not in path.read_text(errors="replace"), path.relative_to(built_book)
    for page in pages:
        text = BeautifulSoup(page.read_text(), "html.parser").get_text()
        name = page.relative_to(built_book).as_posix()
        assert "Answer key (instructors" not in text, name
        assert machine not in text and "pytest-of" not in text, name
        if name.startswith("student/"):
            assert "BEGIN HIDDEN TESTS" not in text and "BEGIN SOLUTION" not in text and "Answer key" not in text, name
            assert "smoke-banner" in page.read_text(), f"{name} has no smoke banner"
        shown = set(map(str.strip, text.splitlines())) & hidden.get(page.stem, everywhere)
        assert not shown, f"{name} shows hidden tests or solutions: {sorted(shown)[:3]}"


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("chromium and chromedriver are needed (Debian: apt-get install chromium chromium-driver; `make test` installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1280,2000"):
        options.add_argument(flag)
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.set_page_load_timeout(60)
    yield session
    session.quit()


WITH_FORMULAS = {"01_vanilla_gan", "05_wgan_gp_cifar10", "06_evaluation"}  # display and inline maths
IMAGES_LOADED = """
return Array.from(document.querySelectorAll('main img')).filter(img => !img.src.startsWith('http')).map(
    img => ({src: img.getAttribute('src').slice(0, 60), ok: img.complete && img.naturalWidth > 0, w: img.naturalWidth}));
"""
# what a reader sees at 1280 px: the banner, formulas, and blocks wider than the column
PAGE_STATE = """
const banner = document.querySelector('main .smoke-banner');
const box = banner && banner.getBoundingClientRect();
const wide = el => el.scrollWidth > el.clientWidth + 1;
const clipped = Array.from(document.querySelectorAll('main .cell_output *')).filter(
    el => getComputedStyle(el).overflowX === 'hidden' && wide(el) && !el.closest('.mjx-container, mjx-container'));
return {
  banner: banner ? {visible: box.width > 0 && box.height > 0, top: box.top + window.scrollY, text: banner.innerText} : null,
  title_top: document.querySelector('.bd-article h1').getBoundingClientRect().top + window.scrollY,
  text: document.querySelector('main').innerText,
  math: document.querySelectorAll('main .math').length,
  rendered: document.querySelectorAll('main .math mjx-container').length,
  raw: Array.from(document.querySelectorAll('main .math')).filter(el => !el.querySelector('mjx-container')).map(
      el => el.textContent.slice(0, 40)),
  mathjax: Array.from(document.scripts).map(s => s.src).filter(src => src.includes('mathjax')),
  scrolling_outputs: Array.from(document.querySelectorAll('main .cell_output pre')).filter(wide).map(
      el => el.textContent.slice(0, 60)),
  // code within the chapters' 88-character limit fits the column
  scrolling_code: Array.from(document.querySelectorAll('main .cell_input pre')).filter(
      el => wide(el) && Math.max(...el.textContent.split('\\n').map(line => line.length)) <= 88).map(
      el => el.textContent.slice(0, 60)),
  clipped: clipped.map(el => el.tagName + ': ' + el.textContent.slice(0, 40)),
  // every output table fits the article's column whole (chapter 5's runs, chapter 6's leaderboard)
  tables: Array.from(document.querySelectorAll('main .cell_output table')).map(table => {
      const article = document.querySelector('.bd-article'), column = article.getBoundingClientRect().right
          - parseFloat(getComputedStyle(article).paddingRight) + 1;
      return {fits: table.getBoundingClientRect().right <= column, first: table.innerText.slice(0, 30)};
  }),
};
"""


@pytest.mark.parametrize("chapter", [nb.stem for nb in CHAPTERS])
def test_chapter_page_renders_in_a_browser_as_the_public_sees_it(built_book, browser, chapter, executed_smoke):
    from selenium.webdriver.support.ui import WebDriverWait

    page = built_book / "student" / f"{chapter}.html"
    browser.get(page.as_uri())
    images = browser.execute_script(IMAGES_LOADED)
    broken = [img["src"] for img in images if not img["ok"]]
    assert not broken, f"images that did not load: {broken}"
    figures = [img for img in images if "_static" not in img["src"]]  # not the launch-button logos
    assert len(figures) >= 7, f"only {len(figures)} figures rendered"  # the chapter's plots and the animation
    if chapter not in SCORING_ONLY:  # chapter 6 trains nothing, so it has no animation
        assert any(img["src"].startswith("data:image/gif") for img in images), "the training animation is missing"
    # formulas are typeset by the book's own MathJax (no CDN): every one, without internet
    WebDriverWait(browser, 60).until(lambda b: b.execute_script(
        "const m = document.querySelectorAll('main .math'); return m.length === 0 || "
        "document.querySelectorAll('main .math mjx-container').length === m.length;"))
    state = browser.execute_script(PAGE_STATE)
    if chapter in WITH_FORMULAS:
        assert state["math"] >= 1 and state["mathjax"], "no formula on the page, or no MathJax to render it"
    assert all(src.startswith("file:") for src in state["mathjax"]), f"MathJax from elsewhere: {state['mathjax']}"
    assert state["rendered"] == state["math"] and not state["raw"], f"raw LaTeX left: {state['raw'][:3]}"
    # a smoke page says so first thing, under its title
    banner = state["banner"]
    assert banner and banner["visible"], "no visible smoke banner"
    assert "mean nothing" in banner["text"] and 0 < banner["top"] - state["title_top"] < 200
    # the public (student) page: stubs instead of solutions, no hidden tests, no answer keys, no machine paths
    text = state["text"]
    assert "YOUR CODE HERE" in text and "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    assert "Answer key" not in text
    assert not hidden_lines(nbformat.read(book.NOTEBOOKS / f"{chapter}.ipynb", as_version=4)) & set(
        map(str.strip, text.splitlines()))
    assert str(executed_smoke["outputs"].parent) not in text and "pytest-of" not in text and "/tmp/" not in text
    assert not re.search(r"(?<!\d)0%\|", text), "a progress bar's first state is left in the page"
    # at 1280 px, outputs wrap instead of scrolling sideways and wide tables scroll in their own box
    assert not state["scrolling_outputs"], f"outputs that scroll sideways: {state['scrolling_outputs'][:3]}"
    assert not state["scrolling_code"], f"code of at most 88 characters a line that scrolls: {state['scrolling_code'][:3]}"
    assert not state["clipped"], f"outputs cut off: {state['clipped'][:3]}"
    cut = [table["first"] for table in state["tables"] if not table["fits"]]
    assert not cut, f"tables wider than the column: {cut}"
    # the latent walk is a picture in the static book, not a dead widget
    assert "widget-view" not in page.read_text()
    screenshot = built_book.parent / f"screenshot-{chapter}.png"
    browser.save_screenshot(str(screenshot))
    assert screenshot.stat().st_size > 10_000

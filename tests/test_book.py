"""The Jupyter Book built from the smoke-executed chapters, then opened in a real headless Chromium."""

import shutil
from pathlib import Path

import pytest

import book
from test_notebooks import SCORING_ONLY

HTML = book.ROOT / "_build" / "html"


@pytest.fixture(scope="module")
def built_book(executed_smoke):
    index = book.build("smoke", executed_dir=executed_smoke["dir"])  # -W: warnings are errors
    assert index == HTML / "index.html" and index.exists()
    return HTML


def test_every_chapter_has_a_page_with_launch_buttons(built_book):
    for notebook in book.chapter_notebooks():
        page = (built_book / "notebooks" / f"{notebook.stem}.html").read_text()
        assert "colab.research.google.com/github/gan-course/gan-course/blob/main/notebooks/" in page
        assert "mybinder.org" in page


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


IMAGES_LOADED = """
return Array.from(document.querySelectorAll('main img')).filter(img => !img.src.startsWith('http')).map(
    img => ({src: img.getAttribute('src').slice(0, 60), ok: img.complete && img.naturalWidth > 0, w: img.naturalWidth}));
"""


@pytest.mark.parametrize("chapter", [nb.stem for nb in book.chapter_notebooks()])
def test_chapter_page_renders_its_figures(built_book, browser, chapter):
    page = built_book / "notebooks" / f"{chapter}.html"
    browser.get(page.as_uri())
    images = browser.execute_script(IMAGES_LOADED)
    broken = [img["src"] for img in images if not img["ok"]]
    assert not broken, f"images that did not load: {broken}"
    figures = [img for img in images if "_static" not in img["src"]]  # not the launch-button logos
    assert len(figures) >= 7, f"only {len(figures)} figures rendered"  # the chapter's plots and the animation
    if chapter not in SCORING_ONLY:  # chapter 6 trains nothing, so it has no animation
        assert any(img["src"].startswith("data:image/gif") for img in images), "the training animation is missing"
    # solutions are folded: their code is in the page but not visible until the reader opens it
    hidden = browser.execute_script(
        "return Array.from(document.querySelectorAll('.tag_solution .cell_input')).map(e => e.offsetParent === null || "
        "e.closest('details') !== null && !e.closest('details').open);")
    assert hidden and all(hidden), "solution cells must be folded by default"
    # the latent walk is a picture in the static book, not a dead widget
    assert "widget-view" not in page.read_text()
    browser.save_screenshot(str(book.ROOT / "_build" / f"screenshot-{chapter}.png"))
    assert (book.ROOT / "_build" / f"screenshot-{chapter}.png").stat().st_size > 10_000

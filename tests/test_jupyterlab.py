"""Chapter 1 where students run it: JupyterLab, in a real headless Chromium, in the smoke profile.

The server runs on a free loopback port with a token, on a copy of the notebook in a temporary
folder (so that JupyterLab's autosave can never write outputs into notebooks/). The page runs the
cells up to and including the latent-walk widget through JupyterLab's own commands, and the test
checks that the widget renders (a slider is present) and that dragging the slider changes the
picture: the round trip page -> kernel -> page works.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat
import pytest
from test_book import browser  # noqa: F401  (the headless Chromium of the book test, one per module)

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "01_vanilla_gan.ipynb"
SCREENSHOT = ROOT / "_build" / "jupyterlab-01_vanilla_gan.png"

# JupyterLab settings for the test: no autosave, no news or update checks (no internet in CI).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def widget_cell_index(notebook) -> int:
    """The index of the cell that shows the latent-walk widget (gh.latent_explorer)."""
    found = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code" and "latent_explorer(" in cell.source]
    assert found, "chapter 1 has no gh.latent_explorer cell"
    return found[0]


def kill_group(process: subprocess.Popen, sig: int) -> None:
    """Signal the process group that ``process`` leads (its kernels may outlive a crashed server)."""
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass


@pytest.fixture()
def lab(tmp_path):
    """A JupyterLab server on 127.0.0.1:<free port> with a token; killed by its own pid afterwards.

    Yields {"url", "token", "notebook" (the copy's name), "log"}.
    """
    root = tmp_path / "lab"
    root.mkdir()
    shutil.copy2(CHAPTER, root / CHAPTER.name)
    settings = tmp_path / "settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    port, token = free_port(), uuid.uuid4().hex
    env = {
        **os.environ,
        "GAN_PROFILE": "smoke",
        "GAN_DATA_ROOT": str(ROOT / "data"),
        "GAN_OUT_ROOT": str(tmp_path / "outputs"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
    }
    log = tmp_path / "jupyterlab.log"
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        "--MappingKernelManager.default_kernel_name=python3", "--LabApp.expose_app_in_browser=True",
        "--LabApp.extension_manager=readonly",  # no PyPI queries from the extension manager
        *(["--allow-root"] if os.geteuid() == 0 else []),  # CI containers run as root
    ]
    with log.open("w") as out:
        # its own process group: the kernels it starts are killed with it
        server = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start (exit {server.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield {"url": url, "token": token, "notebook": CHAPTER.name, "log": log}
    finally:
        kill_group(server, signal.SIGTERM)  # the server's group: the server and its kernels
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            kill_group(server, signal.SIGKILL)
            server.wait()


def wait_for(browser, script: str, what: str, timeout: float, lab: dict | None = None):
    """Poll a JavaScript expression until it returns something truthy; fail with ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.execute_script(script)
        if value:
            return value
        errors = browser.execute_script(ERRORS)
        if errors:
            pytest.fail(f"a cell failed while waiting for {what}:\n{errors[0][:3000]}")
        time.sleep(0.5)
    log = lab["log"].read_text()[-3000:] if lab else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{log}")


NOTEBOOK_READY = """
const app = window.jupyterapp, panel = app && app.shell.currentWidget;
return !!(panel && panel.content && panel.content.widgets && panel.content.widgets.length > 0
          && panel.sessionContext && panel.sessionContext.session && panel.sessionContext.session.kernel
          && panel.sessionContext.session.kernel.connectionStatus === 'connected');
"""
RUN_UP_TO = """
const app = window.jupyterapp, panel = app.shell.currentWidget, index = arguments[0];
panel.content.activeCellIndex = index;
app.commands.execute('notebook:run-all-above').then(() => app.commands.execute('notebook:run-cell'));
"""
ERRORS = "return Array.from(document.querySelectorAll('[data-mime-type=\"application/vnd.jupyter.error\"]')).map(e => e.innerText);"
SLIDER = "return document.querySelector('.jp-Notebook .widget-slider .noUi-handle, .jp-Notebook .widget-slider .ui-slider-handle');"
PICTURE_PIXELS = """
const img = document.querySelector('.jp-Notebook .widget-vbox img.widget-image');
if (!img || !img.complete || img.naturalWidth === 0) return null;
const canvas = document.createElement('canvas');
canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
canvas.getContext('2d').drawImage(img, 0, 0);
return canvas.toDataURL();
"""


def test_chapter1_widget_renders_and_follows_the_slider_in_jupyterlab(lab, browser):
    from selenium.webdriver.common.action_chains import ActionChains

    index = widget_cell_index(nbformat.read(CHAPTER, as_version=4))
    browser.get(f"{lab['url']}/lab/tree/{lab['notebook']}?token={lab['token']}")
    wait_for(browser, NOTEBOOK_READY, "the notebook and its kernel", 90, lab)
    browser.execute_script(RUN_UP_TO, index)
    handle = wait_for(browser, SLIDER, "the latent-walk slider", 180, lab)
    before = wait_for(browser, PICTURE_PIXELS, "the widget's picture", 30, lab)
    assert before.startswith("data:image/png")

    browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", handle)
    ActionChains(browser).drag_and_drop_by_offset(handle, 120, 0).perform()
    after = wait_for(browser, f"const p = (() => {{ {PICTURE_PIXELS} }})(); return p && p !== {json.dumps(before)} ? p : null;",
                     "the picture to change after moving the slider", 30, lab)
    assert after != before

    SCREENSHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
    # the cells ran in the smoke profile: the config table printed by cell 6 says so
    assert "smoke" in browser.execute_script("return document.querySelector('.jp-Notebook').innerText;")

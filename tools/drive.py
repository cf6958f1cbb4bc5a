"""The studio in a browser: serve a Streamlit script on a free port, launch chromium, draw on the canvas.

The browser tests and tools.bench_app share these. Playwright is imported where it is used.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image

from bican import studio
from pages._ui import HEX_CLASS

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
BARE = ROOT / "tools" / "bare_canvas_app.py"
# A chromium on PATH (Debian's, which `make test` installs, is /usr/bin/chromium), else Playwright's own download.
CHROMIUM = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NO_CHROMIUM = ("no chromium found: on Debian or Ubuntu `apt-get install chromium` (make test does it as root); "
               "elsewhere `python -m playwright install chromium`")
CANVAS = "canvas.upper-canvas"
DRAWING = "canvas.dc-canvas.lower-canvas"  # the layer holding the background and the strokes, as the app receives them
HEX = f".st-key-result .{HEX_CLASS}"  # where the compress page shows the stream's bytes
DOWNLOAD_LINK = f".st-key-result:has(.{HEX_CLASS}) a[download]"  # the compress page's last result element
TIMEOUT_MS = 120_000

# Strokes in canvas fractions, one per concurrent session, distinct enough to give distinct codes.
STROKES = [
    [(0.5, 0.15), (0.5, 0.85)],
    [(0.25, 0.2), (0.75, 0.2), (0.4, 0.85)],
    [(0.3, 0.2), (0.3, 0.8), (0.75, 0.8)],
    [(0.5, 0.15), (0.8, 0.5), (0.5, 0.85), (0.2, 0.5), (0.5, 0.15)],
    [(0.25, 0.25), (0.7, 0.2), (0.3, 0.8), (0.75, 0.8)],
    [(0.2, 0.8), (0.8, 0.2)],
    [(0.3, 0.2), (0.7, 0.35), (0.35, 0.5), (0.7, 0.65), (0.3, 0.8)],
    [(0.65, 0.15), (0.25, 0.6), (0.75, 0.6), (0.6, 0.4), (0.6, 0.85)],
]


def find_chromium(playwright=None) -> str | None:
    """The chromium to test with: a system one, else the one `playwright install chromium` downloaded, else None.

    Args:
        playwright: a running Playwright, if the caller holds one (a second one cannot start inside it).
    """
    for name in CHROMIUM:
        found = shutil.which(name)
        if found:
            return found
    if playwright is None:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as started:
            return find_chromium(started)
    bundled = playwright.chromium.executable_path
    return bundled if Path(bundled).is_file() else None


class Server:
    """`streamlit run SCRIPT` on a free localhost port, as a subprocess; `started` is when it was spawned."""

    def __init__(self, script: Path, env: dict[str, str] | None = None):
        with socket.socket() as s:
            s.bind(("localhost", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://localhost:{self.port}/"
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 -- the server outlives this call; close() closes it
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(script), "--server.port", str(self.port),
             "--server.headless", "true"], cwd=ROOT, stdout=self.log, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})})

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"streamlit exited with {self.process.returncode}: {self.log.read()[-2000:].decode()}")
            try:
                with urllib.request.urlopen(self.url + "_stcore/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError(f"streamlit did not answer on {self.url} within {timeout:.0f} s")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


@contextmanager
def serve(script: Path, env: dict[str, str] | None = None):
    server = Server(script, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.close()


def start_run(page, url: str, fields: dict[str, str]):
    """Open the Train page, set the form's `fields` (label -> value), press Start and wait for the launch; return
    the sidebar navigation and the Start button.

    It enters at the root: on a fresh server, a first visit straight to /train runs pages/train.py by legacy pages/
    discovery, without app.py's st.navigation. The sidebar links keep one session, as a user would.
    """
    from playwright.sync_api import expect

    page.goto(url)
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_text("Train", exact=True).click()
    expect(page.get_by_text("Estimated")).to_be_visible()
    for label, value in fields.items():
        field = page.get_by_label(label)
        field.fill(value)
        field.press("Tab")
    start = page.get_by_role("button", name="Start", exact=True)
    start.click()
    expect(page.get_by_text("watch it on the Runs page")).to_be_visible()
    return nav, start


def launch(playwright):
    """Chromium, headless; none found is an error here (tests/conftest.py decides whether that skips a test)."""
    executable = find_chromium(playwright)
    if executable is None:
        raise RuntimeError(NO_CHROMIUM)
    return playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)


def open_page(browser, url: str, init_script: str | None = None, idle: bool = True):
    """A fresh session on `url`, waited on until the canvas is drawable and, if `idle`, the first script run is over.

    Args:
        browser: from launch().
        url: the server's.
        init_script: JavaScript to run in the page before its own (tools.bench_app's timer).
        idle: also wait for the script run to finish, so that a drawing's time holds no page loading.
    """
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    if init_script is not None:
        page.add_init_script(init_script)
    page.goto(url)
    expect(page.locator(CANVAS).first).to_be_visible(timeout=TIMEOUT_MS)
    if idle:
        expect(page.locator("[data-testid=stApp]")).to_have_attribute("data-test-script-state", "notRunning",
                                                                     timeout=TIMEOUT_MS)
    return page


def stroke(page, variant: int = 0) -> None:
    """Draw one of STROKES on the canvas with the mouse: down, moves, up."""
    box = page.locator(CANVAS).first.bounding_box()
    points = [(box["x"] + fx * box["width"], box["y"] + fy * box["height"]) for fx, fy in STROKES[variant % len(STROKES)]]
    page.mouse.move(*points[0])
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*point, steps=8)
    page.mouse.up()


def drawn_pixels(page) -> np.ndarray:
    """The canvas drawing as RGBA, read from the browser independently of the app."""
    url = page.locator(DRAWING).first.evaluate("c => c.toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))))


def expected_hex(codec, rgba: np.ndarray) -> str:
    """What the app must show for this drawing, computed in this process."""
    return studio.hex_text(codec.encode(studio.from_canvas(rgba))[0][0])

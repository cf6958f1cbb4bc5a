"""Studio latency, measured: server-side compute per drawing, and the real app in a browser against a bare canvas page.

Playwright and chromium are needed only here and in the browser tests, so they are imported lazily.
"""

from __future__ import annotations

import base64
import io
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from . import bench, data, studio, weights
from . import codec as codecs
from .classifier import load as load_classifier

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "app.py"
BARE = ROOT / "tests" / "bare_canvas_app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
CANVAS = "canvas.upper-canvas"
DRAWING = "canvas.dc-canvas.lower-canvas"  # the layer holding the background and the strokes, as the app receives them
HEX = f".st-key-result .{studio.HEX_CLASS}"  # where the compress page shows the stream's bytes
# Each page's result for a drawing, all of it: the app's download link, the last part of the one markdown element that
# holds the panels, the hex and the numbers; the bare page's inline code. TIMER_JS adds every image decoded.
DOWNLOAD_LINK = f".st-key-result:has(.{studio.HEX_CLASS}) a[download]"
DONE = {"app": DOWNLOAD_LINK,
        "bare": ".st-key-result [data-testid=stMarkdownContainer] code"}
TIMEOUT_MS = 120_000

Progress = Callable[[str, float], None]

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

# Time stamps taken inside the page, so a slow test driver does not inflate them: the mouse-up (capture phase, before the
# canvas sees it) and the first moment the page's last result element is in the DOM with every result image loaded.
TIMER_JS = """
window.__bench = {up: null, shown: null};
document.addEventListener("mouseup", () => { window.__bench.up = performance.now(); }, true);
const tick = () => {
  const b = window.__bench;
  if (b.up !== null && b.shown === null && document.querySelector(DONE)) {
    const images = [...document.querySelectorAll(".st-key-result img")];
    if (images.every(i => i.complete && i.naturalWidth > 0)) b.shown = performance.now();
  }
  setTimeout(tick, 2);
};
tick();
"""


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


def launch(playwright):
    """Debian's chromium, headless; a missing /usr/bin/chromium is an error, never a skip."""
    if not Path(CHROMIUM).is_file():
        raise RuntimeError(f"{CHROMIUM} is missing; install it with `apt-get install chromium`")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


def open_page(browser, url: str, done: str | None = None, idle: bool = True):
    """A fresh session on `url`, waited on until the canvas is drawable and, if `idle`, the first script run is over.

    Args:
        browser: from launch().
        url: the server's.
        done: a CSS selector for the page's last result element, to time drawings with TIMER_JS.
        idle: also wait for the script run to finish, so that a drawing's time holds no page loading.
    """
    from playwright.sync_api import expect

    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    if done is not None:
        page.add_init_script(TIMER_JS.replace("DONE", json.dumps(done)))
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


def expected_hex(codec: codecs.Codec, rgba: np.ndarray) -> str:
    """What the app must show for this drawing, computed in this process."""
    return studio.hex_text(codec.encode(studio.from_canvas(rgba))[0][0])


def shown_ms(page) -> float:
    """Mouse-up to result shown, in ms, from the page's own clock."""
    page.wait_for_function("window.__bench.shown !== null", timeout=TIMEOUT_MS)
    return page.evaluate("window.__bench.shown - window.__bench.up")


def percentiles(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50": float(np.percentile(samples, 50)), "p95": float(np.percentile(samples, 95)),
            "max": float(np.max(samples))}


def compute_ms(codec: codecs.Codec, count: int) -> list[float]:
    """Canvas array to every displayed result, in process: the same functions the compress page calls."""
    studio.one_thread()  # as the app runs
    classifier = load_classifier()
    canvases = [studio.canvas_of(d) for d in data.load("test", fetch=False).images[:count]]
    for canvas in canvases[:5]:  # first calls pay one-off allocations; a served app has paid them already
        studio.analyse(codec, studio.from_canvas(canvas), classifier)
    out = []
    for canvas in canvases:
        start = time.perf_counter()
        studio.analyse(codec, studio.from_canvas(canvas), classifier)
        out.append((time.perf_counter() - start) * 1000)
    return out


def cold_start_s(browser, script: Path) -> float:
    """Spawning `streamlit run` to the canvas ready for drawing in a fresh browser session."""
    with serve(script) as server:
        page = open_page(browser, server.url, idle=False)
        seconds = time.perf_counter() - server.started
        page.context.close()
        return seconds


def draw_ms(browser, url: str, kind: str, variant: int) -> float:
    page = open_page(browser, url, DONE[kind])
    stroke(page, variant)
    try:
        return shown_ms(page)
    finally:
        page.context.close()


def concurrent(browser, url: str, kind: str, codec: codecs.Codec, sessions: int) -> tuple[list[float], int]:
    """`sessions` sessions draw at once (each a different stroke); their latencies, and how many showed the right bytes
    (the bare page shows none, so it scores 0)."""
    pages = [open_page(browser, url, DONE[kind]) for _ in range(sessions)]
    for i, page in enumerate(pages):
        stroke(page, i)
    latencies = [shown_ms(page) for page in pages]
    correct = 0 if kind == "bare" else sum(page.locator(HEX).inner_text().strip() == expected_hex(codec, drawn_pixels(page))
                                           for page in pages)
    for page in pages:
        page.context.close()
    return latencies, correct


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux: /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(browser, server: Server, seconds: float = 5.0) -> float:
    """The share of a core a server uses while one session sits open and untouched: it should be near zero.

    Streamlit's file watcher once took a whole core here (docs/BENCHMARKS.md), slowing every drawing by chance.
    """
    page = open_page(browser, server.url)
    time.sleep(1.0)  # the session's first run and the browser's follow-up requests
    before = cpu_seconds(server.process.pid)
    time.sleep(seconds)
    share = (cpu_seconds(server.process.pid) - before) / seconds
    page.context.close()
    return share


def _alternating(count: int) -> list[tuple[int, str]]:
    """(i, kind) pairs for `count` rounds, app first on even rounds and bare first on odd ones, so neither always
    follows the other."""
    return [(i, kind) for i in range(count) for kind in (("app", "bare") if i % 2 == 0 else ("bare", "app"))]


def browser_numbers(codec: codecs.Codec, trials: int, rounds: int, sessions: int, progress: Progress) -> dict:
    """Cold starts, single drawings and concurrent drawings, app and bare interleaved so both see the same machine load."""
    from playwright.sync_api import sync_playwright

    cold, draw, together = ({"app": [], "bare": []} for _ in range(3))
    correct = 0
    with sync_playwright() as playwright:
        browser = launch(playwright)
        for r, kind in _alternating(rounds):
            progress("cold starts", 0.1 + 0.3 * r / rounds)
            cold[kind].append(cold_start_s(browser, {"app": APP, "bare": BARE}[kind]))
        with serve(APP) as app, serve(BARE) as bare:
            urls = {"app": app.url, "bare": bare.url}
            progress("idle server CPU", 0.4)
            idle = {kind: idle_cpu(browser, server) for kind, server in (("app", app), ("bare", bare))}
            for t, kind in _alternating(trials):
                progress("mouse-up to result", 0.4 + 0.3 * t / trials)
                draw[kind].append(draw_ms(browser, urls[kind], kind, t))
            for r, kind in _alternating(rounds):
                progress(f"{sessions} concurrent sessions", 0.7 + 0.3 * r / rounds)
                latencies, ok = concurrent(browser, urls[kind], kind, codec, sessions)
                together[kind] += latencies
                correct += ok
        version = browser.version
        browser.close()
    return {"chromium": version, "idle_server_cpu": idle, "cold_start_s": {k: percentiles(v) for k, v in cold.items()},
            "mouse_up_to_result_ms": {k: percentiles(v) for k, v in draw.items()},
            "concurrent": {"sessions": sessions, "rounds": rounds, "correct": correct, "of": sessions * rounds,
                           **{k: percentiles(v) for k, v in together.items()}}}


def machine() -> dict:
    return {"platform": platform.platform(), "processor": bench.cpu_name(),
            "cpus": os.cpu_count(), "load_average_1min": round(os.getloadavg()[0], 2), "python": platform.python_version()}


def run(progress: Progress | None = None, model: str = weights.DEFAULT_MODEL, drawings: int = 200, trials: int = 10,
        rounds: int = 3, sessions: int = 8) -> dict:
    """Every studio latency the issue sets a target for, on this machine.

    Args:
        progress: called with (stage, fraction) as the stages advance.
        model: the codec the compute numbers use (the browser numbers use the app's default model).
        drawings: MNIST-derived canvas arrays for the server-side compute numbers.
        trials: browser drawings per page (app and bare each).
        rounds: cold starts per page, and rounds of concurrent sessions.
        sessions: browser sessions drawing at once.
    """
    progress = progress or (lambda stage, fraction: None)
    codec = codecs.load(model)
    result = {"date": date.today().isoformat(), "machine": machine(), "model": codec.name}
    progress("server-side compute", 0.0)
    result["compute_ms"] = percentiles(compute_ms(codec, drawings))
    # The browser runs the app as shipped, so its bytes are checked against the default model, whatever `model` is.
    app_codec = codec if codec.name == weights.DEFAULT_MODEL else codecs.load(weights.DEFAULT_MODEL)
    result |= browser_numbers(app_codec, trials, rounds, sessions, progress)
    result["machine"]["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    progress("done", 1.0)
    return result


def verdicts(result: dict) -> dict[str, bool]:
    """The issue's targets, checked on the medians (typical case) and, for compute and concurrency, the p95."""
    draw, cold, together = result["mouse_up_to_result_ms"], result["cold_start_s"], result["concurrent"]
    return {
        "compute": result["compute_ms"]["p95"] <= 50,
        "draw": draw["app"]["p50"] <= 1.2 * draw["bare"]["p50"] + 100,
        "cold": cold["app"]["p50"] <= 1.5 * cold["bare"]["p50"],
        "concurrent": together["correct"] == together["of"] and together["app"]["p95"] <= 1000,
    }


def _pair(stats: dict, unit: str, digits: int = 0) -> str:
    return f"{stats['p50']:.{digits}f} / {stats['p95']:.{digits}f} {unit}"


def section(result: dict) -> str:
    """The body of the '## Studio latency' section of docs/BENCHMARKS.md."""
    m, ok = result["machine"], {k: "yes" if v else "**no**" for k, v in verdicts(result).items()}
    draw, cold, together, compute, idle = (result[k] for k in ("mouse_up_to_result_ms", "cold_start_s", "concurrent",
                                                                "compute_ms", "idle_server_cpu"))
    rows = [
        f"| server-side compute per drawing, canvas array to every result ({compute['n']} MNIST-derived canvases) "
        f"| {_pair(compute, 'ms', 1)} | | p95 ≤ 50 ms | {ok['compute']} |",
        f"| server CPU while one session sits idle, share of a core | {idle['app']:.1%} | {idle['bare']:.1%} "
        "| (none; near 0 %) | |",
        f"| mouse-up to result shown ({draw['app']['n']} drawings each) | {_pair(draw['app'], 'ms')} "
        f"| {_pair(draw['bare'], 'ms')} | app ≤ 1.2 × bare + 100 ms | {ok['draw']} |",
        f"| cold start to canvas ready ({cold['app']['n']} each) | {_pair(cold['app'], 's', 2)} "
        f"| {_pair(cold['bare'], 's', 2)} | app ≤ 1.5 × bare | {ok['cold']} |",
        f"| {together['sessions']} sessions drawing at once ({together['rounds']} rounds): correct "
        f"{together['correct']}/{together['of']} | {_pair(together['app'], 'ms')} | {_pair(together['bare'], 'ms')} "
        f"| all correct, p95 ≤ 1 s | {ok['concurrent']} |",
    ]
    return "\n".join([
        f"`python -m bican bench-app`, {result['date']}, model `{result['model']}`, chromium {result['chromium']}. "
        f"Machine: {m['platform']}, {m['processor']}, {m['cpus']} CPUs, Python {m['python']}; "
        f"1-minute load average {m['load_average_1min']} before and {m['load_average_1min_after']} after"
        + (" (above the CPU count before the run: other work was competing for the cores)."
           if m["load_average_1min"] > m["cpus"] else " (the machine was otherwise idle; the run itself loads it)."), "",
        "Values are p50 / p95. Browser times come from the page's own clock: from the mouse-up (captured before the canvas "
        "handles it) to the page's last result element in the DOM with every result image loaded. The bare page "
        "(`tests/bare_canvas_app.py`) has the same canvas and no model; app and bare runs alternate. Ratio targets compare "
        "the medians. Cold start runs from spawning `streamlit run` to the canvas visible in a fresh session.", "",
        "Every drawing is a session's first, so the browser also fetches and compiles the script of each kind of result "
        "element then. The bare page shows its result as plain markdown, the cheapest element; the app's one markdown "
        "element (inline panels, hex, numbers and download link) loads one more script, for HTML in markdown.", "",
        "| measure | app | bare page | target | met |", "|---|---|---|---|---|", *rows, "",
    ])

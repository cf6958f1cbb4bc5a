"""Studio latency, measured: server-side compute per drawing, and the real app in a browser against a bare canvas page.

    python -m tools.bench_app [--model NAME] [--drawings N] [--trials N] [--rounds N] [--sessions N]

It prints the results as JSON and rewrites the "Studio latency" section of docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import numpy as np
import torch

from bican import bench, data, studio
from bican import codec as codecs
from bican.classifier import load as load_classifier
from bican.config import DEFAULT_MODEL
from tools import drive
from tools.bench import DOCS, replace_section

# Each page's result for a drawing, all of it: the app's download link, the last part of the one markdown element that
# holds the panels, the hex and the numbers; the bare page's inline code. TIMER_JS adds every image decoded.
DONE = {"app": drive.DOWNLOAD_LINK,
        "bare": ".st-key-result [data-testid=stMarkdownContainer] code"}

Progress = Callable[[str, float], None]

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


def timer(kind: str) -> str:
    """TIMER_JS waiting for this kind of page's last result element."""
    return TIMER_JS.replace("DONE", json.dumps(DONE[kind]))


def shown_ms(page) -> float:
    """Mouse-up to result shown, in ms, from the page's own clock."""
    page.wait_for_function("window.__bench.shown !== null", timeout=drive.TIMEOUT_MS)
    return page.evaluate("window.__bench.shown - window.__bench.up")


def percentiles(samples: list[float]) -> dict[str, float]:
    return {"n": len(samples), "p50": float(np.percentile(samples, 50)), "p95": float(np.percentile(samples, 95)),
            "max": float(np.max(samples))}


def compute_ms(codec: codecs.Codec, count: int) -> list[float]:
    """Canvas array to every displayed result, in process: the same functions the compress page calls."""
    torch.set_num_threads(1)  # as the studio's pages run (pages/_ui.py)
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
    with drive.serve(script) as server:
        page = drive.open_page(browser, server.url, idle=False)
        seconds = time.perf_counter() - server.started
        page.context.close()
        return seconds


def draw_ms(browser, url: str, kind: str, variant: int) -> float:
    page = drive.open_page(browser, url, timer(kind))
    drive.stroke(page, variant)
    try:
        return shown_ms(page)
    finally:
        page.context.close()


def concurrent(browser, url: str, kind: str, codec: codecs.Codec, sessions: int) -> tuple[list[float], int]:
    """`sessions` sessions draw at once (each a different stroke); their latencies, and how many showed the right bytes
    (the bare page shows none, so it scores 0)."""
    pages = [drive.open_page(browser, url, timer(kind)) for _ in range(sessions)]
    for i, page in enumerate(pages):
        drive.stroke(page, i)
    latencies = [shown_ms(page) for page in pages]
    correct = 0 if kind == "bare" else sum(
        page.locator(drive.HEX).inner_text().strip() == drive.expected_hex(codec, drive.drawn_pixels(page))
        for page in pages)
    for page in pages:
        page.context.close()
    return latencies, correct


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (Linux: /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(browser, server: drive.Server, seconds: float = 5.0) -> float:
    """The share of a core a server uses while one session sits open and untouched: it should be near zero.

    Streamlit's file watcher once took a whole core here, slowing every drawing by chance
    (docs/experiments/2026-11-25-studio-file-watcher.md).
    """
    page = drive.open_page(browser, server.url)
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
        browser = drive.launch(playwright)
        for r, kind in _alternating(rounds):
            progress("cold starts", 0.1 + 0.3 * r / rounds)
            cold[kind].append(cold_start_s(browser, {"app": drive.APP, "bare": drive.BARE}[kind]))
        with drive.serve(drive.APP) as app, drive.serve(drive.BARE) as bare:
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


# The command line's options, one keyword each.
def run(progress: Progress | None = None, model: str = DEFAULT_MODEL, drawings: int = 200, trials: int = 10,  # noqa: PLR0913
        rounds: int = 3, sessions: int = 8) -> dict:
    """Every studio latency that has a target, on this machine.

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
    app_codec = codec if codec.name == DEFAULT_MODEL else codecs.load(DEFAULT_MODEL)
    result |= browser_numbers(app_codec, trials, rounds, sessions, progress)
    result["machine"]["load_average_1min_after"] = round(os.getloadavg()[0], 2)
    progress("done", 1.0)
    return result


def verdicts(result: dict) -> dict[str, bool]:
    """The latency targets, checked on the medians (typical case) and, for compute and concurrency, the p95."""
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
        f"`python -m tools.bench_app`, {result['date']}, model `{result['model']}`, chromium {result['chromium']}. "
        f"Machine: {m['platform']}, {m['processor']}, {m['cpus']} CPUs, Python {m['python']}; "
        f"1-minute load average {m['load_average_1min']} before and {m['load_average_1min_after']} after"
        + (" (above the CPU count before the run: other work was competing for the cores)."
           if m["load_average_1min"] > m["cpus"] else " (the machine was otherwise idle; the run itself loads it)."), "",
        "Values are p50 / p95. Browser times come from the page's own clock: from the mouse-up (captured before the canvas "
        "handles it) to the page's last result element in the DOM with every result image loaded. The bare page "
        "(`tools/bare_canvas_app.py`) has the same canvas and no model; app and bare runs alternate. Ratio targets compare "
        "the medians. Cold start runs from spawning `streamlit run` to the canvas visible in a fresh session.", "",
        "Every drawing is a session's first, so the browser also fetches and compiles the script of each kind of result "
        "element then. The bare page shows its result as plain markdown, the cheapest element; the app's one markdown "
        "element (inline panels, hex, numbers and download link) loads one more script, for HTML in markdown.", "",
        "| measure | app | bare page | target | met |", "|---|---|---|---|---|", *rows, "",
    ])


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    p = argparse.ArgumentParser(prog="python -m tools.bench_app", description=__doc__.split("\n")[0])
    p.add_argument("--model", default=DEFAULT_MODEL, help="model for the compute timings (default: %(default)s)")
    p.add_argument("--drawings", type=int, default=200, help="canvas arrays for the compute timings (default: %(default)s)")
    p.add_argument("--trials", type=int, default=10, help="browser drawings per page, app and bare (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3, help="cold starts per page, and rounds of concurrent sessions "
                                                          "(default: %(default)s)")
    p.add_argument("--sessions", type=int, default=8, help="browser sessions drawing at once (default: %(default)s)")
    p.add_argument("--markdown", type=Path, default=DOCS / "BENCHMARKS.md",
                   help="file whose '## Studio latency' section is rewritten (default: %(default)s)")
    args = p.parse_args(argv)
    with tqdm(total=100, desc="studio latency", unit="%") as bar:
        def progress(stage: str, fraction: float) -> None:
            bar.set_postfix_str(stage)
            bar.update(max(0, round(fraction * 100) - bar.n))
        result = run(progress, args.model, args.drawings, args.trials, args.rounds, args.sessions)
    result["targets_met"] = verdicts(result)
    print(json.dumps(result))
    replace_section(args.markdown, "Studio latency", section(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Time training steps at 1 thread and at every core while the studio is open and a stroke is drawn every second.

Usage: python tools/train_threads.py [--preset quick] [--steps 40] [--rounds 2]
The decision it informs is bican.train.SHARED_THREADS.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# The trainer side: a run of `steps` optimizer steps of the preset at `threads` threads; prints ms per step.
PROBE = """
import dataclasses, json, sys, time, torch
torch.set_num_threads(int(sys.argv[2]))
from bican.config import preset
from bican.train import train
cfg = dataclasses.replace(preset(sys.argv[1]), max_steps=int(sys.argv[3]), val_size=100, val_coded=0)
stamps = []
train(cfg, lambda e: stamps.append(time.perf_counter()) if e["type"] == "step" else None)
gaps = sorted(b - a for a, b in zip(stamps[1:], stamps[2:]))
print(json.dumps({"median_ms": 1000 * gaps[len(gaps) // 2], "p90_ms": 1000 * gaps[int(len(gaps) * 0.9)]}))
"""


def main() -> None:
    from playwright.sync_api import sync_playwright

    from tools import drive

    args = argparse.ArgumentParser()
    args.add_argument("--preset", default="quick")
    args.add_argument("--steps", type=int, default=40)
    args.add_argument("--rounds", type=int, default=2)
    opts = args.parse_args()
    results: dict[str, list] = {"1": [], str(os.cpu_count()): []}
    with drive.serve(ROOT / "app.py") as server, sync_playwright() as playwright:
        page = drive.open_page(drive.launch(playwright), server.url)
        for _ in range(opts.rounds):
            for threads in results:
                probe = subprocess.Popen([sys.executable, "-c", PROBE, opts.preset, threads, str(opts.steps)],
                                         cwd=ROOT, stdout=subprocess.PIPE, text=True)
                strokes = 0
                while probe.poll() is None:  # a stroke every second while the trainer runs
                    drive.stroke(page, strokes)
                    strokes += 1
                    time.sleep(1.0)
                results[threads].append(json.loads(probe.stdout.read().strip().splitlines()[-1]) | {"strokes": strokes})
                print(threads, "thread(s):", results[threads][-1], "load", os.getloadavg(), flush=True)
    print(json.dumps({"preset": opts.preset, "load": os.getloadavg(), "threads": results}, indent=1))


if __name__ == "__main__":
    main()

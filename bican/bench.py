"""python -m bican bench: rate–distortion against classical codecs, the seed's file-size table, throughput, training speed.

This measures and returns results; `python -m tools.bench` writes them into docs/.
"""

from __future__ import annotations

import datetime
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from . import baselines, codec, weights
from .classifier import load as load_classifier
from .config import TrainConfig
from .evaluate import RoundTrip, digit_set, evaluate, round_trip

Progress = Callable[[str, float], None]


def cpu_name() -> str:
    """The CPU's model name where Linux tells it; platform.processor() often says only "x86_64"."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """The machine in words: CPU model and cores, and the GPU if one is present."""
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU"
    return f"{cpu_name()}, {os.cpu_count()} cores{gpu}, torch {torch.__version__}, {platform.system()}"


# Over 40 lines: one block per model, in the order the report lists its rows; they share the digits and classifier.
def codec_bench(progress: Progress | None = None, limit: int | None = None, refine: int = 0,
                invert: bool = False) -> dict:
    """Measure every installed model and the classical codecs on the MNIST test set, and the models on the drawn set
    (`bican.drawn`), in one run.

    Args:
        progress: called with (stage, fraction done).
        limit: only the first `limit` digits of each set (default: all 10,000 test digits, all 2,000 drawn).
        refine: if not 0, also measure each entropy model with that many refinement passes (its rate–distortion row
            and the test set's archive; many times the encoding time, so no throughput row).
        invert: likewise, encoding by inversion (with `refine` passes).
    """
    flags = [("--refine", f" {refine}")] * bool(refine) + [("--invert", "")] * invert  # the extra rows' setting
    slower = "".join(f" {flag}{value}" for flag, value in flags)
    series = "BiCAN" + "".join(f" {flag}" for flag, _ in flags)
    report = progress or (lambda stage, fraction: None)
    digits, labels = digit_set("mnist", limit)
    drawn = digit_set("drawn", limit)
    classifier = load_classifier()
    names = list(weights.available())
    rd, on_drawn, sizes, speed = [], [], baselines.file_sizes("original digits", digits), []

    def measure(c: codec.Codec, family: str, setting: str) -> RoundTrip:
        """A model's row on each set, beside each other in the report; the MNIST round trip, for its archive."""
        trip = round_trip(c, digits)
        rd.append(_model_row(family, setting, evaluate(c, digits, labels, classifier, trip)))
        on_drawn.append(_model_row(family, setting, evaluate(c, *drawn, classifier)))
        return trip

    for i, name in enumerate(names):
        report(f"model {name}", 0.6 * i / max(1, len(names)))
        c = codec.load(name)
        # The seed is a reference point, not a rung of the entropy-coded ladder: its own series.
        trip = measure(c, "BiCAN" if c.tables is not None else "BiCAN seed", name)
        sizes += baselines.file_sizes(f"{name} code", trip.symbols.astype(_smallest_dtype(trip.symbols)))
        sizes.append({"representation": f"{name} code", "format": ".bican", "bytes": len(c.pack(trip.symbols))})
        if slower and c.tables is not None:
            refined = codec.load(name, refine=refine, invert=invert)
            rtrip = measure(refined, series, name + slower)
            sizes.append({"representation": f"{name} code,{slower}", "format": ".bican",
                          "bytes": len(refined.pack(rtrip.symbols))})
        # An inverting model's encoding takes minutes for the test set: one timed pass, and its fast path beside it.
        fast = " --no-invert" if c.invert else ""
        speed.append({"what": f"{name}: compress + decompress, CPU ({str(c.dtype).removeprefix('torch.')})",
                      "digits_per_s": _throughput(c, digits, 1 if c.invert else 3)})
        if c.search:  # the encoder's search against none, on the same machine and run
            speed.append({"what": f"{name}: the same with --search 0{fast}", "digits_per_s": _throughput(
                codec.load(name, search=0, invert=False), digits)})
        if c.dtype != torch.float32:  # and the networks' bfloat16 against float32
            speed.append({"what": f"{name}: the same with --search 0{fast} --precision float32",
                          "digits_per_s": _throughput(codec.load(name, search=0, dtype=torch.float32, invert=False),
                                                      digits)})
        if torch.cuda.is_available():
            speed.append({"what": f"{name}: compress + decompress, networks on {torch.cuda.get_device_name()}, "
                                  "range coder on the CPU", "digits_per_s": _throughput(codec.load(name, "cuda"), digits)})
    report("classical codecs", 0.6)
    rd += baselines.reference_points(digits, lambda stage, f: report(stage, 0.6 + 0.4 * f))
    report("done", 1.0)
    return {"machine": machine(), "date": datetime.date.today().isoformat(), "n": len(digits),
            "rate_distortion": rd, "n_drawn": len(drawn[0]), "drawn": on_drawn, "file_sizes": sizes,
            "throughput": speed}


def _model_row(family: str, setting: str, metrics: dict) -> dict:
    return {"codec": family, "setting": setting, **{k: metrics[k] for k in (
        "bytes_per_digit", "psnr_db", "ideal_bytes_per_digit", "ssim", "idempotent_fraction", "classifier_accuracy",
        "agreement")}}


def _smallest_dtype(symbols: np.ndarray) -> type:
    """The seed stored its code as uint8; store each model's symbols as compactly in .npy and .txt."""
    for dtype in (np.uint8, np.int8, np.int16):
        info = np.iinfo(dtype)
        if info.min <= symbols.min() and symbols.max() <= info.max:
            return dtype
    return np.int32


def _throughput(c: codec.Codec, digits: np.ndarray, passes: int = 3) -> float:
    """Digits per second through `compress` and `decompress`, to an archive and back: the median of `passes` timed
    passes, since one pass on a shared 2-core machine varied by half its time."""
    c.reconstruct(c.unpack(c.pack(c.symbols(digits[:100]))))  # warm up kernels and caches
    seconds = []
    for _ in range(passes):
        start = time.perf_counter()
        c.reconstruct(c.unpack(c.pack(c.symbols(digits))))
        seconds.append(time.perf_counter() - start)
    return len(digits) / float(np.median(seconds))


def train_bench(cfg: TrainConfig, target_db: float, max_bytes: float, budget_s: float) -> dict:
    """Wall time from process start to the best model written of the first epoch that reaches target_db at
    <= max_bytes on validation; then the Train page's estimate of the same, timed afterwards, beside it."""
    import tempfile

    from .train import estimate, resolve_device, train

    device, hit = resolve_device(cfg.device), {}

    def listen(event: dict) -> None:
        if event["type"] == "epoch" and not hit:
            size = event.get("bytes_per_digit", event["ideal_bytes_per_digit"])
            if event["psnr_db"] >= target_db and size <= max_bytes:
                hit.update(event)
        elif hit and "wall_s" not in hit and event["type"] != "samples":  # the next event: the best model is written
            hit["wall_s"] = process_seconds()

    with tempfile.TemporaryDirectory() as out:
        end = train(cfg, listen, out, stop=lambda: bool(hit) or process_seconds() > budget_s)
    wall_s = hit.get("wall_s", process_seconds())
    guess = estimate(cfg, threads=torch.get_num_threads())
    epoch = hit.get("epoch", end["epoch"])
    return {"machine": machine(), "target_db": target_db, "max_bytes": max_bytes, "reached": bool(hit),
            "wall_s": wall_s, "estimate_s": guess.until(epoch), "load": os.getloadavg(), "epoch": epoch,
            "psnr_db": hit.get("psnr_db"), "bytes_per_digit": hit.get("bytes_per_digit"), "threads":
            torch.get_num_threads(), "device": device.type, "config": cfg.to_dict()}


def process_seconds() -> float:
    """Seconds since this process started, imports included (Linux: /proc)."""
    start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
    return float(Path("/proc/uptime").read_text().split()[0]) - start_ticks / os.sysconf("SC_CLK_TCK")

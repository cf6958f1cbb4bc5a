"""Fuzz every reader of untrusted bytes, and measure the worst a file under 1 MB costs.

    python -m tools.fuzz fuzz --seconds 900 --min-inputs 100000  # mutated archives, streams, model files, PNGs
    python -m tools.fuzz worst                                     # time and peak memory of the costliest files

`fuzz` prints one JSON object: inputs and outcomes per kind, the slowest input of each kind, the process's peak
memory, and every unexpected exception (any exception but the reader's own error type; the target is none).
`worst` runs each costly case in a fresh process, with the studio's limits, and reports seconds and the peak
resident memory above the process's idle size once its model is loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import traceback
import zlib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from bican import bitstream, codec, data, images, weights
from bican.bitstream import BitstreamError
from bican.config import ModelConfig
from bican.model import BiCAN
from pages._ui import ARCHIVE_DIGITS as STUDIO_DIGITS  # the studio's limit for one uploaded archive

UPLOAD_BYTES = 1 << 20  # the studio's upload cap


# --- mutation ---------------------------------------------------------------------------------------
def mutate(rng: random.Random, blob: bytes) -> bytes:
    """One to four random edits: flipped bits, set bytes, cuts, insertions, repeats, or random bytes."""
    out = bytearray(blob)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        at = rng.randrange(len(out) + 1)
        if op == 0 and out:
            out[min(at, len(out) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1 and out:
            out[min(at, len(out) - 1)] = rng.choice((0, 0x7F, 0x80, 0xFF, rng.randrange(256)))
        elif op == 2:
            del out[at:at + rng.randint(1, 64)]
        elif op == 3:
            out[at:at] = rng.randbytes(rng.randint(1, 64))
        elif op == 4 and out:
            out[at:at] = out[at:at + rng.randint(1, 256)] * rng.randint(2, 8)
        elif op == 5:
            out = bytearray(rng.randbytes(rng.randint(0, 256)))
    return bytes(out)


def reseal(blob: bytes) -> bytes:
    """The archive with a correct CRC32, so that mutations reach the payload decoder instead of the checksum."""
    if len(blob) < 4:
        return blob
    body = blob[:-4]
    return body + zlib.crc32(body).to_bytes(4, "big")


# --- the targets ------------------------------------------------------------------------------------
class Targets:
    """Valid seeds of every kind, and each reader with the one exception type it may raise."""

    def __init__(self, rng: random.Random, scratch: Path):
        self.rng, self.scratch = rng, scratch
        test = data.load("test").images[:64]
        # The plainest encoder: the seeds need valid codes, not good ones, and every encoder's codes decode alike.
        self.codecs = [codec.load(name, search=0, invert=False) for name in ("entropy-08b", "entropy-21b", "seed")]
        self.archives = [c.pack(c.symbols(test[:n])) for c in self.codecs for n in (1, 7, 64)]
        self.streams = [s for c in self.codecs for s in c.encode(test[:8])[0]]
        self.pngs = [images.png(d) for d in test[:8]] + [_rgba_png(test[0], 56), _rgba_png(test[1], 300)]
        torch.manual_seed(0)
        self.model_path = scratch / "m.safetensors"
        weights.save(self.model_path, BiCAN(ModelConfig(width=4, hidden=32, latents=8)))
        self.model_bytes = self.model_path.read_bytes()
        self.model_tensors, self.model_meta = weights._read(self.model_path, "codec")

    def archive(self) -> None:
        blob = mutate(self.rng, self.rng.choice(self.archives))
        blob = reseal(blob) if self.rng.random() < 0.5 else blob
        c = self.rng.choice(self.codecs)
        with contextlib.suppress(BitstreamError):
            c.unpack(blob, STUDIO_DIGITS)
        if self.rng.random() < 0.125:  # the model lookup reads every installed file's header: the slow part
            with contextlib.suppress(BitstreamError):
                codec.decode_archive(blob, STUDIO_DIGITS)

    def stream(self) -> None:
        c = self.rng.choice(self.codecs)
        with contextlib.suppress(BitstreamError):
            c.decode([mutate(self.rng, self.rng.choice(self.streams))])

    def png(self) -> None:
        with contextlib.suppress(ValueError):
            images.png_digit(mutate(self.rng, self.rng.choice(self.pngs)))

    def model(self) -> None:
        """Raw byte edits, or (as an attacker would) edited tensors and metadata under a recomputed fingerprint."""
        path = self.scratch / f"f{self.rng.randrange(1 << 30)}.safetensors"
        if self.rng.random() < 0.5:
            path.write_bytes(mutate(self.rng, self.model_bytes))
        else:
            tensors, meta = _forged(self.rng, self.model_tensors, self.model_meta)
            weights._write(path, tensors, meta)
        try:
            loaded = weights.load(str(path))
            c = codec.Codec(loaded.model, loaded.tables, loaded.fingerprint)
            c.decode(c.encode(np.zeros((28, 28), np.uint8))[0])
        except (weights.WeightsError, BitstreamError):
            pass
        finally:
            path.unlink()


def _rgba_png(digit: np.ndarray, size: int) -> bytes:
    from PIL import Image

    image = Image.fromarray(digit).resize((size, size)).convert("RGBA")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def _forged(rng: random.Random, tensors: dict, meta: dict) -> tuple[dict, dict]:
    tensors, meta = dict(tensors), {k: v for k, v in meta.items() if k not in ("format", "fingerprint")}
    name = rng.choice(sorted(tensors))
    choice = rng.randrange(6)
    if choice == 0:
        del tensors[name]
    elif choice == 1:
        tensors[name] = torch.zeros([rng.randint(0, 9) for _ in range(rng.randint(0, 4))],
                                    dtype=rng.choice((torch.float32, torch.float16, torch.int64, torch.uint8)))
    elif choice == 2:
        value = tensors[name].clone()
        flat = value.reshape(-1)
        if len(flat):
            # Extremes the tensor's own dtype can hold (an unsigned frequency table cannot take -1).
            info = torch.finfo(value.dtype) if value.dtype.is_floating_point else torch.iinfo(value.dtype)
            extremes = (float("nan"), float("inf"), 0.0) if value.dtype.is_floating_point else (0, 1)
            flat[rng.randrange(len(flat))] = rng.choice((*extremes, info.max, info.min))
        tensors[name] = value
    elif choice == 3:
        config = json.loads(meta["config"])
        key = rng.choice(sorted(config))
        config[key] = rng.choice((0, -1, 1, 2, 7, 513, 1 << 20, 1.5, "x", None, [], True))
        meta["config"] = json.dumps(config)
    elif choice == 4:
        meta[rng.choice(("config", "info", "kind"))] = rng.choice(("{", "[]", "null", "", "codec", '{"a": 1}'))
    else:
        tensors[f"cdf.{rng.choice(('low', 'sizes', 'mix', 'freq', 'cdf'))}"] = torch.from_numpy(
            np.random.default_rng(rng.randrange(1 << 30)).integers(-3, 300, size=rng.choice(((8,), (9,), (2,), (1, 8, 5)))))
    return tensors, meta


# --- fuzz -------------------------------------------------------------------------------------------
def fuzz(seconds: float, min_inputs: int, seed: int) -> dict:
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory() as scratch:
        targets = Targets(rng, Path(scratch))
        kinds: list[tuple[str, Callable[[], None], int]] = [
            ("archive", targets.archive, 45), ("stream", targets.stream, 30), ("png", targets.png, 20),
            ("model", targets.model, 5)]
        counts, slowest, unexpected = Counter(), {}, []
        started = time.monotonic()
        while time.monotonic() - started < seconds or sum(counts.values()) < min_inputs:
            name, run, _ = rng.choices(kinds, weights=[k[2] for k in kinds])[0]
            begun = time.perf_counter()
            try:
                run()
            except Exception as exc:  # noqa: BLE001 -- the point: anything but the reader's own error is a finding
                unexpected.append({"kind": name, "error": f"{type(exc).__name__}: {exc}"[:300],
                                   "where": traceback.format_exc().splitlines()[-3][:200]})
            took = time.perf_counter() - begun
            counts[name] += 1
            slowest[name] = max(slowest.get(name, 0.0), took)
    return {"inputs": sum(counts.values()), "per_kind": dict(counts), "seconds": round(time.monotonic() - started, 1),
            "slowest_s": {k: round(v, 3) for k, v in slowest.items()},
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "unexpected": len(unexpected), "examples": unexpected[:10], "seed": seed}


# --- worst cases ------------------------------------------------------------------------------------
_PROBE = """
import sys, time
from pathlib import Path
import numpy as np
from bican import codec, images, weights
kind, path, model, limit = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if model:
    codec.load_cached(model).encode(np.zeros((28, 28), np.uint8))  # idle: the studio has the model loaded
Path("/proc/self/clear_refs").write_text("5")  # reset the peak to the idle size
idle = int(next(l for l in open("/proc/self/status") if l.startswith("VmRSS")).split()[1])
blob = path.read_bytes()
started = time.perf_counter()
try:
    if kind == "archive":
        c, digits = codec.decode_archive(blob, limit)
        images.grid(digits[:100])
    elif kind == "model":
        weights.load(str(path))
    outcome = "ok"
except (ValueError, OSError) as exc:
    outcome = type(exc).__name__ + ": " + str(exc)[:120]
took = time.perf_counter() - started
peak = int(next(l for l in open("/proc/self/status") if l.startswith("VmHWM")).split()[1])
print(f"{took:.3f} {(peak - idle) / 1024:.0f} {outcome}")
"""


def worst_files(scratch: Path) -> list[tuple[str, str, Path, str]]:
    """(label, kind, file, model the studio holds) for the costliest files under 1 MB we know how to make."""
    test = data.load("test").images
    cases = []
    for name in weights.available():
        c = codec.load(name, search=0, invert=False)  # valid codes, quickly: decoding costs the same for any encoder
        n = min(STUDIO_DIGITS, 10_000)  # the test set holds 10,000
        blob = c.pack(c.symbols(test[:n]))
        while len(blob) >= UPLOAD_BYTES:
            n //= 2
            blob = c.pack(c.symbols(test[:n]))
        path = scratch / f"{name}-{n}.bican"
        path.write_bytes(blob)
        cases.append((f"valid archive, {n:,} digits, {len(blob):,} B, {name}", "archive", path, name))
        forged = scratch / f"{name}-forged.bican"
        forged.write_bytes(bitstream.pack(bytes.fromhex(c.fingerprint), STUDIO_DIGITS,
                                          np.random.default_rng(0).bytes(UPLOAD_BYTES - 40)))
        cases.append((f"random 1 MB payload claiming {STUDIO_DIGITS:,} digits, {name}", "archive", forged, name))
        claims = scratch / f"{name}-claims.bican"
        claims.write_bytes(bitstream.pack(bytes.fromhex(c.fingerprint), 919_396,
                                          np.random.default_rng(0).bytes(UPLOAD_BYTES - 40)))
        cases.append((f"random 1 MB payload claiming 919,396 digits, {name}", "archive", claims, name))
    huge = scratch / "huge.safetensors"
    torch.manual_seed(0)
    weights.save(huge, BiCAN(ModelConfig(width=4, hidden=32, latents=8)))
    tensors, meta = weights._read(huge, "codec")
    config = {**json.loads(meta["config"]), "width": 512, "blocks": 8, "hidden": 8192, "latents": 512}
    weights._write(huge, {"cdf.low": tensors["cdf.low"]}, {"kind": "codec", "config": json.dumps(config), "info": "{}"})
    cases.append((f"model file, {huge.stat().st_size:,} B, largest config", "model", huge, ""))
    for name, path in weights.available().items():
        if path.stat().st_size < UPLOAD_BYTES:
            cases.append((f"valid model file {name}, {path.stat().st_size:,} B", "model", path, ""))
    return cases


def worst() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for label, kind, path, model in worst_files(Path(scratch)):
            command = [sys.executable, "-c", _PROBE, kind, str(path), model, str(STUDIO_DIGITS)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            seconds, above_idle_mb, outcome = done.stdout.strip().splitlines()[-1].split(" ", 2)
            rows.append({"file": label, "seconds": float(seconds), "peak_above_idle_mb": int(above_idle_mb),
                         "outcome": outcome})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fuzz")
    f.add_argument("--seconds", type=float, default=600, help="run at least this long (default: %(default)s)")
    f.add_argument("--min-inputs", type=int, default=100_000, help="and at least this many inputs (default: %(default)s)")
    f.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    sub.add_parser("worst")
    args = p.parse_args()
    if args.what == "fuzz":
        result = fuzz(args.seconds, args.min_inputs, args.seed)
        print(json.dumps(result, indent=1))
        return 1 if result["unexpected"] else 0
    worst()
    return 0


if __name__ == "__main__":
    sys.exit(main())

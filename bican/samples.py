"""A run's per-epoch sample reconstructions on disk: the trainer's listener writes them, the Runs page reads them.

Layout in a run directory:
    samples/epoch-NNN.npz   names, originals, reconstructions and bytes of one epoch's sample digits
    drawn.npy               a digit someone drew in the studio, which the trainer adds to the next epochs' samples

numpy only, so the app can read samples without loading torch.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

FOLDER = "samples"
DRAWN = "drawn.npy"


def save(run_dir: Path, event: dict) -> dict:
    """Write a trainer "samples" event's arrays; return the event without them, fit for a JSON event log."""
    folder = Path(run_dir) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"epoch-{event['epoch']:03d}.npz"
    partial = path.with_suffix(".partial.npz")
    np.savez(partial, names=np.array(event["names"]), digits=event["digits"], recon=event["recon"],
             bytes=np.array(event["bytes"], np.int64))
    os.replace(partial, path)  # a reader sees a whole file or none
    return {"type": "samples", "epoch": event["epoch"], "names": list(event["names"]), "bytes": list(event["bytes"]),
            "file": f"{FOLDER}/{path.name}"}


def epochs(run_dir: Path) -> list[int]:
    """The epochs with samples on disk, oldest first."""
    return sorted(int(p.stem.split("-")[1]) for p in (Path(run_dir) / FOLDER).glob("epoch-[0-9][0-9][0-9].npz"))


def load(run_dir: Path, epoch: int) -> dict:
    """One epoch's samples: names (list), digits and recon (uint8 [N, 28, 28]), bytes (list of int)."""
    with np.load(Path(run_dir) / FOLDER / f"epoch-{epoch:03d}.npz") as f:
        return {"epoch": epoch, "names": f["names"].tolist(), "digits": f["digits"], "recon": f["recon"],
                "bytes": f["bytes"].tolist()}


def set_drawn(run_dir: Path, digit: np.ndarray) -> bool:
    """Ask a run to follow a drawn digit from its next epoch on; False if it follows that digit already."""
    digit = np.asarray(digit, np.uint8)
    if digit.shape != (28, 28):
        raise ValueError(f"a drawn digit is 28x28, not {digit.shape}")
    current = drawn(run_dir)
    if current is not None and np.array_equal(current, digit):
        return False
    path = Path(run_dir) / DRAWN
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.npy")
    np.save(partial, digit)
    os.replace(partial, path)
    return True


def drawn(run_dir: Path) -> np.ndarray | None:
    """The drawn digit a run follows, or None (none asked, or the file is unreadable)."""
    try:
        digit = np.load(Path(run_dir) / DRAWN)
    except (OSError, ValueError):
        return None
    return digit if digit.shape == (28, 28) and digit.dtype == np.uint8 else None

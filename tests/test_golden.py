"""Golden bytes: every shipped model's codes, per-digit streams and archive for the first MNIST test digits, in every
encoder mode, hashed in tests/expected/<model>.json. A change that moves a byte fails here; to accept it on purpose,
run this file with BICAN_REGENERATE_GOLDEN=1 and commit the new hashes, saying why they moved.

The networks run in float32: bfloat16 (the default on CPUs that compute it natively) would make the codes depend
on the machine. The codes' hash pins the encoder, the streams' and archive's hashes pin the coder and the format.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from bican import codec

EXPECTED = Path(__file__).parent / "expected"
REGENERATE = os.environ.get("BICAN_REGENERATE_GOLDEN") == "1"
MODELS = ["seed", "entropy-03b", "entropy-05b", "entropy-07b", "entropy-08b", "entropy-12b", "entropy-21b"]
# (mode, encoder options, digits): inversion is the slow path, so it sees fewer digits.
MODES = [("settle", {"invert": False}, 32), ("settle --refine 2", {"invert": False, "refine": 2}, 8),
         ("invert", {"invert": True}, 4), ("invert --refine 2", {"invert": True, "refine": 2}, 4)]
CASES = [("seed", "default", {}, 32)] + [(m, mode, options, n) for m in MODELS[1:] for mode, options, n in MODES]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hashes(name: str, options: dict, count: int, digits: np.ndarray) -> dict:
    """The hashes of one model's codes, per-digit streams (each prefixed by its 2-byte length) and archive."""
    c = codec.load(name, dtype=torch.float32, **options)
    symbols = c.symbols(digits[:count])
    streams = c.encode_symbols(symbols)
    return {"fingerprint": c.fingerprint, "digits": count, "codes": _sha(symbols.astype("<i8").tobytes()),
            "streams": _sha(b"".join(len(s).to_bytes(2, "big") + s for s in streams)),
            "archive": _sha(c.pack(symbols))}


@pytest.mark.parametrize(("name", "mode", "options", "count"), CASES, ids=[f"{n}:{m}" for n, m, _, _ in CASES])
def test_golden_hashes(name, mode, options, count, digits):
    path = EXPECTED / f"{name}.json"
    expected = json.loads(path.read_text()) if path.exists() else {}
    got = hashes(name, options, count, digits)
    if REGENERATE:
        expected[mode] = got
        path.write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"regenerated {path.name} [{mode}]")
    assert mode in expected, f"no golden hashes for {name} [{mode}]: run this file with BICAN_REGENERATE_GOLDEN=1"
    assert got == expected[mode]

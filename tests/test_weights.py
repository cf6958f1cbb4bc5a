import json

import numpy as np
import pytest
import torch

from bican import weights
from bican.classifier import classify
from bican.classifier import load as load_classifier
from bican.config import ModelConfig
from bican.model import BiCAN


def _model(seed: int) -> BiCAN:
    torch.manual_seed(seed)
    return BiCAN(ModelConfig(width=4, hidden=32, latents=8))


def test_save_load_round_trip(tmp_path):
    model = _model(0)
    fp = weights.save(tmp_path / "m.safetensors", model, {"note": "x"})
    loaded = weights.load(str(tmp_path / "m.safetensors"))
    assert loaded.fingerprint == fp and loaded.info == {"note": "x"}
    for (k, a), b in zip(model.state_dict().items(), loaded.model.state_dict().values()):
        # The networks are stored as float16 and come back as float32: equal after the same rounding.
        expected = a.half().float() if k.startswith(("compressor.", "decompressor.")) else a
        assert b.dtype == a.dtype and torch.equal(expected, b), k
    tables = model.prior.tables()
    assert np.array_equal(loaded.tables.cdf, tables.cdf) and np.array_equal(loaded.tables.low, tables.low)


def test_files_from_before_mixtures_still_load(tmp_path):
    """Models saved before mixture priors store one cumulative int64 table per latent, and no component table."""
    model = _model(3)
    tables = model.prior.tables()
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors |= {"cdf.low": torch.from_numpy(tables.low), "cdf.cdf": torch.from_numpy(tables.cdf[0]),
                "cdf.sizes": torch.from_numpy(tables.sizes)}
    config = json.dumps(model.cfg.__dict__, sort_keys=True)
    weights._write(tmp_path / "old.safetensors", tensors, {"kind": "codec", "config": config, "info": "{}"})
    loaded = weights.load(str(tmp_path / "old.safetensors")).tables
    assert np.array_equal(loaded.cdf, tables.cdf) and np.array_equal(loaded.mix, tables.mix)


def test_fingerprint_follows_content(tmp_path):
    a = weights.save(tmp_path / "a.safetensors", _model(0))
    b = weights.save(tmp_path / "b.safetensors", _model(1))
    again = weights.save(tmp_path / "c.safetensors", _model(0))
    assert a == again != b and len(a) == 16


def test_damaged_file_is_rejected(tmp_path):
    path = tmp_path / "m.safetensors"
    weights.save(path, _model(0))
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(weights.WeightsError, match="damaged"):
        weights.load(str(path))
    path.write_bytes(b"\x80\x04 a pickle, not safetensors")
    with pytest.raises(weights.WeightsError, match="not a readable safetensors"):
        weights.load(str(path))


def test_unknown_name_lists_the_choices():
    with pytest.raises(weights.WeightsError, match=weights.DEFAULT_MODEL):
        weights.resolve("no-such-model")


def test_shipped_classifier_scores_99_percent(mnist_test):
    predictions = classify(load_classifier(), mnist_test.images)
    assert np.mean(predictions == mnist_test.labels) >= 0.99


def test_no_pickle_in_weights():
    for path in weights.SHIPPED.glob("*.safetensors"):
        assert path.read_bytes()[:2] != b"\x80\x04"
        assert weights._read(path, "classifier" if path.stem == "classifier" else "codec")


def test_shipped_weights_fit_the_budget():
    """The ladder issue's limit: at most 25 MB of weights in all, with at least four entropy models."""
    files = list(weights.SHIPPED.glob("*.safetensors"))
    assert sum(path.stat().st_size for path in files) <= 25_000_000
    assert sum(path.stem.startswith("entropy-") for path in files) >= 4

import json
import time

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
    """The weights budget: at most 25 MB of weights in all, with at least four entropy models."""
    files = list(weights.SHIPPED.glob("*.safetensors"))
    assert sum(path.stat().st_size for path in files) <= 25_000_000
    assert sum(path.stem.startswith("entropy-") for path in files) >= 4


def _forge(path, change_tensors=None, change_meta=None):
    """A model file as an attacker writes one: a real tiny model's tensors and metadata, changed, with a fingerprint
    recomputed to match, so every check past the fingerprint is exercised."""
    model = _model(0)
    weights.save(path, model)
    tensors, meta = weights._read(path, "codec")
    tensors = (change_tensors or (lambda t: t))(dict(tensors))
    meta = (change_meta or (lambda m: m))({k: v for k, v in meta.items() if k not in ("format", "fingerprint")})
    weights._write(path, tensors, meta)
    return path


def _without(name):
    return lambda t: {k: v for k, v in t.items() if k != name}


def _with(name, value):
    return lambda t: {**t, name: value}


@pytest.mark.parametrize("tensors, meta, message", [
    (None, lambda m: {**m, "info": "{not json"}, "'info' metadata is not JSON"),
    (None, lambda m: {**m, "info": "[1, 2]"}, "'info' metadata is not a JSON object"),
    (None, lambda m: {**m, "config": "{"}, "'config' metadata is not JSON"),
    (None, lambda m: {k: v for k, v in m.items() if k != "config"}, "carries no model config"),
    (_without("cdf.low"), None, "tensor cdf.low is missing"),
    (_without("cdf.sizes"), None, "tensor cdf.sizes is missing"),
    (_without("cdf.mix"), None, "tensor cdf.mix is missing"),
    (_without("cdf.freq"), None, "tensor cdf.freq is missing"),
    (_with("cdf.sizes", torch.ones(9, dtype=torch.int64)), None, "shapes do not fit"),
    (_with("cdf.sizes", torch.ones(8, 1, dtype=torch.int64)), None, "expected 1 dimension"),
    (_with("cdf.mix", torch.zeros(2, dtype=torch.int64)), None, "cdf.mix must rise"),
    (_with("cdf.sizes", torch.full((8,), -3, dtype=torch.int64)), None, "cdf.sizes must be"),
    (lambda t: {**t, "cdf.freq": torch.zeros_like(t["cdf.freq"])}, None, "sum to 65536"),
    (_without("model.decompressor.net.0.weight"), None, "model.decompressor.net.0.weight is missing"),
    (_with("model.decompressor.net.0.weight", torch.zeros(3, 3)), None, "model.decompressor.net.0.weight is F32"),
    (_with("model.prior.means", torch.zeros(8, 3, dtype=torch.int64)), None, "model.prior.means is I64"),
    (_with("model.extra", torch.zeros(1)), None, "does not use: model.extra"),
    (lambda t: {**t, "model.prior.means": t["model.prior.means"] * float("nan")}, None, "NaN or infinite"),
])
def test_every_defect_of_a_model_file_is_a_weights_error_naming_it(tmp_path, tensors, meta, message):
    path = _forge(tmp_path / "forged.safetensors", tensors, meta)
    with pytest.raises(weights.WeightsError, match=message) as caught:
        weights.load(str(path))
    assert str(path) in str(caught.value)


def test_a_huge_config_in_a_tiny_file_is_refused_before_any_network_is_built(tmp_path):
    """The largest config validation allows, in a file of about a kilobyte: refused in well under a second, once."""
    huge = {"family": "entropy", "width": 512, "blocks": 8, "hidden": 8192, "latents": 512, "prior_components": 8,
            "encoder": "settle", "rate_weight": 20.0}
    path = _forge(tmp_path / "huge.safetensors", lambda t: {"cdf.low": t["cdf.low"]},
                  lambda m: {**m, "config": json.dumps(huge)})
    assert path.stat().st_size < 2000
    started = time.perf_counter()
    with pytest.raises(weights.WeightsError, match="1,224,883,745 parameters"):
        weights.load(str(path))
    first = time.perf_counter() - started
    started = time.perf_counter()
    with pytest.raises(weights.WeightsError, match="1,224,883,745 parameters"):  # remembered, not read again
        weights.load(str(path))
    assert first < 5 and time.perf_counter() - started < 0.01


def test_a_failed_load_is_remembered_until_the_file_changes(tmp_path):
    path = _forge(tmp_path / "m.safetensors", _without("cdf.mix"))
    for _ in range(2):
        with pytest.raises(weights.WeightsError, match="cdf.mix is missing"):
            weights.load(str(path))
    weights.save(path, _model(0))  # replaced by a good file: loaded afresh
    assert weights.load(str(path)).tables is not None

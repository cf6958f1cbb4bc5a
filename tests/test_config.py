import pytest

from bican.config import PRESETS, ConfigError, ModelConfig, TrainConfig, preset


def test_presets_validate():
    for cfg in PRESETS.values():
        assert cfg.validate() is cfg


def test_round_trip_through_dict():
    cfg = preset("seed")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("change, message", [
    ({"epochs": 0}, "epochs"),
    ({"lr": -1.0}, "lr"),
    ({"device": "tpu"}, "device"),
    ({"batch_size": "64"}, "batch_size must be int"),
    ({"bogus": 1}, "unknown TrainConfig field"),
    ({"model": {"family": "gan"}}, "family"),
    ({"model": {"latents": 0}}, "latents"),
    ({"model": []}, "ModelConfig must be a JSON object"),
])
def test_bad_values_name_the_field(change, message):
    base = TrainConfig().to_dict()
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({**base, **change})


def test_unknown_preset():
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("huge")


def test_model_config_defaults_are_the_entropy_family():
    assert ModelConfig().family == "entropy"


@pytest.mark.parametrize("change, message", [
    ({"cycle_weight": float("inf")}, "cycle_weight must be finite"),
    ({"image_weight": float("inf")}, "image_weight must be finite"),
    ({"grad_clip": float("inf")}, "grad_clip must be finite"),
    ({"diverge_db": float("nan")}, "diverge_db must be finite"),
    ({"lam": float("nan")}, "lam must be finite"),
    ({"model": {**ModelConfig().__dict__, "rate_weight": float("nan")}}, "rate_weight must be finite"),
    ({"seed": 2 ** 70}, "seed must be in"),
    ({"seed": -1}, "seed must be in"),
    ({"diverge_db": 0.0}, "diverge_db must be in"),
])
def test_non_finite_values_and_absurd_seeds_are_refused(change, message):
    with pytest.raises(ConfigError, match=message):
        TrainConfig.from_dict({**TrainConfig().to_dict(), **change})


def test_largest_seed_still_validates():
    assert TrainConfig.from_dict({**TrainConfig().to_dict(), "seed": 2 ** 31 - 1}).seed == 2 ** 31 - 1

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

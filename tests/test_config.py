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
    ({"augment": 1.5}, r"augment must be in 0..1 \(the share of each batch varied\), not 1.5"),
    ({"augment": -0.1}, "augment must be in 0..1"),
    ({"augment": "half"}, "augment must be float"),
    ({"init": 8}, "init must be str"),
    ({"init": "entropy-08b\nrm"}, "init must be a model name or a .safetensors path"),
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


def test_configs_stored_before_augmentation_and_init_still_load():
    from bican import weights

    # entropy-08b's file keeps the config it was trained with, written before these fields (and several others).
    stored = weights.load("entropy-08b").info["train"]
    assert "augment" not in stored and "init" not in stored
    cfg = TrainConfig.from_dict(stored)
    assert (cfg.augment, cfg.init, cfg.lam, cfg.cycle_weight) == (0.0, "", 3e-4, 200.0)


def test_entropy_and_handwriting_vary_their_digits_and_quick_tiny_and_the_2019_preset_do_not():
    assert preset("handwriting").augment > 0 and preset("entropy").augment > 0
    assert preset("handwriting").init == "entropy-08b"
    assert preset("tiny").augment == preset("seed").augment == preset("quick").augment == 0.0

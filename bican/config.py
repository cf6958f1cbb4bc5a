"""Frozen configuration dataclasses shared by the CLI, the app and stored runs (stdlib only)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, unknown or out of range."""


DEFAULT_MODEL = "entropy-08b"  # the model every command and page starts with
# The encoder's defaults (bican/codec/settings.py says what each does), kept with the standard library so that the
# command line shows them without loading torch.
SEARCH = 8
MAX_REFINE = 16
PRECISION_NAMES = ("auto", "float32", "bfloat16")
DEVICES = ("auto", "cpu", "cuda", "mps")  # auto: CUDA, then Apple's MPS, then the CPU (train.resolve_device)


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a model's networks and its code."""

    # "entropy": quantized latents + learned prior + range coding (the default).
    # "seed": the 2019 BiCAN, 32x32 input, 200 tanh latents stored as fixed 8-bit bytes.
    family: str = "entropy"
    # Channels of the first convolution; the next layers double it.
    width: int = 32
    # Residual 3x3 blocks at each convolution's resolution, in both networks (mirrored); 0 for the 2019 depth.
    blocks: int = 0
    # Size of the fully connected bottleneck before the latents.
    hidden: int = 512
    # Number of latent symbols per digit; it bounds the rate from above.
    latents: int = 32
    # Mixture components per latent in the factorized prior; >1 fits skewed marginals.
    prior_components: int = 3
    # The codec's default encoder: "settle" iterates to a recompression fixed point; "invert" inverts the decoder,
    # 1 to 1.5 dB closer at high rates for many times the encoding time (EncoderSettings.invert_steps).
    encoder: str = "settle"
    # What one bit is worth to the encoder's refinement, in squared uint8 levels per pixel: 20 suits about 6 B/digit
    # (16 kept more dB, 24 more bytes); a model for higher rates wants less (8 at 12 B, 2 at 21 B).
    rate_weight: float = 20.0

    def validate(self) -> ModelConfig:
        _check_finite(self)
        _check(self.family in ("entropy", "seed"), f"family must be 'entropy' or 'seed', not {self.family!r}")
        _check(1 <= self.width <= 512, f"width must be in 1..512, not {self.width}")
        _check(0 <= self.blocks <= 8, f"blocks must be in 0..8, not {self.blocks}")
        _check(1 <= self.hidden <= 8192, f"hidden must be in 1..8192, not {self.hidden}")
        _check(1 <= self.latents <= 512, f"latents must be in 1..512, not {self.latents}")
        _check(1 <= self.prior_components <= 8, f"prior_components must be in 1..8, not {self.prior_components}")
        _check(self.encoder in ("settle", "invert"), f"encoder must be 'settle' or 'invert', not {self.encoder!r}")
        _check(0 < self.rate_weight <= 1000, f"rate_weight must be in (0, 1000], not {self.rate_weight}")
        return self


@dataclass(frozen=True)
class TrainConfig:
    """One training run: the model to build and how to fit it."""

    model: ModelConfig = field(default_factory=ModelConfig)
    # A codec model (a shipped or promoted name, or a .safetensors path) whose networks and learned prior start the
    # run: a fine-tune. Its ModelConfig must be `model` (the command line and the Train page take it from the file).
    # "" starts from random weights.
    init: str = ""
    # The share of each batch's digits varied the way people's handwriting differs from MNIST's writers (stroke
    # thickness, slant, size, position, wobble, blur, low resolution; bican/augment.py), as the input and the target
    # alike; the rest stay clean MNIST. 0 trains on MNIST as it is, exactly as before this option existed.
    augment: float = 0.0
    # Passes over the 55k training digits.
    epochs: int = 30
    # Digits per step; larger batches suit a GPU, smaller ones converge in fewer epochs on a CPU.
    batch_size: int = 256
    # Adam step size; the seed used 2e-4, the entropy family tolerates more.
    lr: float = 2e-3
    # Rate-distortion trade-off: loss = bits/digit + MSE/lam; smaller lam buys quality with bytes.
    lam: float = 3e-4
    # Weight of the decompressor (image cycle) loss in the seed family; the entropy family uses lam.
    image_weight: float = 1.0
    # Weight of the compressor (code cycle) loss MSE(C(x), C(D(y))). It must be large (tens) for the entropy
    # family: at 0.1 only 93 % of codes reached a recompression fixed point, at 100, 99.5 %.
    cycle_weight: float = 50.0
    # Recompression rounds y <- round(C(D(y))) applied to the code the decoder trains on (entropy family), since the
    # codec iterates to that fixed point when it encodes. 2 gained 0.4 dB at 4.8 B/digit and lost dB above 8 B.
    fixed_point_rounds: int = 0
    # Clip the gradient norm; the unclipped seed diverged after about 14 epochs.
    grad_clip: float = 1.0
    # "auto" picks CUDA when present, else the CPU.
    device: str = "auto"
    # The networks' arithmetic in training. "auto": bfloat16 autocast on CUDA and on a CPU that computes bfloat16
    # natively (AMX or AVX512-BF16), where a step of the entropy networks took half the time; else float32.
    precision: str = "auto"
    # Seeds the weights, the noise and the batch order; a CPU run with a fixed seed is deterministic.
    seed: int = 0
    # Digits held out of the 60k training set for per-epoch validation.
    val_size: int = 5000
    # Validation digits that are also entropy-coded each epoch to report actual bytes and idempotence.
    val_coded: int = 1000
    # Stop early after at most this many optimizer steps (0 = no limit); for smoke tests.
    max_steps: int = 0
    # Validation PSNR this far below the best counts as divergence and stops the run.
    diverge_db: float = 6.0
    # Validation PSNR below this after the first epoch, with no gain over the best epoch, ends the run as collapsed
    # (predicting the mean digit gives 11.7 dB; lr 1 left a model at 9.6 dB); 0 turns the check off.
    collapse_db: float = 12.0
    # Save the checkpoint mid-epoch after this many seconds or steps, whichever comes first, so a killed run loses
    # at most that much training. One save of the entropy preset took 0.18 s on a loaded 2-core CPU: 0.6 % of 30 s.
    checkpoint_s: float = 30.0
    checkpoint_steps: int = 2000

    def validate(self) -> TrainConfig:
        self.model.validate()
        _check_finite(self)
        _check(len(self.init) <= 4096 and self.init.isprintable(), "init must be a model name or a .safetensors path")
        _check(0 <= self.augment <= 1, f"augment must be in 0..1 (the share of each batch varied), not {self.augment}")
        _check(1 <= self.epochs <= 1000, f"epochs must be in 1..1000, not {self.epochs}")
        _check(1 <= self.batch_size <= 65536, f"batch_size must be in 1..65536, not {self.batch_size}")
        _check(0 < self.lr <= 1, f"lr must be in (0, 1], not {self.lr}")
        _check(0 < self.lam <= 1, f"lam must be in (0, 1], not {self.lam}")
        _check(self.image_weight >= 0, f"image_weight must be >= 0, not {self.image_weight}")
        _check(self.cycle_weight >= 0, f"cycle_weight must be >= 0, not {self.cycle_weight}")
        _check(0 <= self.fixed_point_rounds <= 16, f"fixed_point_rounds must be in 0..16, not {self.fixed_point_rounds}")
        _check(self.grad_clip >= 0, f"grad_clip must be >= 0, not {self.grad_clip}")
        _check(self.device in DEVICES, f"device must be {', '.join(DEVICES[:-1])} or {DEVICES[-1]}, not {self.device!r}")
        _check(self.precision in ("auto", "float32"), f"precision must be auto or float32, not {self.precision!r}")
        _check(100 <= self.val_size <= 20000, f"val_size must be in 100..20000, not {self.val_size}")
        _check(0 <= self.val_coded <= self.val_size, f"val_coded must be in 0..val_size, not {self.val_coded}")
        _check(self.max_steps >= 0, f"max_steps must be >= 0, not {self.max_steps}")
        # torch seeds take 64 bits, and the trainer derives per-epoch seeds from this one (seed * 1000 + epoch).
        _check(0 <= self.seed < 2**31, f"seed must be in 0..{2**31 - 1}, not {self.seed}")
        _check(0 < self.diverge_db <= 100, f"diverge_db must be in (0, 100], not {self.diverge_db}")
        _check(0 <= self.collapse_db <= 60, f"collapse_db must be in 0..60, not {self.collapse_db}")
        _check(0 < self.checkpoint_s <= 3600, f"checkpoint_s must be in (0, 3600], not {self.checkpoint_s}")
        _check(1 <= self.checkpoint_steps <= 10**6, f"checkpoint_steps must be in 1..1000000, not {self.checkpoint_steps}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        data = dict(data)
        model = _build(ModelConfig, data.pop("model", {}))
        return _build(cls, {**data, "model": model}).validate()


def model_config_from_dict(data: dict[str, Any]) -> ModelConfig:
    return _build(ModelConfig, data).validate()


PRESETS: dict[str, TrainConfig] = {
    # The 2019 architecture and optimizer: Adam 2e-4, batch 100, both cycle losses.
    "seed": TrainConfig(
        model=ModelConfig(family="seed", width=32, hidden=1024, latents=200, prior_components=1),
        epochs=20, batch_size=100, lr=2e-4, cycle_weight=1.0,
    ),
    # The default entropy model: about 9 bytes/digit at 21.5 dB or better. A quarter of each batch varied: fine-tuning
    # entropy-08b for 3 epochs with a quarter cost 0.05 dB on held-out training digits at equal bytes, with half 0.34 dB
    # (docs/experiments/2026-12-02-augmentation.md).
    "entropy": TrainConfig(augment=0.25),
    # The Train page's default: a model worth promoting in about two minutes on 2 CPU cores (>= 20 dB at <= 10 B/digit;
    # docs/BENCHMARKS.md, "Training speed, quick preset"). The entropy networks with half the bottleneck (a step costs
    # 130 ms of one core in bfloat16, against 159 ms at 512), 5 epochs whose cosine decay ends with the run (20.27 dB
    # at 9.07 B/digit after the fifth), and a smaller validation (1,000 held-out digits, 300 of them range-coded).
    # λ 4e-4 rather than 3e-4: after 3 of 5 epochs both read 19.37 dB, at 9.14 against 10.17 B/digit.
    # No augmentation: it cost 2.8 % a step and 4.5 to 9.6 s at the start (its canvas renderings), over 3 % of the
    # two minutes.
    "quick": TrainConfig(model=ModelConfig(hidden=256), epochs=5, lr=3e-3, lam=4e-4, val_size=1000, val_coded=300),
    # Fine-tunes a shipped rung for handwriting unlike MNIST's writers: a quarter of each batch varied (as `entropy`),
    # a few epochs at a seventh of the entropy preset's step size, so the rung keeps what it learned. `train --init
    # NAME` takes the rung's model and objective (λ, cycle weight, train rounds) from its file; these are entropy-08b's.
    "handwriting": TrainConfig(init="entropy-08b", model=ModelConfig(hidden=256), epochs=3, lr=3e-4, lam=3e-4,
                               cycle_weight=200.0, augment=0.25),
    # A few hundred steps of a narrow model: for smoke tests.
    "tiny": TrainConfig(model=ModelConfig(width=8, hidden=64, latents=16), epochs=1, batch_size=128, max_steps=200),
}


def preset(name: str) -> TrainConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def _build(cls: type, data: Any) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"{cls.__name__} must be a JSON object, not {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} field(s): {', '.join(unknown)}")
    for key, value in data.items():
        expected = type(getattr(cls(), key)) if key != "model" else ModelConfig
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            continue
        if not isinstance(value, expected) or isinstance(value, bool) != (expected is bool):
            raise ConfigError(f"{cls.__name__}.{key} must be {expected.__name__}, not {value!r}")
    return cls(**data)


def _check_finite(cfg: Any) -> None:
    """Infinity and NaN pass every range check written as a comparison that NaN fails silently, so refuse them first."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        _check(not isinstance(value, float) or math.isfinite(value), f"{f.name} must be finite, not {value}")


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)

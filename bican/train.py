"""train(config, on_event): the BiCAN training loop. It never prints and never imports UI code."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from . import data, weights
from .augment import Augmenter
from .codec import Codec, EncoderSettings, compute_dtype
from .config import ConfigError, TrainConfig
from .drawn import render as draw_on_canvas
from .evaluate import evaluate, psnr
from .model import BiCAN

Event = dict[str, Any]
# torch's threads for a run the app launches, beside the studio on the same machine. Measured on the 2-core machine
# with the studio open in chromium and a stroke drawn every second (tools/train_threads.py, 2026-12-02, machine load
# 27 to 33 from other jobs): a quick-preset step took 2,723 and 1,155 ms (median of 20, two rounds) on 1 thread, and
# 13,535 and 34,072 ms on 2. Split work waits for the slowest core, and a shared core is always slow: one thread.
SHARED_THREADS = 1
TEST_POINT = 1000  # test digits that measure a finished run's point on the rate–distortion chart (about a second)
Listener = Callable[[Event], None]
COLLAPSE_GAIN_DB = 0.5  # below the collapse floor, an epoch must beat the best by this much to count as learning
# Training digits redrawn as the studio's canvas draws them (bican.drawn), rendered at the run's start for augmentation
# to draw a third of its varied digits from. Rendering 1,000 digits took 4.5 to 9.6 s on one CPU thread of the 2-core
# machine at load 7 to 13 (5 to 10 ms a digit), so a larger pool would cost a short run more than its augmentation.
CANVAS_POOL = 1000
# What a model was trained to minimise: a fine-tune keeps it unless told otherwise, or the rung's rate would move.
OBJECTIVE = ("lam", "cycle_weight", "fixed_point_rounds", "image_weight")


class Objective(nn.Module):
    """Both cycle losses and the rate in one forward pass, so DistributedDataParallel can wrap it."""

    def __init__(self, model: BiCAN, cfg: TrainConfig):
        super().__init__()
        self.model, self.cfg = model, cfg

    def forward(self, digits: torch.Tensor) -> dict[str, torch.Tensor]:
        m, cfg = self.model, self.cfg
        x = m.to_native(digits)
        y = m.compressor(x)
        code = self._settled(y) if cfg.fixed_point_rounds and m.prior is not None else m.quantize(y, "round")
        x_hat = m.decompressor(code)
        decompressor = F.mse_loss(x_hat.float(), x)  # the image cycle
        compressor = F.mse_loss(m.compressor(x_hat).float() / m.code_scale, y.float() / m.code_scale)  # the code cycle
        if m.prior is None:
            rate = torch.tensor(8.0 * m.cfg.latents, device=x.device)
            total = cfg.image_weight * decompressor + cfg.cycle_weight * compressor
        else:
            rate = m.prior.bits(m.quantize(y.float(), "noise")).mean()
            total = rate + decompressor / cfg.lam + cfg.cycle_weight * compressor
        return {"decompressor": decompressor, "compressor": compressor, "rate": rate, "total": total}

    def _settled(self, y: torch.Tensor) -> torch.Tensor:
        """The code the codec would store, with the straight-through gradient of plain rounding."""
        m = self.model
        with torch.no_grad():
            code = torch.round(y)
            for _ in range(self.cfg.fixed_point_rounds):
                code = torch.round(m.compressor(m.decompressor(code)).float())
        return y + (code - y).detach()


class _Readout:
    """One step's losses on their way to the host: the copy is queued now and waited for one step later, so the
    host never waits for the GPU to drain before queueing the next step. A NaN is therefore seen a step late."""

    def __init__(self, losses: dict[str, torch.Tensor], event: Event):
        self.names, self.event = list(losses), event
        values = torch.stack([v.detach().float() for v in losses.values()])
        self.values = values.to("cpu", non_blocking=True)
        self.ready = torch.cuda.Event() if values.is_cuda else None
        if self.ready is not None:
            self.ready.record()

    def report(self, emit: Listener) -> str | None:
        """Emit the step event; or return why the run must stop."""
        if self.ready is not None:
            self.ready.synchronize()
        event = self.event | dict(zip(self.names, self.values.tolist()))
        if not math.isfinite(event["total"]):
            return f"loss became NaN or infinite at step {event['step']}"
        emit(event)
        return None


def resolve_device(name: str) -> torch.device:
    """The device a config names; auto picks CUDA, then Apple's MPS, then the CPU. Coding stays on the CPU whatever
    trains, so the bytes never depend on it."""
    present = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    if name == "cuda" and not present["cuda"]:
        raise RuntimeError("device 'cuda' needs a CUDA GPU, and no CUDA GPU is available here; choose auto or cpu")
    if name == "mps" and not present["mps"]:
        raise RuntimeError("device 'mps' needs Apple's Metal (a Mac with Apple silicon), and torch finds none here; "
                           "choose auto or cpu")
    if name == "auto":
        name = next((device for device, ok in present.items() if ok), "cpu")
    return torch.device(name)


@dataclasses.dataclass
class TrainState:
    """Where a run stands. Saved in every checkpoint, so a resumed run continues from it."""

    epoch: int = 0  # epochs finished
    step: int = 0  # optimizer steps taken
    best_score: float = math.inf  # the best validation score so far (lower is better)
    best: dict | None = None  # that epoch's validation metrics

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainState:
        return cls(**{f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data})


@dataclasses.dataclass
class _Run:
    """What stays fixed while a run trains: the loop's context."""

    cfg: TrainConfig
    model: BiCAN
    step_fn: nn.Module  # the Objective, wrapped in DistributedDataParallel under torchrun
    optimizer: torch.optim.Optimizer
    train_set: torch.Tensor
    val_set: torch.Tensor
    augment: Augmenter | None  # varies part of each batch (TrainConfig.augment); None trains on MNIST as it is
    panel: dict[str, np.ndarray]  # fixed test digits shown after every epoch, by name
    device: torch.device
    emit: Listener
    out: Path | None
    stop: Callable[[], bool]
    drawn: Callable[[], np.ndarray | None]
    rank: int
    world: int
    steps_per_epoch: int
    total_steps: int
    origin: dict[str, str]  # the init model's fingerprint, kept in the start event and every saved model


# The public entry point: the config, then optional hooks for the CLI, the run writer and the tests, each a keyword
# (its documentation of them takes it past 40 lines).
def train(cfg: TrainConfig, on_event: Listener | None = None, out_dir: Path | str | None = None,  # noqa: PLR0913
          resume: bool = False, stop: Callable[[], bool] | None = None, data_root: str | None = None,
          drawn: Callable[[], np.ndarray | None] | None = None, test_digits: int = TEST_POINT) -> Event:
    """Train a model and return the final event.

    Args:
        cfg: what to train and how.
        on_event: called with every start, step, epoch, samples, test and end event (rank 0 only under torchrun).
        out_dir: where checkpoints and the best model go; None keeps nothing.
        resume: continue from out_dir/last.safetensors.
        stop: polled after each step; True ends the run as "cancelled" after a checkpoint.
        data_root: MNIST root; None uses $BICAN_DATA or ./data.
        drawn: polled after each epoch for a digit (uint8 28x28) to reconstruct beside the fixed test panel.
        test_digits: how many test digits measure a finished run's point (needs out_dir; 0: none).
    """
    cfg.validate()
    rank, world, device = _setup_distributed(cfg)
    out = Path(out_dir) if out_dir is not None else None
    torch.manual_seed(cfg.seed + rank)
    images = data.load("train", data_root).images  # read once: the training digits and the augmenter's pool
    train_set, val_set = _data(cfg, images, device, rank, world)
    model, origin = _initial(cfg)
    model = model.to(device)
    objective = Objective(model, cfg)
    steps_per_epoch = max(1, len(train_set) // cfg.batch_size)
    run = _Run(cfg, model, nn.parallel.DistributedDataParallel(objective) if world > 1 else objective,
               torch.optim.Adam(model.parameters(), lr=cfg.lr), train_set, val_set,
               _augmenter(cfg, images, device, rank), _panel(data_root),
               device, on_event if (on_event and rank == 0) else (lambda event: None), out,
               stop or (lambda: False), drawn or (lambda: None), rank, world, steps_per_epoch,
               _total_steps(cfg, steps_per_epoch), origin)
    state = TrainState()
    if resume and out is not None and (out / "last.safetensors").exists():
        state = TrainState.from_dict(weights.load_checkpoint(out / "last.safetensors", model, run.optimizer))
    run.emit({"type": "start", "device": str(device), "world_size": world, "total_steps": run.total_steps,
              "steps_per_epoch": steps_per_epoch, "resumed_at": state.step, "parameters": _count(model), **origin})
    ender = _loop(run, state)
    if ender["status"] == "done" and rank == 0 and out is not None and state.best is not None and test_digits:
        run.emit(_test_point(out / "best.safetensors", data_root, test_digits))
    if world > 1:
        ender["ranks_identical"] = _ranks_identical(model, device)
        dist.destroy_process_group()
    run.emit(ender)
    return ender


def with_init(cfg: TrainConfig, named: Collection[str] = ()) -> TrainConfig:
    """The config that fine-tunes cfg.init: the model config from the file, and the objective (OBJECTIVE) it was
    trained with; without init, cfg as it is.

    Args:
        named: fields the caller set on purpose ("model.latents" for a model field): an objective field named keeps
            cfg's value; a model field named must agree with the file, or ConfigError says which differ.
    """
    if not cfg.init:
        return cfg
    try:
        model, info = weights.describe(cfg.init)
    except weights.WeightsError as exc:
        raise ConfigError(f"init: {exc}") from None
    asked = [name.removeprefix("model.") for name in named if name.startswith("model.")]
    clash = [f"{k} {getattr(cfg.model, k)!r} (the file has {getattr(model, k)!r})" for k in asked
             if getattr(cfg.model, k) != getattr(model, k)]
    if clash:
        raise ConfigError(f"init {cfg.init} fixes the model, and the config asks for another: {', '.join(clash)}; "
                          "leave those model fields out")
    trained = info.get("train") if isinstance(info.get("train"), dict) else {}
    objective = {k: trained[k] for k in OBJECTIVE if k in trained and k not in named}
    return TrainConfig.from_dict({**cfg.to_dict(), **objective, "model": dataclasses.asdict(model)})


def _initial(cfg: TrainConfig) -> tuple[BiCAN, dict[str, str]]:
    """Fresh networks, or cfg.init's with the learned prior they were trained with (every codec file keeps it beside
    its coder's tables), which starts the rate term where the networks left it."""
    if not cfg.init:
        return BiCAN(cfg.model), {}
    loaded = weights.load(cfg.init)
    if loaded.model.cfg != cfg.model:
        differ = [f"{f.name} {getattr(cfg.model, f.name)!r} (the file has {getattr(loaded.model.cfg, f.name)!r})"
                  for f in dataclasses.fields(cfg.model) if getattr(cfg.model, f.name) != getattr(loaded.model.cfg, f.name)]
        raise ConfigError(f"init {cfg.init} is another model than this run's: {', '.join(differ)}; take the model "
                          "config from the file (train --init does)")
    return loaded.model.train(), {"init_fingerprint": loaded.fingerprint}


@dataclasses.dataclass(frozen=True)
class Estimate:
    """How long a run will take here, from its parts, each timed on this machine."""

    startup_s: float  # a fresh process: imports, MNIST loading, the networks built
    steps: int
    steps_per_epoch: int
    step_s: float  # one optimizer step
    validation_s: float  # one epoch's validation and samples
    finish_s: float  # the best model and checkpoint written, the finished run's test point

    @property
    def validations(self) -> int:
        return -(-self.steps // self.steps_per_epoch)

    @property
    def total_s(self) -> float:
        return self.startup_s + self.steps * self.step_s + self.validations * self.validation_s + self.finish_s

    def until(self, epoch: int) -> float:
        """Seconds from process start to the best model of `epoch` written (what `bench train` times)."""
        steps = min(self.steps, epoch * self.steps_per_epoch)
        return self.startup_s + steps * self.step_s + epoch * self.validation_s + self.finish_s


# The config, then optional knobs of the probe (tests shorten it; bench train sets the threads).
def estimate(cfg: TrainConfig, probe_steps: int = 6, data_root: str | None = None, threads: int | None = None,  # noqa: PLR0913
             import_s: float | None = None, scale: int = 4) -> Estimate:
    """Time a probe run of `cfg` here and scale it to the whole run: a few steps, then one validation and the test
    point on a `scale`-th of their digits (their cost grows with the count), so the probe takes seconds.

    The first two probe steps are left out of the step time: they pay for allocation and kernel selection.

    Args:
        threads: torch's thread count for the probe, as the run will have it (None: leave it as it is).
        import_s: the seconds a fresh process takes to import bican.train; None measures it in a subprocess.
    """
    import tempfile

    cfg = cfg.validate()
    steps_per_epoch = max(1, (len(data.load("train", data_root).images) - cfg.val_size) // cfg.batch_size)
    probe = dataclasses.replace(cfg, epochs=1, max_steps=probe_steps, val_size=max(100, cfg.val_size // scale),
                                val_coded=cfg.val_coded // scale)
    stamps: dict[str, list[float]] = {}
    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        with tempfile.TemporaryDirectory() as out:
            began = time.perf_counter()
            train(probe, lambda e: stamps.setdefault(e["type"], []).append(time.perf_counter()), out,
                  data_root=data_root, test_digits=TEST_POINT // scale)
    finally:
        torch.set_num_threads(before)
    steps, validated = stamps["step"], stamps["samples"][0]
    return Estimate(startup_s=(import_s if import_s is not None else import_seconds()) + stamps["start"][0] - began,
                    steps=_total_steps(cfg, steps_per_epoch), steps_per_epoch=steps_per_epoch,
                    step_s=(steps[-1] - steps[1]) / max(1, len(steps) - 2),
                    validation_s=(validated - steps[-1]) * cfg.val_size / probe.val_size,
                    finish_s=(stamps["end"][0] - validated) * scale)


def import_seconds() -> float:
    """Wall seconds for a fresh Python to import bican.train: a launched run pays them before anything else."""
    import subprocess
    import sys

    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import bican.train"], check=True, capture_output=True,
                   cwd=Path(__file__).resolve().parent.parent)
    return time.perf_counter() - started


def _total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    return cfg.epochs * steps_per_epoch if not cfg.max_steps else min(cfg.max_steps, cfg.epochs * steps_per_epoch)


def _autocast(cfg: TrainConfig, device: torch.device) -> torch.autocast:
    native = device.type == "cuda" or compute_dtype(device) == torch.bfloat16
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.precision == "auto" and native)


def _loop(run: _Run, state: TrainState) -> Event:
    cfg = run.cfg
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + run.rank)
    cadence = _Cadence(cfg, state.step)
    for epoch in range(state.epoch, cfg.epochs):
        started = time.perf_counter()
        run.model.train()
        order = torch.randperm(len(run.train_set), generator=generator.manual_seed(cfg.seed * 1000 + run.rank + epoch))
        order, pending = order.to(run.device), None  # indexing on the device: no host copy waits for the GPU
        for i in range(state.step - epoch * run.steps_per_epoch, run.steps_per_epoch):
            if state.step >= run.total_steps:
                break
            reason, pending = pending and pending.report(run.emit), _step(run, state, order, i, epoch)
            if reason:
                return _end(run.out, "failed", reason, state)
            if cadence.due(state.step):  # mid-epoch: a killed run resumes from here
                if reason := pending.report(run.emit):
                    return _end(run.out, "failed", reason, state)
                pending, state.epoch = None, epoch
                _checkpoint(run, state)
            if _agree(run.stop(), run.device, run.world):
                # A mid-epoch checkpoint on this same step has already reported the step's losses.
                if reason := pending and pending.report(run.emit):
                    return _end(run.out, "failed", reason, state)
                state.epoch = epoch
                _checkpoint(run, state)
                return _end(run.out, "cancelled", "stopped on request", state)
        if reason := pending and pending.report(run.emit):
            return _end(run.out, "failed", reason, state)
        state.epoch = epoch + 1
        verdict = _validate(run, state, epoch, time.perf_counter() - started)
        _checkpoint(run, state)
        cadence.saved(state.step)
        if _agree(verdict is not None, run.device, run.world):
            return _end(run.out, "failed", verdict or "another rank failed validation", state)
        if state.step >= run.total_steps:
            break
    return _end(run.out, "done", "", state)


def _step(run: _Run, state: TrainState, order: torch.Tensor, i: int, epoch: int) -> _Readout:
    """One optimizer step on the i-th batch of the epoch's order; its losses come back a step later."""
    cfg, optimizer = run.cfg, run.optimizer
    _set_lr(optimizer, cfg, state.step, run.total_steps)
    digits = run.train_set[order[i * cfg.batch_size:(i + 1) * cfg.batch_size]]
    if run.augment is not None:
        digits = run.augment(digits, state.step)
    with _autocast(cfg, run.device):
        losses = run.step_fn(digits)
    readout = _Readout(losses, {"type": "step", "step": state.step + 1, "epoch": epoch + 1,
                                "lr": optimizer.param_groups[0]["lr"]})
    optimizer.zero_grad(set_to_none=True)
    losses["total"].backward()
    if cfg.grad_clip:
        nn.utils.clip_grad_norm_(run.model.parameters(), cfg.grad_clip)
    optimizer.step()
    state.step += 1
    return readout


def _codec(model: BiCAN, device: torch.device, search: int = 0) -> Codec:
    """The model's codec as it trains, under a placeholder fingerprint (its streams are never kept)."""
    return Codec(model, model.prior.tables() if model.prior is not None else None, "0" * 16, "training", device,
                 settings=EncoderSettings(search=search))


def _validate(run: _Run, state: TrainState, epoch: int, seconds: float) -> str | None:
    """Measure the epoch on held-out digits; return a reason to stop, or None."""
    if run.rank != 0:
        return None
    cfg, model, val_set = run.cfg, run.model, run.val_set
    model.eval()
    # Without the encoder search: a tenth of the cost per epoch, and a lower bound on what the shipped encoder gives.
    codec = _codec(model, val_set.device)
    digits = val_set.cpu().numpy()
    symbols = codec.symbols(digits)
    with torch.no_grad():  # one decoder pass serves both yardsticks: uint8 PSNR and the seed's native MSE
        x_hat = model.decompressor(torch.from_numpy(symbols).to(val_set.device).float())
        recon = model.to_uint8(x_hat).cpu().numpy()
        native_mse = float(F.mse_loss(x_hat.float(), model.to_native(val_set)))
    metrics = {"psnr_db": psnr(digits, recon), "ideal_bytes_per_digit": float(codec.ideal_bits(symbols).mean() / 8),
               "decompressor_mse": native_mse}
    if cfg.val_coded:
        coded = evaluate(codec, digits[: cfg.val_coded])
        metrics |= {k: coded[k] for k in ("bytes_per_digit", "idempotent_fraction")}
    mse = float(np.mean((digits / 255.0 - recon / 255.0) ** 2))
    score = mse * 4 / cfg.image_weight if model.prior is None else metrics["ideal_bytes_per_digit"] * 8 + mse * 4 / cfg.lam
    metrics["val_loss"] = score
    best, improved = state.best or {}, math.isfinite(score) and score < state.best_score
    run.emit({"type": "epoch", "epoch": epoch + 1, "step": state.step, "seconds": seconds, "best": improved, **metrics})
    run.emit(_samples(run, codec, epoch + 1))
    if improved:
        state.best_score, state.best = score, {"epoch": epoch + 1, **metrics}
        if run.out is not None:
            weights.save(run.out / "best.safetensors", model,
                         {"train": cfg.to_dict(), "validation": state.best, **run.origin})
    elif best and metrics["psnr_db"] < best["psnr_db"] - cfg.diverge_db:
        return f"diverged: validation PSNR fell to {metrics['psnr_db']:.1f} dB from a best of {best['psnr_db']:.1f} dB"
    if best and metrics["psnr_db"] < min(cfg.collapse_db, best["psnr_db"] + COLLAPSE_GAIN_DB):
        return (f"collapsed: validation PSNR is {metrics['psnr_db']:.1f} dB after epoch {epoch + 1}, below the "
                f"{cfg.collapse_db:g} dB floor and no better than epoch {best['epoch']}")
    return None


class _Cadence:
    """When the next mid-epoch checkpoint is due: cfg.checkpoint_steps steps or cfg.checkpoint_s seconds after the
    last one, whichever comes first."""

    def __init__(self, cfg: TrainConfig, step: int):
        self.cfg = cfg
        self.saved(step)

    def saved(self, step: int) -> None:
        self.step, self.time = step, time.monotonic()

    def due(self, step: int) -> bool:
        if step - self.step < self.cfg.checkpoint_steps and time.monotonic() - self.time < self.cfg.checkpoint_s:
            return False
        self.saved(step)
        return True


def _samples(run: _Run, codec: Codec, epoch: int) -> Event:
    """The fixed test panel (and the drawn digit, if any) through this epoch's codec, each with its stream's bytes."""
    panel = dict(run.panel)
    drawn = run.drawn()
    if drawn is not None:
        panel["drawn"] = drawn
    digits = np.stack(list(panel.values()))
    symbols = codec.symbols(digits)
    return {"type": "samples", "epoch": epoch, "names": list(panel), "digits": digits,
            "recon": codec.reconstruct(symbols), "bytes": [len(s) for s in codec.encode_symbols(symbols)]}


def _test_point(path: Path, data_root: str | None, count: int) -> Event:
    """The best model's point on the rate–distortion chart: the shipped encoder on the first `count` test digits,
    as `eval` and the Benchmark page measure the shipped models (their point uses the whole test set)."""
    best = weights.load(path)
    test = data.load("test", data_root).images[:count]
    measured = evaluate(Codec(best.model, best.tables, best.fingerprint, best.name), test)
    return {"type": "test", "digits": len(test), **measured}


def _end(out: Path | None, status: str, reason: str, state: TrainState) -> Event:
    return {"type": "end", "status": status, "reason": reason, "step": state.step, "epoch": state.epoch,
            "best": state.best, "best_path": str(out / "best.safetensors") if out and state.best else None}


def _checkpoint(run: _Run, state: TrainState) -> None:
    if run.out is not None and run.rank == 0:
        weights.save_checkpoint(run.out / "last.safetensors", run.model, run.optimizer, state.to_dict())


def _set_lr(optimizer, cfg: TrainConfig, step: int, total: int) -> None:
    # Cosine decay to 5 % of the base rate: short runs end on a small step and a settled prior.
    lr = cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / max(1, total))))
    for group in optimizer.param_groups:
        group["lr"] = lr


def _panel(root: str | None) -> dict[str, np.ndarray]:
    """The first test digit of each class: the same ten digits after every epoch of every run."""
    test = data.load("test", root)
    return {f"test {label}": test.images[np.flatnonzero(test.labels == label)[0]] for label in range(10)}


def _augmenter(cfg: TrainConfig, images: np.ndarray, device: torch.device, rank: int) -> Augmenter | None:
    """What varies the run's batches, with its pool of canvas renderings of the training split's `images` on the
    device; None for cfg.augment 0."""
    if not cfg.augment:
        return None
    digits = images[: -cfg.val_size]  # never the validation digits
    pick = np.sort(np.random.default_rng(cfg.seed).choice(len(digits), CANVAS_POOL, replace=False))
    pool = torch.from_numpy(draw_on_canvas(digits[pick], cfg.seed)).to(device)
    return Augmenter(cfg.augment, cfg.seed * 1000 + rank, device, pool)


def _data(cfg, images: np.ndarray, device, rank, world) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(images.copy())
    train_set, val_set = images[: -cfg.val_size], images[-cfg.val_size:]
    return train_set[rank::world].to(device), val_set.to(device)


def _setup_distributed(cfg: TrainConfig) -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, resolve_device(cfg.device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(cfg.device)
    if device.type == "cuda":
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return rank, world, device


def _agree(flag: bool, device: torch.device, world: int) -> bool:
    """Under torchrun every rank must leave the loop together: true if any rank says so."""
    if world == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _ranks_identical(model: nn.Module, device: torch.device) -> bool:
    """DDP keeps replicas equal by construction; check it, since a silent drift would waste a whole run."""
    flat = torch.cat([p.detach().reshape(-1).float() for p in model.parameters()]).to(device)
    low, high = flat.clone(), flat.clone()
    dist.all_reduce(low, op=dist.ReduceOp.MIN)
    dist.all_reduce(high, op=dist.ReduceOp.MAX)
    return bool(torch.equal(low, high))


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())

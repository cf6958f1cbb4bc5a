"""train(config, on_event): the BiCAN training loop. It never prints and never imports UI code."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from PIL import Image
from torch import nn

from . import data, weights
from .codec import Codec, EncoderSettings
from .config import TrainConfig
from .evaluate import evaluate, psnr
from .images import grid
from .model import BiCAN

Event = dict[str, Any]
Listener = Callable[[Event], None]


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
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' needs a CUDA GPU, and no CUDA GPU is available here; choose auto or cpu")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def train(cfg: TrainConfig, on_event: Listener | None = None, out_dir: Path | str | None = None,
          resume: bool = False, stop: Callable[[], bool] | None = None, data_root: str | None = None) -> Event:
    """Train a model and return the final event.

    Args:
        cfg: what to train and how.
        on_event: called with every step, epoch and end event (rank 0 only under torchrun).
        out_dir: where checkpoints, the best model and sample grids go; None keeps nothing.
        resume: continue from out_dir/last.safetensors.
        stop: polled after each step; True ends the run as "cancelled" after a checkpoint.
        data_root: MNIST root; None uses $BICAN_DATA or ./data.
    """
    cfg.validate()
    rank, world, device = _setup_distributed(cfg)
    emit = on_event if (on_event and rank == 0) else (lambda event: None)
    out = Path(out_dir) if out_dir is not None else None
    torch.manual_seed(cfg.seed + rank)
    train_set, val_set = _data(cfg, device, data_root, rank, world)
    model = BiCAN(cfg.model).to(device)
    objective = Objective(model, cfg)
    step_fn = nn.parallel.DistributedDataParallel(objective) if world > 1 else objective
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    steps_per_epoch = max(1, len(train_set) // cfg.batch_size)
    total_steps = _total_steps(cfg, steps_per_epoch)
    state = {"epoch": 0, "step": 0, "best_score": math.inf, "best": None}
    if resume and out is not None and (out / "last.safetensors").exists():
        state = weights.load_checkpoint(out / "last.safetensors", model, optimizer)
    emit({"type": "start", "device": str(device), "world_size": world, "total_steps": total_steps,
          "steps_per_epoch": steps_per_epoch, "resumed_at": state["step"], "parameters": _count(model)})
    ender = _loop(cfg, model, step_fn, optimizer, train_set, val_set, state, total_steps, steps_per_epoch,
                  device, emit, out, stop or (lambda: False), rank, world)
    if world > 1:
        ender["ranks_identical"] = _ranks_identical(model, device)
        dist.destroy_process_group()
    emit(ender)
    return ender


def estimate(cfg: TrainConfig, probe_steps: int = 4, data_root: str | None = None) -> tuple[int, float]:
    """The run's optimizer steps, and seconds per step timed over a few real steps here (validation not included).

    The first probe step is left out of the timing: it pays for allocation and, on CUDA, kernel selection.
    """
    steps_per_epoch = max(1, (len(data.load("train", data_root).images) - cfg.val_size) // cfg.batch_size)
    probe = dataclasses.replace(cfg, epochs=1, max_steps=probe_steps, val_size=100, val_coded=0)
    times = []
    train(probe, lambda event: times.append(time.perf_counter()) if event["type"] == "step" else None,
          data_root=data_root)
    return _total_steps(cfg, steps_per_epoch), (times[-1] - times[0]) / max(1, len(times) - 1)


def _total_steps(cfg: TrainConfig, steps_per_epoch: int) -> int:
    return cfg.epochs * steps_per_epoch if not cfg.max_steps else min(cfg.max_steps, cfg.epochs * steps_per_epoch)


def _loop(cfg, model, step_fn, optimizer, train_set, val_set, state, total_steps, steps_per_epoch,
          device, emit, out, stop, rank, world) -> Event:
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + rank)
    amp = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else torch.autocast("cpu", enabled=False)
    for epoch in range(state["epoch"], cfg.epochs):
        started = time.perf_counter()
        model.train()
        order = torch.randperm(len(train_set), generator=generator.manual_seed(cfg.seed * 1000 + rank + epoch))
        order, pending = order.to(device), None  # indexing on the device: no host copy waits for the GPU
        for i in range(state["step"] - epoch * steps_per_epoch, steps_per_epoch):
            if state["step"] >= total_steps:
                break
            _set_lr(optimizer, cfg, state["step"], total_steps)
            with amp:
                losses = step_fn(train_set[order[i * cfg.batch_size:(i + 1) * cfg.batch_size]])
            readout = _Readout(losses, {"type": "step", "step": state["step"] + 1, "epoch": epoch + 1,
                                        "lr": optimizer.param_groups[0]["lr"]})
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            if cfg.grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            state["step"] += 1
            reason, pending = pending and pending.report(emit), readout
            if reason:
                return _end(out, "failed", reason, state)
            if _agree(stop(), device, world):
                if reason := pending.report(emit):
                    return _end(out, "failed", reason, state)
                state["epoch"] = epoch
                _checkpoint(out, model, optimizer, state, rank)
                return _end(out, "cancelled", "stopped on request", state)
        if reason := pending and pending.report(emit):
            return _end(out, "failed", reason, state)
        state["epoch"] = epoch + 1
        verdict = _validate(cfg, model, val_set, state, epoch, time.perf_counter() - started, emit, out, rank)
        _checkpoint(out, model, optimizer, state, rank)
        if _agree(verdict is not None, device, world):
            return _end(out, "failed", verdict or "another rank failed validation", state)
        if state["step"] >= total_steps:
            break
    return _end(out, "done", "", state)


def _validate(cfg, model, val_set, state, epoch, seconds, emit, out, rank) -> str | None:
    """Measure the epoch on held-out digits; return a reason to stop, or None."""
    if rank != 0:
        return None
    model.eval()
    # Without the encoder search: a tenth of the cost per epoch, and a lower bound on what the shipped encoder gives.
    codec = Codec(model, model.prior.tables() if model.prior is not None else None, "0" * 16, "training", val_set.device,
                  settings=EncoderSettings(search=0))
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
    best, improved = state["best"] or {}, math.isfinite(score) and score < state["best_score"]
    emit({"type": "epoch", "epoch": epoch + 1, "step": state["step"], "seconds": seconds, "best": improved, **metrics})
    if out is not None:
        _save_samples(out / "samples.png", digits[:16], recon[:16])
    if improved:
        state["best_score"], state["best"] = score, {"epoch": epoch + 1, **metrics}
        if out is not None:
            weights.save(out / "best.safetensors", model, {"train": cfg.to_dict(), "validation": state["best"]})
    elif best and metrics["psnr_db"] < best["psnr_db"] - cfg.diverge_db:
        return f"diverged: validation PSNR fell to {metrics['psnr_db']:.1f} dB from a best of {best['psnr_db']:.1f} dB"
    return None


def _end(out: Path | None, status: str, reason: str, state: dict) -> Event:
    return {"type": "end", "status": status, "reason": reason, "step": state["step"], "epoch": state["epoch"],
            "best": state["best"], "best_path": str(out / "best.safetensors") if out and state["best"] else None}


def _checkpoint(out, model, optimizer, state, rank) -> None:
    if out is not None and rank == 0:
        weights.save_checkpoint(out / "last.safetensors", model, optimizer, state)


def _set_lr(optimizer, cfg: TrainConfig, step: int, total: int) -> None:
    # Cosine decay to 5 % of the base rate: short runs end on a small step and a settled prior.
    lr = cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / max(1, total))))
    for group in optimizer.param_groups:
        group["lr"] = lr


def _data(cfg, device, root, rank, world) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.from_numpy(data.load("train", root).images.copy())
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


def _save_samples(path: Path, digits: np.ndarray, recon: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(grid(np.concatenate([digits, recon]), columns=len(digits))).save(path)


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_classifier(out: Path, epochs: int = 4, progress: Callable[[int, float], Any] | None = None,
                     seed: int = 0) -> float:
    """Train the LeNet-size classifier on the 60k training digits; save it; return test accuracy."""
    from .evaluate import classify
    from .model import Classifier

    torch.manual_seed(seed)
    train_split, test = data.load("train"), data.load("test")
    images, labels = torch.from_numpy(train_split.images.copy()), torch.from_numpy(train_split.labels)
    model = Classifier()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    accuracy = 0.0
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(images), generator=generator).split(128):
            loss = F.cross_entropy(model(images[idx]), labels[idx])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        accuracy = float(np.mean(classify(model, test.images) == test.labels))
        if progress:
            progress(epoch + 1, accuracy)
    weights.save_classifier(Path(out), model, {"test_accuracy": accuracy, "epochs": epochs})
    return accuracy


def fit_prior(model: str, out: Path, components: int, progress: Callable[[int], Any] | None = None,
              encoder: str | None = None, rate_weight: float | None = None,
              settings: EncoderSettings = EncoderSettings()) -> dict:
    """Save a codec model to `out` with its prior refitted as a mixture of `components` tables per latent.

    The mixture is fitted to the codes the model's own encoder (ModelConfig.encoder, as set here) emits for the 60k
    training digits (prior.fit_mixture); the networks are unchanged. Returns the training codes' ideal bytes/digit
    under the old and the new tables.

    Args:
        model: a model name or .safetensors path.
        out: where to write the refitted model.
        components: the mixture's size; 1 gives a factorized table fitted to the codes.
        progress: called with the number of digits encoded after each step.
        encoder, rate_weight: the refitted model's ModelConfig.encoder and .rate_weight; None keeps the model's.
        settings: the encoder's other knobs (its default encoder is the model's, as set here).
    """
    from .prior import fit_mixture

    loaded = weights.load(model)
    if loaded.tables is None:
        raise ValueError(f"{loaded.name} writes fixed-length codes; it has no prior to fit")
    if not 1 <= components <= 256:
        raise ValueError(f"components must be 1 to 256, not {components}")
    changes = {k: v for k, v in (("encoder", encoder), ("rate_weight", rate_weight)) if v is not None}
    loaded.model.cfg = dataclasses.replace(loaded.model.cfg, **changes).validate()
    codec = Codec(loaded.model, loaded.tables, loaded.fingerprint, loaded.name, settings=settings)
    symbols = codec.symbols(data.load("train").images, progress)
    tables = fit_mixture(loaded.tables, symbols, components)
    before, after = (float(t.bits(symbols).mean() / 8) for t in (loaded.tables, tables))
    info = loaded.info | {"prior": {"components": components, "fitted_to": "codes of the 60k training digits",
                                    "train_ideal_bytes": {"before": before, "after": after}}}
    fingerprint = weights.save(Path(out), loaded.model, info, tables)
    return {"model": loaded.name, "fingerprint": fingerprint, "components": components,
            "train_ideal_bytes_before": before, "train_ideal_bytes_after": after}

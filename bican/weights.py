"""Safetensors weights carrying their config, CDF tables and fingerprint; the shipped-model registry."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from .config import ConfigError, model_config_from_dict, promoted_dir
from .model import BiCAN
from .prior import PRECISION, CdfTables

FORMAT = "bican-weights-1"
SHIPPED = Path(__file__).resolve().parent.parent / "weights"
DEFAULT_MODEL = "entropy-08b"
CLASSIFIER = "classifier"


class WeightsError(ValueError):
    """A weights file is missing, unreadable, or not a bican model."""


@dataclass
class Loaded:
    name: str
    model: BiCAN
    tables: CdfTables | None
    fingerprint: str
    info: dict[str, Any] = field(default_factory=dict)


def model_dirs() -> list[Path]:
    """Where named models live: the shipped ones, runs promoted from the browser, then $BICAN_MODELS."""
    extra = os.environ.get("BICAN_MODELS")
    return [SHIPPED, promoted_dir()] + ([Path(extra)] if extra else [])


def available() -> dict[str, Path]:
    """Every named codec model, shipped and promoted (the classifier is not a codec)."""
    found: dict[str, Path] = {}
    for directory in model_dirs():
        for path in sorted(directory.glob("*.safetensors")):
            if path.stem != CLASSIFIER:
                found.setdefault(path.stem, path)
    return found


def find(fingerprint_hex: str) -> str | None:
    """The name of the installed model whose metadata names this fingerprint, or None. Reads file headers only, and
    skips files it cannot read, so one damaged model never hides the others."""
    for name, path in available().items():
        try:
            with safe_open(str(path), "pt") as f:
                meta = f.metadata() or {}
        except (SafetensorError, OSError, ValueError):
            continue
        if meta.get("kind") == "codec" and meta.get("fingerprint") == fingerprint_hex:
            return name
    return None


def resolve(name_or_path: str | os.PathLike) -> Path:
    """A registry name, or a path to a .safetensors file."""
    text = str(name_or_path)
    models = available()
    if text in models:
        return models[text]
    path = Path(text)
    if path.suffix == ".safetensors" and path.is_file():
        return path
    raise WeightsError(f"unknown model {text!r}; choose one of {', '.join(models) or '(none shipped)'} or a .safetensors path")


def save(path: Path, model: BiCAN, info: dict[str, Any] | None = None, tables: CdfTables | None = None) -> str:
    """Write a codec model with its config, integer CDF tables and fingerprint; return the fingerprint.

    `tables` defaults to the model's learned factorized prior; `bican fit-prior` passes a fitted mixture.
    """
    tensors = {f"model.{k}": _storage(k, v) for k, v in model.state_dict().items()}
    if model.prior is not None:
        tables = tables or model.prior.tables()
        # Each frequency is 1 to 2**16 - (symbols - 1), so frequency - 1 fits 16 bits: a quarter of int64's bytes,
        # which lets 64-component mixtures fit the weights budget.
        freq = np.diff(tables.cdf, axis=2)
        tensors |= {"cdf.low": torch.from_numpy(tables.low), "cdf.sizes": torch.from_numpy(tables.sizes),
                    "cdf.freq": torch.from_numpy(np.maximum(freq - 1, 0).astype(np.uint16)),
                    "cdf.mix": torch.from_numpy(tables.mix)}
    config = json.dumps(model.cfg.__dict__, sort_keys=True)
    return _write(path, tensors, {"kind": "codec", "config": config, "info": json.dumps(info or {})})


def _storage(name: str, value: torch.Tensor) -> torch.Tensor:
    # The networks' weights travel as float16: half the bytes, for no measurable loss (entropy-10b gave 9.83 B and
    # 21.6 dB both ways). The prior and batch-norm statistics keep float32; they are small.
    value = value.detach().cpu().contiguous()
    if value.dtype == torch.float32 and name.startswith(("compressor.", "decompressor.")) and "running_" not in name:
        return value.half()
    return value


def load(name_or_path: str | os.PathLike = DEFAULT_MODEL) -> Loaded:
    path = resolve(name_or_path)
    tensors, meta = _read(path, "codec")
    try:
        model = BiCAN(model_config_from_dict(json.loads(meta["config"])))
    except (ConfigError, ValueError, KeyError) as exc:
        raise WeightsError(f"{path}: bad model config in metadata: {exc}") from exc
    state = {k[6:]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(f"{path}: tensors do not match the config: {str(exc).splitlines()[0]}") from exc
    tables = None
    if model.prior is not None:
        tables = _tables(tensors)
    return Loaded(path.stem, model.eval(), tables, meta["fingerprint"], json.loads(meta.get("info", "{}")))


def _tables(tensors: dict[str, torch.Tensor]) -> CdfTables:
    low, sizes = (tensors[f"cdf.{k}"].numpy().astype(np.int64) for k in ("low", "sizes"))
    if "cdf.cdf" in tensors:  # files written before mixtures: one factorized table per latent, cumulative
        return CdfTables(low, tensors["cdf.cdf"].numpy().astype(np.int64)[None], sizes, np.array([0, 1 << PRECISION]))
    stored = tensors["cdf.freq"].numpy().astype(np.int64)
    freq = np.where(np.arange(stored.shape[2]) < sizes[:, None], stored + 1, 0)
    cdf = np.concatenate([np.zeros((*freq.shape[:2], 1), np.int64), np.cumsum(freq, axis=2)], axis=2)
    return CdfTables(low, cdf, sizes, tensors["cdf.mix"].numpy().astype(np.int64))


def fingerprint(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> str:
    """16 hex digits naming the exact content: every tensor and the config."""
    digest = hashlib.sha256(meta.get("config", "").encode())
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def _write(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> str:
    meta = {"format": FORMAT, **meta}
    meta["fingerprint"] = fingerprint(tensors, meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)
    return meta["fingerprint"]


def _read(path: Path, kind: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        raise WeightsError(f"{path}: not a bican {kind} weights file")
    if fingerprint(tensors, meta) != meta.get("fingerprint"):
        raise WeightsError(f"{path}: content does not match its fingerprint; the file is damaged")
    return tensors, meta


def save_checkpoint(path: Path, model: BiCAN, optimizer: torch.optim.Optimizer, state: dict[str, Any]) -> None:
    """Model and Adam state, so a cancelled or interrupted run resumes where it stopped."""
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for i, slot in optimizer.state_dict()["state"].items():
        for key, value in slot.items():
            tensors[f"opt.{i}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    _write(path, tensors, {"kind": "checkpoint", "config": json.dumps(model.cfg.__dict__, sort_keys=True),
                           "state": json.dumps(state)})


def load_checkpoint(path: Path, model: BiCAN, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    tensors, meta = _read(path, "checkpoint")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    opt_state = optimizer.state_dict()
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        if name.startswith("opt."):
            _, index, key = name.split(".", 2)
            slots.setdefault(int(index), {})[key] = value
    opt_state["state"] = slots
    optimizer.load_state_dict(opt_state)
    return json.loads(meta["state"])

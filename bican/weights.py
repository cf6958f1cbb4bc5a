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

from . import paths
from .config import DEFAULT_MODEL, ConfigError, ModelConfig, model_config_from_dict
from .model import BiCAN
from .paths import CLASSIFIER, model_dirs
from .prior import MAX_SYMBOLS, PRECISION, CdfTables

FORMAT = "bican-weights-1"
SHIPPED = paths.shipped_weights()
# A codec model's networks at most (the largest shipped has about 6 M); a file claiming more is refused before any
# network is built, so a forged 1 KB header cannot cost gigabytes.
MAX_PARAMETERS = 50_000_000
MAX_COMPONENTS = 256  # mixture components of a prior's tables (fit-prior writes 64 by default)
_FLOATS = ("F16", "BF16", "F32")
_INTS = ("I64", "I32")
_FAILED: dict[tuple[str, int, int], str] = {}  # a file that failed to load, as it was then: the reason


class WeightsError(ValueError):
    """A weights file is missing, unreadable, or not a bican model."""


@dataclass
class Loaded:
    name: str
    model: BiCAN
    tables: CdfTables | None
    fingerprint: str
    info: dict[str, Any] = field(default_factory=dict)


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
    """A codec model, checked whole before any network is built; any defect is a WeightsError naming the file.

    A file that failed is not read again while it stays as it was: every later load raises the same reason at once.
    """
    path = resolve(name_or_path)
    try:
        stat = path.stat()
    except OSError as exc:
        raise WeightsError(f"{path}: cannot be read ({exc})") from exc
    key = (str(path.absolute()), stat.st_mtime_ns, stat.st_size)
    if key in _FAILED:
        raise WeightsError(_FAILED[key])
    try:
        return _load(path)
    except WeightsError as exc:
        _FAILED[key] = str(exc)
        raise


def describe(name_or_path: str | os.PathLike) -> tuple[ModelConfig, dict[str, Any]]:
    """A codec model's config and info (how it was trained, its prior, ...) from its file's header alone."""
    path = resolve(name_or_path)
    meta, _ = _header(path, "codec")
    return _config(path, meta), _metadata_object(path, meta, "info")


def _load(path: Path) -> Loaded:
    meta, shapes = _header(path, "codec")
    cfg, info = _config(path, meta), _metadata_object(path, meta, "info")
    with torch.device("meta"):  # names and shapes only: no memory, whatever the config claims
        expected = BiCAN(cfg)
    _check_tensors(path, shapes, expected)
    tensors, meta = _read(path, "codec")
    broken = next((name for name, t in tensors.items() if t.is_floating_point() and not torch.isfinite(t).all()), None)
    if broken:  # found by tools/fuzz.py: a NaN weight loads, then fails in the coder on the first encode
        raise WeightsError(f"{path}: tensor {broken} holds NaN or infinite values")
    model = BiCAN(cfg)
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    tables = _tables(path, tensors, cfg.latents) if model.prior is not None else None
    return Loaded(path.stem, model.eval(), tables, meta["fingerprint"], info)


def _header(path: Path, kind: str) -> tuple[dict[str, str], dict[str, tuple[str, list[int]]]]:
    """The metadata and each tensor's (dtype, shape), from the file's header alone."""
    try:
        with safe_open(str(path), "pt") as f:
            meta = f.metadata() or {}
            names = f.keys()  # a safe_open handle is not iterable
            shapes = {name: (f.get_slice(name).get_dtype(), f.get_slice(name).get_shape()) for name in names}
    except (SafetensorError, OSError, ValueError) as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    if meta.get("format") != FORMAT or meta.get("kind") != kind:
        raise WeightsError(f"{path}: not a bican {kind} weights file")
    if not isinstance(meta.get("fingerprint"), str):
        raise WeightsError(f"{path}: its metadata carries no fingerprint")
    return meta, shapes


def _metadata_object(path: Path, meta: dict[str, str], key: str) -> dict[str, Any]:
    try:
        value = json.loads(meta.get(key, "{}"))
    except json.JSONDecodeError as exc:
        raise WeightsError(f"{path}: its {key!r} metadata is not JSON ({exc})") from exc
    if not isinstance(value, dict):
        raise WeightsError(f"{path}: its {key!r} metadata is not a JSON object")
    return value


def _config(path: Path, meta: dict[str, str]) -> ModelConfig:
    if "config" not in meta:
        raise WeightsError(f"{path}: its metadata carries no model config")
    try:
        return model_config_from_dict(_metadata_object(path, meta, "config"))
    except ConfigError as exc:
        raise WeightsError(f"{path}: bad model config in metadata: {exc}") from exc


def _check_tensors(path: Path, shapes: dict[str, tuple[str, list[int]]], expected: BiCAN) -> None:
    """Every tensor the config needs, with its shape and a dtype that loads into it, and no other."""
    wanted = {f"model.{k}": v for k, v in expected.state_dict().items()}
    parameters = sum(v.numel() for v in wanted.values())
    if parameters > MAX_PARAMETERS:
        raise WeightsError(f"{path}: its config asks for {parameters:,} parameters; a model has at most "
                           f"{MAX_PARAMETERS:,}")
    for name, value in wanted.items():
        if name not in shapes:
            raise WeightsError(f"{path}: tensor {name} is missing")
        dtype, shape = shapes[name]
        allowed = _FLOATS if value.dtype.is_floating_point else _INTS
        if dtype not in allowed or shape != list(value.shape):
            raise WeightsError(f"{path}: tensor {name} is {dtype} {shape}; the config needs {list(value.shape)} "
                               f"as one of {', '.join(allowed)}")
    tables = _check_table_shapes(path, shapes, expected.cfg.latents) if expected.prior is not None else set()
    extra = sorted(set(shapes) - set(wanted) - tables)
    if extra:
        raise WeightsError(f"{path}: tensor(s) the config does not use: {', '.join(extra[:5])}")


def _check_table_shapes(path: Path, shapes: dict[str, tuple[str, list[int]]], latents: int) -> set[str]:
    """The CDF tables' names, dtypes and shapes (either layout); returns their names."""
    legacy = "cdf.cdf" in shapes  # files written before mixtures: one cumulative table per latent
    rules = {"cdf.low": (_INTS, 1), "cdf.sizes": (_INTS, 1)}
    rules |= {"cdf.cdf": (_INTS, 2)} if legacy else {"cdf.freq": (("U16",), 3), "cdf.mix": (_INTS, 1)}
    for name, (dtypes, rank) in rules.items():
        if name not in shapes:
            raise WeightsError(f"{path}: tensor {name} is missing")
        if shapes[name][0] not in dtypes or len(shapes[name][1]) != rank:
            raise WeightsError(f"{path}: tensor {name} is {shapes[name][0]} {shapes[name][1]}; expected {rank} "
                               f"dimension(s) of {', '.join(dtypes)}")
    components, symbols = (1, shapes["cdf.cdf"][1][1] - 1) if legacy else (shapes["cdf.mix"][1][0] - 1,
                                                                            shapes["cdf.freq"][1][2])
    table = [latents, symbols + 1] if legacy else [components, latents, symbols]
    ok = (shapes["cdf.low"][1] == shapes["cdf.sizes"][1] == [latents] and 1 <= components <= MAX_COMPONENTS
          and 1 <= symbols <= MAX_SYMBOLS and shapes["cdf.cdf" if legacy else "cdf.freq"][1] == table)
    if not ok:
        raise WeightsError(f"{path}: the CDF tables' shapes do not fit {latents} latents of at most {MAX_SYMBOLS} "
                           f"symbols in 1 to {MAX_COMPONENTS} components")
    return set(rules)


def _tables(path: Path, tensors: dict[str, torch.Tensor], latents: int) -> CdfTables:
    """The coder's tables, checked as the range coder needs them: every symbol and component with a frequency of at
    least 1, each table summing to 2**PRECISION."""
    low, sizes = (tensors[f"cdf.{k}"].numpy().astype(np.int64) for k in ("low", "sizes"))
    total = 1 << PRECISION
    if "cdf.cdf" in tensors:
        cdf, mix = tensors["cdf.cdf"].numpy().astype(np.int64)[None], np.array([0, total])
    else:
        stored = tensors["cdf.freq"].numpy().astype(np.int64)
        freq = np.where(np.arange(stored.shape[2]) < sizes[:, None], stored + 1, 0)
        cdf = np.concatenate([np.zeros((*freq.shape[:2], 1), np.int64), np.cumsum(freq, axis=2)], axis=2)
        mix = tensors["cdf.mix"].numpy().astype(np.int64)
    symbols = cdf.shape[2] - 1
    if not (np.all((sizes >= 1) & (sizes <= symbols)) and np.all(np.abs(low) <= MAX_SYMBOLS)):
        raise WeightsError(f"{path}: cdf.sizes must be 1 to {symbols} and cdf.low within ±{MAX_SYMBOLS}")
    if not (mix[0] == 0 and mix[-1] == total and np.all(np.diff(mix) >= 1)):
        raise WeightsError(f"{path}: cdf.mix must rise from 0 to {total} with every component at least 1")
    inside = np.arange(symbols) < sizes[:, None]
    steps = np.diff(cdf, axis=2)
    ends = np.take_along_axis(cdf, np.broadcast_to(sizes[None, :, None], (len(cdf), latents, 1)), axis=2)
    if not (np.all(cdf[:, :, 0] == 0) and np.all(steps[:, inside] >= 1) and np.all(ends == total)):
        raise WeightsError(f"{path}: a CDF table does not give every symbol a frequency and sum to {total}")
    return CdfTables(low, cdf, sizes, mix)


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

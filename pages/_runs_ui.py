"""Helpers of the Train and Runs pages: form → TrainConfig, device and duration, run table, live curves, actions.

Kept apart from the studio's pages/_ui.py so the two can change independently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import secrets
import time
from pathlib import Path

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from bican import runs
from bican.config import DEVICES, PRESETS, ConfigError, TrainConfig
from pages import _learning

INTS = {"epochs": "Epochs", "batch_size": "Batch size", "max_steps": "Step limit (0 = none)", "seed": "Seed"}
FLOATS = {"lr": "Learning rate", "lam": "λ (smaller buys quality with bytes)",
          "cycle_weight": "Compressor (code) cycle weight", "image_weight": "Decompressor (image) cycle weight"}
MODEL_INTS = {"latents": "Latent count", "width": "Width (channels of the first convolution)"}
REFRESH_S = 2
NO_INIT = "none (new networks)"


def registry() -> runs.Registry:
    """The registry, or a message on the page in its place: nothing else on the page can work without it."""
    try:
        return runs.Registry()
    except runs.RegistryError as exc:
        st.error(str(exc))
        st.stop()


# --- Train page ---------------------------------------------------------------------------------
def describe_preset(name: str) -> str:
    cfg = PRESETS[name]
    start = f", from {cfg.init}" if cfg.init else ""
    return f"{name}: {cfg.model.family} family, {cfg.model.latents} latents, {cfg.epochs} epoch(s){start}"


def init_choice(preset: TrainConfig, key: str) -> str:
    """The model a run starts from, chosen among the installed ones (outside the form, so the form follows it)."""
    from bican import weights

    offered = [NO_INIT, *weights.available()]
    if preset.init and preset.init not in offered:
        offered.append(preset.init)  # a preset's model that is not installed: the form says why it cannot start
    choice = st.selectbox("Start from", offered, index=offered.index(preset.init or NO_INIT), key=f"{key}-init",
                          help="Fine-tune an installed model: its networks, prior, model size and objective (λ, cycle "
                               "weight) start the run, and its model size cannot change. 'none' trains new networks.")
    return "" if choice == NO_INIT else choice


def base_config(preset: TrainConfig, init: str) -> TrainConfig:
    """The preset, fitted to the chosen start model (train.with_init); raises ConfigError if that cannot load."""
    from bican.train import with_init

    return with_init(dataclasses.replace(preset, init=init))


def form_inputs(base: TrainConfig, key: str) -> dict:
    """The form's inputs, prefilled from a preset (keyed by it and the start model, so changing either refills them)."""
    values: dict = {}
    key = f"{key}-{base.init}" if base.init else key
    left, middle, right = st.columns(3)
    for name, label in INTS.items():
        values[name] = left.number_input(label, value=getattr(base, name), step=1, key=f"{key}-{name}")
    for name, label in FLOATS.items():
        values[name] = middle.text_input(label, value=f"{getattr(base, name):g}", key=f"{key}-{name}")
    values["augment"] = middle.number_input(
        "Augmentation (share of each batch varied)", 0.0, 1.0, value=base.augment, step=0.05, key=f"{key}-augment",
        help="The share of each batch's digits varied the way people's handwriting differs from MNIST's: thicker or "
             "thinner strokes, tilt, size, slant, position, wobble, blur, low resolution, and digits redrawn as this "
             "studio's canvas draws them. The rest stay MNIST as it is; 0 trains on MNIST alone.")
    fixed = "Fixed by the model the run starts from." if base.init else None
    for name, label in MODEL_INTS.items():
        values[name] = right.number_input(label, value=getattr(base.model, name), step=1, key=f"{key}-{name}",
                                          disabled=bool(base.init), help=fixed)
    offered = devices()
    values["device"] = right.selectbox("Device", offered, index=offered.index(base.device) if base.device in offered else 0,
                                       key=f"{key}-device")
    return values


def config_from_form(base: TrainConfig, values: dict) -> TrainConfig:
    """The preset with the form's values; raises ConfigError with a message fit for the form."""
    floats = {name: _number(label, values[name]) for name, label in FLOATS.items()}
    model = dataclasses.replace(base.model, **{name: int(values[name]) for name in MODEL_INTS})
    ints = {name: int(values[name]) for name in INTS}
    return dataclasses.replace(base, model=model, device=values["device"], augment=float(values["augment"]), **ints,
                               **floats).validate()


def _number(label: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ConfigError(f"{label}: {text!r} is not a number (write e.g. 0.002 or 2e-3)") from None
    if not math.isfinite(value):
        raise ConfigError(f"{label} must be a finite number, not {text!r}")
    return value


def devices() -> tuple[str, ...]:
    """The device choices: Apple's MPS only where torch reports it."""
    import torch

    return tuple(d for d in DEVICES if d != "mps" or torch.backends.mps.is_available())


@st.cache_data(ttl=10, show_spinner=False)
def device_info() -> str:
    import torch

    if not torch.cuda.is_available() and torch.backends.mps.is_available():
        return "No CUDA GPU found; Apple's MPS is: 'auto' trains on it."
    if not torch.cuda.is_available():
        return f"No CUDA GPU found: 'auto' trains on the CPU ({os.cpu_count()} cores)."
    free, total = torch.cuda.mem_get_info()
    return f"GPU: {torch.cuda.get_device_name()}, {free / 2**30:.1f} of {total / 2**30:.1f} GiB free."


@st.cache_data(ttl=600, show_spinner=False)
def _import_s() -> float:
    from bican.train import import_seconds

    return import_seconds()


@st.cache_data(ttl=300, max_entries=16, show_spinner="Timing a short probe run…")
def _estimate(config_json: str, load: int) -> dict:
    """Keyed by the form and the machine's load level: either changing measures again (so does the age, 5 min)."""
    from bican import train

    cfg = TrainConfig.from_dict(json.loads(config_json))
    probe = train.estimate(cfg, threads=train.SHARED_THREADS, import_s=_import_s())
    return dataclasses.asdict(probe) | {"load": os.getloadavg()[0]}


def load_level() -> int:
    """The 1-minute load in half-cores per core, capped at 4."""
    return min(4, int(2 * os.getloadavg()[0] / (os.cpu_count() or 1)))


def estimate(cfg: TrainConfig) -> str:
    """The whole run as the launched trainer will spend it: start-up, steps, validations and the final test point."""
    from bican.train import Estimate

    try:
        measured = _estimate(cfg.to_json(), load_level())
    except (RuntimeError, ValueError, OSError) as exc:
        return f"No estimate: {exc}"
    load = measured.pop("load")
    e = Estimate(**measured)
    return (f"Estimated {duration(e.total_s)} in all: {e.startup_s:.0f} s to start and load MNIST, {e.steps:,} steps "
            f"at {e.step_s * 1000:.0f} ms, {e.validations} validation(s) at {e.validation_s:.1f} s, and "
            f"{e.finish_s:.1f} s to measure the result; timed here just now at load {load:.1f}.")


def start(preset: str, cfg: TrainConfig) -> runs.Run:
    """Launch through bican.runs; the token makes a double click on Start one launch."""
    import torch

    from bican.train import resolve_device

    try:
        resolve_device(cfg.device)  # refuse here, before a run is queued that could only fail
    except RuntimeError as exc:
        raise ConfigError(str(exc)) from None
    token = f"{_session_nonce()}-{hashlib.sha256(cfg.to_json().encode()).hexdigest()[:16]}"
    return runs.launch(cfg, cuda=torch.cuda.is_available(), preset=preset, token=token)


def _session_nonce() -> str:
    return st.session_state.setdefault("runs_nonce", secrets.token_hex(8))


# --- Runs page: table ----------------------------------------------------------------------------
def table_rows(all_runs: list[runs.Run]) -> list[dict]:
    """One row per run; queued runs show their place in their device slot's queue."""
    waiting: dict[str, int] = {}
    places = {}
    for run in sorted((r for r in all_runs if r.status == "queued"), key=lambda r: (r.created, r.id)):
        waiting[run.slot] = places[run.id] = waiting.get(run.slot, 0) + 1
    return [{
        "run": run.id,
        "status": f"queued #{places[run.id]} for {run.slot}" if run.id in places else run.status,
        "preset": run.preset,
        "device": run.device or run.slot,
        "duration": duration(run.active_s) if run.active_s else "",
        "steps": f"{run.step}/{run.total_steps}" if run.total_steps else "",
        "best PSNR (dB)": _round(run.best_psnr, 2),
        "bytes/digit": _round(run.best_bytes, 2),
        "promoted as": run.promoted,
        "reason": run.reason,
    } for run in all_runs]


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


@st.fragment(run_every=REFRESH_S)
def run_table(reg: runs.Registry) -> list[runs.Run]:
    """The table, refreshed every few seconds; on a full page run, also the runs it read, for the page to reuse."""
    reg.schedule()  # the page is what moves the queue while no trainer is ending
    all_runs = reg.runs()
    if all_runs:
        st.dataframe(table_rows(all_runs), hide_index=True, key="runs-table")
    else:
        st.info("No runs yet: start one on the Train page.")
    return all_runs


# --- Runs page: the selected run -----------------------------------------------------------------
def loss_figure(steps: list[dict], name: str = "") -> go.Figure:
    fig = go.Figure()
    for key, label in (("decompressor", "decompressor (image cycle)"), ("compressor", "compressor (code cycle)")):
        fig.add_scatter(x=[s["step"] for s in steps], y=[s[key] for s in steps], name=f"{name}{label}", mode="lines")
    fig.update_layout(title="Step losses", xaxis_title="step", yaxis_title="MSE", yaxis_type="log",
                      height=340, margin={"t": 40, "b": 40})
    return fig


def epoch_figure(steps: list[dict], epochs: list[dict]) -> go.Figure:
    """Per epoch: the mean training rate, validation PSNR, and bytes/digit (ideal and actual)."""
    fig = make_subplots(rows=1, cols=3, subplot_titles=("train rate (bits/digit)", "validation PSNR (dB)",
                                                        "validation bytes/digit"))
    x = [e["epoch"] for e in epochs]
    rates = [_mean([s["rate"] for s in steps if s["epoch"] == epoch]) for epoch in x]
    fig.add_scatter(x=x, y=rates, name="rate", mode="lines+markers", row=1, col=1)
    fig.add_scatter(x=x, y=[e["psnr_db"] for e in epochs], name="PSNR", mode="lines+markers", row=1, col=2)
    fig.add_scatter(x=x, y=[e["ideal_bytes_per_digit"] for e in epochs], name="ideal", mode="lines+markers", row=1, col=3)
    fig.add_scatter(x=x, y=[e.get("bytes_per_digit") for e in epochs], name="actual", mode="lines+markers", row=1, col=3)
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(height=300, margin={"t": 40, "b": 40})
    return fig


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def progress(run: runs.Run, events: list[dict]) -> tuple[float, str]:
    fraction = run.step / run.total_steps if run.total_steps else 0.0
    eta = runs.eta_seconds(run, events)
    text = f"{run.status}: step {run.step:,} of {run.total_steps:,}" if run.total_steps else run.status
    return min(1.0, fraction), text + (f", about {duration(eta)} left" if eta is not None else "")


def events(reg: runs.Registry, run_id: str) -> list[dict]:
    """A run's events, parsed again only when its file has changed: the page redraws every REFRESH_S seconds."""
    path = reg.run_dir(run_id) / "events.jsonl"
    try:
        stat = path.stat()
    except FileNotFoundError:
        return []
    return _parsed_events(str(path), stat.st_size, stat.st_mtime_ns)


@st.cache_data(max_entries=32, show_spinner=False)
def _parsed_events(path: str, size: int, mtime_ns: int) -> list[dict]:
    return runs.read_events(Path(path))


@st.fragment(run_every=REFRESH_S)
def live_run(reg: runs.Registry, run_id: str) -> None:
    """Progress, curves, samples and log of one run, redrawn every REFRESH_S seconds."""
    try:
        run = reg.get(run_id)
    except runs.RunError as exc:
        st.info(str(exc))
        return
    run_events = events(reg, run_id)
    steps, epochs = runs.history(run_events)
    st.progress(*progress(run, run_events))
    if run.reason:
        st.caption(f"{run.status}: {run.reason}")
    st.plotly_chart(loss_figure(steps), key=f"loss-{run_id}")
    st.plotly_chart(epoch_figure(steps, epochs), key=f"epochs-{run_id}")
    _learning.follow_drawn(reg, run)
    _learning.show_samples(reg, run)
    _learning.show_point(run, run_events)
    st.code(reg.log_tail(run_id) or "(no output yet)", language=None)
    _learning.rerun_when_finished(run)


# --- Runs page: actions --------------------------------------------------------------------------
def act(action, *args, done: str, where: str) -> None:
    """Run a registry action; report its outcome beside the buttons at `where`, after the page reruns."""
    try:
        action(*args)
        st.session_state["runs_flash"] = (where, "success", done)
    except (runs.RunError, OSError) as exc:
        st.session_state["runs_flash"] = (where, "error", str(exc))
    st.rerun()


def show_flash(where: str) -> None:
    """The last action's outcome, if it came from the buttons at `where`."""
    flash = st.session_state.get("runs_flash")
    if flash and flash[0] == where:
        del st.session_state["runs_flash"]
        getattr(st, flash[1])(flash[2])


def blocked(reg: runs.Registry, run: runs.Run) -> dict[str, str | None]:
    """Why each action cannot apply to this run now; None where it can."""
    return {
        "cancel": None if run.status in runs.ACTIVE else f"only a queued or running run can stop; this one is {run.status}",
        "resume": None if run.status in runs.RESUMABLE
        else f"only a cancelled or interrupted run can resume; this one is {run.status}",
        "delete": "it is running: cancel it first" if run.status == "running" else None,
        "promote": None if (reg.run_dir(run.id) / "best.safetensors").exists()
        else "it has no best model yet: one appears after its first validated epoch",
    }


def _button(where, label: str, key: str, why: str | None, help: str) -> bool:
    """A button that is disabled, with its reason below it, when its action cannot apply."""
    clicked = where.button(label, key=key, disabled=why is not None, help=help)
    if why is not None:
        where.caption(f"{label} is not available: {why}.")
    return clicked


def confirm(key: str, question: str, action, *args, done: str, where: str) -> None:
    """A destructive action's second step: the question, then Yes (does it) or Keep (forgets it)."""
    if st.session_state.get("confirm") != key:
        return
    with st.container(border=True, key="confirm-box"):
        st.warning(question)
        yes, no = st.columns(2)
        if yes.button("Yes, delete", key="confirm-yes", type="primary"):
            del st.session_state["confirm"]
            act(action, *args, done=done, where=where)
        if no.button("Keep it", key="confirm-no"):
            del st.session_state["confirm"]
            st.rerun()


def run_actions(reg: runs.Registry, run_id: str) -> None:
    """Cancel, resume, delete and promote, each disabled with its reason where it cannot apply to the run."""
    try:
        why = blocked(reg, reg.get(run_id))
    except runs.RunError as exc:
        st.info(str(exc))
        return
    cancel, resume, delete = st.columns(3)
    if _button(cancel, "Cancel", "cancel", why["cancel"], "SIGTERM: the trainer saves a checkpoint and stops"):
        act(reg.cancel, run_id, done=f"Asked run {run_id} to stop; it checkpoints first.", where="run")
    if _button(resume, "Resume", "resume", why["resume"], "continue a cancelled or interrupted run from its checkpoint"):
        act(reg.resume, run_id, done=f"Run {run_id} is queued to resume.", where="run")
    if _button(delete, "Delete", "delete", why["delete"], "remove the run and its files, after you confirm"):
        st.session_state["confirm"] = f"run:{run_id}"
    confirm(f"run:{run_id}", f"Delete run {run_id} with its checkpoints, events and samples? This cannot be undone.",
            reg.delete, run_id, done=f"Deleted run {run_id}.", where="run")
    show_flash("run")
    name, go_button = st.columns([3, 1], vertical_alignment="bottom")
    model_name = name.text_input("Promote as model", placeholder="e.g. entropy-mine", key="promote-name",
                                 disabled=why["promote"] is not None)
    if _button(go_button, "Promote", "promote", why["promote"], "copy the run's best model into your models"):
        act(reg.promote, run_id, model_name, done=f"Promoted as {model_name!r}: pick it in Compress and Explore.",
            where="promote")
    show_flash("promote")



def promoted_models(reg: runs.Registry) -> None:
    """Your promoted models: listed, renamed, removed (after a confirmation)."""
    models = reg.models()
    if not models:
        st.caption("None yet: promote a run's best model above, and it joins the shipped models in Compress and Explore.")
        show_flash("models")  # the last one removed
        return
    origin = {run.promoted: run.id for run in reg.runs() if run.promoted}
    st.dataframe([{"Model": name, "From run": origin.get(name, ""), "File size": f"{path.stat().st_size:,} B"}
                  for name, path in models.items()], hide_index=True, key="models-table")
    chosen, new_name, rename, remove = st.columns([2, 2, 1, 1], vertical_alignment="bottom")
    name = chosen.selectbox("Promoted model", list(models), key="model-pick")
    target = new_name.text_input("New name", placeholder="e.g. entropy-mine-v2", key="model-new-name")
    if rename.button("Rename", key="model-rename", disabled=not target, help="type a new name first"):
        act(reg.rename_model, name, target, done=f"Renamed {name!r} to {target!r}.", where="models")
    if remove.button("Remove", key="model-remove", help="delete the model file, after you confirm"):
        st.session_state["confirm"] = f"model:{name}"
    confirm(f"model:{name}", f"Remove your model {name!r}? Its run keeps its own best model and can promote it again.",
            reg.remove_model, name, done=f"Removed {name!r}.", where="models")
    show_flash("models")


def compare_figure(reg: runs.Registry, run_ids: list[str]) -> go.Figure:
    """Several runs' decompressor loss per step and validation PSNR per epoch, overlaid."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("decompressor loss (log)", "validation PSNR (dB)"))
    for run_id in run_ids:
        steps, epochs = runs.history(events(reg, run_id))
        fig.add_scatter(x=[s["step"] for s in steps], y=[s["decompressor"] for s in steps], name=run_id,
                        legendgroup=run_id, mode="lines", row=1, col=1)
        fig.add_scatter(x=[e["epoch"] for e in epochs], y=[e["psnr_db"] for e in epochs], name=run_id,
                        legendgroup=run_id, showlegend=False, mode="lines+markers", row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1)
    fig.update_layout(height=340, margin={"t": 40, "b": 40})
    return fig


def default_index(all_runs: list[runs.Run]) -> int:
    """The newest running run, else the newest run: what someone opening the page most likely wants to watch."""
    return next((i for i, run in enumerate(all_runs) if run.status == "running"), 0)


def describe_run(run: runs.Run) -> str:
    return f"{run.id} · {run.status} · {run.preset} · {time.strftime('%H:%M', time.localtime(run.created))}"

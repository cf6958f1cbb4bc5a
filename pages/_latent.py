"""The explore page's views: the latent symbols by hand, beside what they decode to, and interpolation."""

from __future__ import annotations

import numpy as np
import streamlit as st

import bican
from bican import studio
from pages._ui import enlarge, span

PER_ROW = 4  # sliders per row: wide enough to read, few enough rows to stay beside the picture at 1440x900


def _keys(codec: bican.Codec) -> list[str]:
    return [f"latent_{codec.fingerprint}_{i}" for i in range(codec.latents)]


def _start(codec: bican.Codec, split: bican.data.Split | None, base: int | None) -> np.ndarray:
    low, high = studio.symbol_range(codec)
    return np.clip(0, low, high) if split is None else codec.symbols(split.images[base])[0]


def _load(codec: bican.Codec, split: bican.data.Split | None, base: int | None) -> None:
    """Set every slider to the starting digit's code."""
    st.session_state.update({key: int(v) for key, v in zip(_keys(codec), _start(codec, split, base))})
    st.session_state.explore_loaded = (codec.fingerprint, base)


def latent_view(codec: bican.Codec, split: bican.data.Split | None) -> None:
    """The start digit and the reconstruction of the code on the left; one slider per latent on the right, each
    with its cost in bits as it moves."""
    base = None if split is None else int(st.columns([2, 3])[0].number_input(
        f"Start from test digit ({span(len(split.images))})", 0, len(split.images) - 1, key="explore_base"))
    if st.session_state.get("explore_loaded") != (codec.fingerprint, base):
        _load(codec, split, base)
    picture, controls = st.columns([1, 2], gap="large")
    with controls:
        symbols, costs = _sliders(codec)
    bits = studio.latent_bits(codec, symbols[None])[0]
    for cost, b in zip(costs, bits):
        cost.caption(f"{b:.1f} bits")
    with picture:
        _picture(codec, split, base, symbols)


def _sliders(codec: bican.Codec) -> tuple[np.ndarray, list]:
    """One integer slider per latent over the prior's range, in latent order, each with an empty slot below."""
    low, high = studio.symbol_range(codec)
    keys, values, costs = _keys(codec), [], []
    for row in range(0, len(keys), PER_ROW):
        for column, i in zip(st.columns(PER_ROW), range(row, min(row + PER_ROW, len(keys)))):
            values.append(column.slider(f"y{i}", int(low[i]), int(high[i]), key=keys[i]))
            costs.append(column.empty())
    return np.array(values, np.int64), costs


def _picture(codec: bican.Codec, split: bican.data.Split | None, base: int | None, symbols: np.ndarray) -> None:
    recon = codec.reconstruct(symbols[None])[0]
    original = np.zeros_like(recon) if split is None else split.images[base]
    st.image(enlarge(bican.images.grid(np.stack([original, recon]), columns=2), 6),
             caption="left: the test digit · right: what this code decodes to")
    bits, size = studio.code_cost(codec, symbols)
    st.metric("This code", f"{size} B actual", f"{bits:.1f} bits ideal", delta_color="off", delta_arrow="off",
              help="Actual: the stream the coder writes for these symbols. Ideal: their information content under "
                   "the prior; each slider shows its latent's share. Symbols the prior finds unlikely cost more.")
    st.button("Reset to the digit's code", key="explore_reset", on_click=_load, args=(codec, split, base))


def interpolation(codec: bican.Codec, split: bican.data.Split) -> None:
    """Two chosen test digits and the straight path between their codes, as a strip of reconstructions."""
    a, b, n = st.columns(3)
    count = len(split.images)
    st.session_state.setdefault("interp_to", 1)
    st.session_state.setdefault("interp_steps", 8)
    first = a.number_input(f"From test digit ({span(count)})", 0, count - 1, key="interp_from")
    last = b.number_input(f"To test digit ({span(count)})", 0, count - 1, key="interp_to")
    steps = n.slider("Steps", 3, 16, key="interp_steps")
    path, recon = studio.interpolate(codec, split.images[first], split.images[last], steps)
    bits = codec.ideal_bits(path)
    st.image(enlarge(bican.images.grid(recon, columns=steps), 4),
             caption=f"From test digit {first} to {last} in {steps} steps: each frame decodes the code a fraction of "
                     "the way between the two codes, rounded to whole symbols. Ideal bits of each frame's code: "
                     + ", ".join(f"{b:.0f}" for b in bits))

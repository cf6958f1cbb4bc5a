"""The drawing canvas and the input choice, free of bican and torch, so a page can show them before the heavy imports
finish."""

from __future__ import annotations

import numpy as np
import streamlit as st

SIZE = 280  # pixels; 10x the digit
SOURCES = ["Draw", "Pick", "Upload"]
LINK = "Link"  # a fourth input while the URL carries a shared code


def draw() -> np.ndarray | None:
    """A 280x280 canvas, white brush on black; its RGBA pixels once something is drawn (None before).

    Streamlit drops the canvas's state on any run that does not show it (another input, another page). Its strokes are
    kept here and given back as the initial drawing when it is shown again; the initial drawing changes only then, as
    a change redraws the canvas in the browser.
    """
    from streamlit_drawable_canvas import st_canvas

    if "canvas" not in st.session_state:
        st.session_state.canvas_initial = st.session_state.get("canvas_strokes")
    st.space("small")  # the canvas's toolbar floats above it; keep it off the widgets there
    result = st_canvas(stroke_width=20, stroke_color="#ffffff", background_color="#000000", height=SIZE, width=SIZE,
                       initial_drawing=st.session_state.get("canvas_initial"), return_image_data=True, key="canvas")
    if result.json_data is not None and result.image_data is not None:
        st.session_state.canvas_strokes = result.json_data
    return result.image_data


def choose_source() -> str:
    """Draw, Pick or Upload; and Link while the URL carries a shared code, chosen once when a new code arrives."""
    code = st.query_params.get("code")
    options = SOURCES + ([LINK] if code is not None else [])
    if code is not None and st.session_state.get("link_seen") != code:
        st.session_state.link_seen = code
        st.session_state.source = LINK
    return st.radio("Input", options, horizontal=True, key="source")

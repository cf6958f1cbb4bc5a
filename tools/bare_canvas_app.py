"""The studio's canvas with no model behind it: the baseline that tools.bench_app times the real app against.

Run from the repository root with `python -m streamlit run tools/bare_canvas_app.py`, so that `pages` imports.
"""

import streamlit as st

from pages import _canvas

st.set_page_config(page_title="bare canvas", layout="wide")
# The studio's own canvas and the same decoding of its image, but nothing computed from it.
image = _canvas.draw()
if image is not None and image[..., :3].any():
    with st.container(key="result"):
        # Markdown, the element the app's result uses, not st.code: that would load a syntax highlighter (~250 ms
        # on 2 cores) that the app never pays for, and flatter the app.
        st.markdown(f"ink `{int(image[..., 0].sum())}`")

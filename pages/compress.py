"""Home: draw, pick or upload a digit, and see its bytes and its reconstruction side by side."""

import streamlit as st

from pages import _ui

st.title("Compress a digit")
left, right = st.columns([2, 3], gap="large")
with left:
    digit = _ui.input_digit()
codec = _ui.model_selector()  # after the input, so the canvas shows while a cold model loads
with right:
    if digit is None:
        st.info("Draw a digit, pick one from MNIST, or upload a PNG.")
    else:
        with st.container(key="result"):
            _ui.show_analysis(codec, _ui.analyse(codec, digit))
st.divider()
_ui.open_archive()

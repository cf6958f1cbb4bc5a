"""Home: draw, pick or upload a digit, and see its bytes and its reconstruction side by side."""

import streamlit as st

from pages import _canvas

st.title("Compress a digit")


@st.fragment
def workspace() -> None:
    """The input and its result. A stroke reruns only this fragment, not the sidebar and the uploader around it."""
    left, right = st.columns([2, 3], gap="large")
    with left:
        source = _canvas.choose_source()
        drawing = _canvas.draw() if source == "Draw" else None
    # Only now: bican brings torch, about 2 s to import cold, and the canvas is drawable meanwhile.
    from pages import _ui

    codec, classifier = _ui.selected_models()
    with left:
        digit = _ui.input_digit(source, drawing)
    with right:
        if digit is None:
            st.info("Draw a digit, pick one from MNIST, or upload a PNG.")
            _ui.show_empty_result()
        else:
            with st.container(key="result"):
                _ui.show_analysis(codec, classifier, digit)


workspace()
from pages import _ui  # noqa: E402 -- after the canvas, as in workspace()

_ui.model_selector()  # changing the model reruns the whole page, the fragment with it
st.divider()
_ui.open_archive()

"""Home: draw, pick or upload a digit, and see its bytes, where they go, and what every rung makes of it."""

import streamlit as st

from pages import _canvas, _state

st.title("Compress a digit")
st.markdown("bican is a learned compressor for handwritten digits: a small neural network turns a 28x28 digit into "
            "a handful of bytes, and another turns those bytes back into a digit. The bytes below are the real "
            "stream, not an estimate. Draw a digit, then compare the models in the ladder, or share it as a link.")
chooser = st.columns([2, 3])[0].container()  # the model selector, filled after the canvas, so the canvas shows first


@st.fragment
def workspace() -> None:
    """The input and its result. A stroke reruns only this fragment, not the model selector and the uploader."""
    _state.keep()
    left, right = st.columns([2, 3], gap="large")
    with left:
        source = _canvas.choose_source()
        drawing = _canvas.draw() if source == "Draw" else None
    # Only now: bican brings torch, about 2 s to import cold, and the canvas is drawable meanwhile.
    from pages import _result, _ui

    _ui.follow_link()
    codec, classifier = _ui.selected_models()
    with left:
        digit = _ui.input_digit(source, drawing, codec)
    with right:
        if digit is None:
            st.info("Draw a digit, pick one from MNIST, or upload a PNG.")
            _result.show_empty_result()
        else:
            with st.container(key="result"):
                _result.show_analysis(codec, classifier, digit)


workspace()
from pages import _ui  # noqa: E402 -- after the canvas, as in workspace()

_ui.model_selector(chooser)  # changing the model reruns the whole page, the fragment with it
st.divider()
_ui.open_archive()

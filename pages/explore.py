"""The latent space: move the symbols by hand, or walk from one digit's code to another's."""

import streamlit as st

from pages import _ui

st.title("Explore the latent space")
codec = _ui.model_selector()
split = _ui.test_set()
st.header("Latent symbols")


@st.fragment
def latents() -> None:
    """A slider move reruns only this, not the interpolation below."""
    _ui.show_code(codec, _ui.latent_sliders(codec, split))


latents()
st.header("Interpolation")
if split is None:
    st.info("Interpolation walks between two MNIST test digits; fetch the test set above.")
else:
    _ui.interpolation(codec, split)

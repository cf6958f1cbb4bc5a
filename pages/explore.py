"""The latent space: move the symbols by hand, or walk from one digit's code to another's."""

import streamlit as st

from pages import _latent, _state, _ui

st.title("Explore the latent space")
codec = _ui.model_selector(st.columns([2, 3])[0])
split = _ui.test_set()
st.header("Latent symbols")
st.caption("A digit's code is a short row of integers, one per latent. Move one and watch the reconstruction change, "
           "and what that symbol costs: likely symbols are cheap, unlikely ones expensive.")


@st.fragment
def latents() -> None:
    """A slider move reruns only this, not the interpolation below."""
    _state.keep()
    _latent.latent_view(codec, split)


latents()
st.header("Interpolation")
if split is None:
    st.info("Interpolation walks between two MNIST test digits; fetch the test set above.")
else:
    _latent.interpolation(codec, split)

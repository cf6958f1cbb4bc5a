"""What a session keeps across pages and inputs."""

import streamlit as st

# Widget values Streamlit would drop on a run that does not draw the widget: another page, or another input.
KEPT = ("model", "source", "pick_by", "pick_index", "pick_class", "pick_nth", "explore_base", "interp_from",
        "interp_to", "interp_steps", "ladder_slow")


def keep() -> None:
    """Write each kept widget value back: a value set through session state is the session's own, and survives until
    its widget is drawn again (Streamlit's documented way to keep widget values across pages)."""
    for key in KEPT:
        if key in st.session_state:
            st.session_state[key] = st.session_state[key]

"""What a session keeps across pages and inputs."""

import streamlit as st

# Widget values Streamlit drops at the end of a run that does not draw the widget: another page, or another input.
KEPT = ("model", "source", "pick_by", "pick_index", "pick_class", "pick_nth", "explore_base", "interp_from",
        "interp_to", "interp_steps", "ladder_slow")


def keep() -> None:
    """Copy each kept widget value to a key of the session's own, and give it back to a widget that lost it.

    Runs first on every run, full or fragment: each change to a widget starts one, and a page switch drops the widget
    values of the page left before the next page's script starts.
    """
    for key in KEPT:
        if key in st.session_state:
            st.session_state[f"kept:{key}"] = st.session_state[key]
        elif f"kept:{key}" in st.session_state:
            st.session_state[key] = st.session_state[f"kept:{key}"]

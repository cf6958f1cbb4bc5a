from pathlib import Path

import streamlit as st

from pages import _state

# A local icon: Streamlit serves it itself, where a material icon would be fetched from a font server on every page.
st.set_page_config(page_title="bican studio", page_icon=str(Path(__file__).parent / "static" / "favicon.png"),
                   layout="wide")
_state.keep()
st.navigation([
    st.Page("pages/compress.py", title="Compress", icon=":material/draw:", default=True),
    st.Page("pages/explore.py", title="Explore", icon=":material/explore:"),
    st.Page("pages/benchmark.py", title="Benchmark", icon=":material/bar_chart:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
]).run()

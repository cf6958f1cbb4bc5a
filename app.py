import streamlit as st

st.set_page_config(page_title="bican studio", page_icon=":material/draw:", layout="wide")
st.navigation([
    st.Page("pages/compress.py", title="Compress", icon=":material/draw:", default=True),
    st.Page("pages/explore.py", title="Explore", icon=":material/explore:"),
    st.Page("pages/benchmark.py", title="Benchmark", icon=":material/bar_chart:"),
    st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    st.Page("pages/runs.py", title="Runs", icon=":material/monitoring:"),
]).run()

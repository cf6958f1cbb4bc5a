import streamlit as st

st.set_page_config(page_title="bican studio", page_icon="✏️", layout="wide")
st.navigation([
    st.Page("pages/compress.py", title="Compress", icon="✏️", default=True),
    st.Page("pages/explore.py", title="Explore", icon="🧭"),
    st.Page("pages/benchmark.py", title="Benchmark", icon="📊"),
    st.Page("pages/train.py", title="Train", icon="🏋️"),
    st.Page("pages/runs.py", title="Runs", icon="📈"),
]).run()

"""Rate–distortion of every codec, and the seed's file sizes."""

import streamlit as st

from pages import _bench, _ui

st.title("Benchmark")
result = _ui.bench_results()
if result is not None:
    _bench.show_bench(result)

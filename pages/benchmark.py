"""Rate–distortion of every codec, and the seed's file sizes."""

import streamlit as st

from pages import _bench, _learning, _ui

st.title("Benchmark")
result = _ui.bench_results()
if result is not None:
    result = {**result, "rate_distortion": result["rate_distortion"] + _learning.promoted_rows(_learning.registry())}
    _bench.show_bench(result)

"""Runs: every run with live curves; cancel, resume, compare, promote and delete; your promoted models."""

import streamlit as st

from pages import _learning
from pages import _runs_ui as ui

st.title("Runs")
reg = ui.registry()
all_runs = ui.run_table(reg)
if all_runs:
    labels = {r.id: ui.describe_run(r) for r in all_runs}
    run_id = st.selectbox("Run", list(labels), index=ui.default_index(all_runs), format_func=labels.get)
    ui.run_actions(reg, run_id)
    ui.live_run(reg, run_id)
    _learning.promote_and_try(reg, run_id)
    with st.expander("Compare runs"):
        chosen = st.multiselect("Runs to overlay", [r.id for r in all_runs], default=[run_id])
        st.plotly_chart(ui.compare_figure(reg, chosen), key="compare")
else:
    ui.show_flash("run")  # the last run deleted: its message has no run left to sit beside
st.subheader("Your promoted models")
ui.promoted_models(reg)

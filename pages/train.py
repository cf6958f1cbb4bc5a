"""Train: a form over the TrainConfig presets; Start launches `python -m bican train --run-id` in its own process."""

import streamlit as st

from bican.config import PRESETS, ConfigError
from bican.runs import RunError
from pages import _runs_ui as ui

st.title("Train a model")
st.caption(ui.device_info())
name = st.selectbox("Preset", list(PRESETS), index=list(PRESETS).index("quick"), format_func=ui.describe_preset)
init = ui.init_choice(PRESETS[name], key=name)
try:
    base = ui.base_config(PRESETS[name], init)
except ConfigError as exc:  # the chosen model cannot be read: nothing can start from it
    st.error(f"Cannot start from {init}: {exc}. Choose another model to start from.")
    st.stop()
with st.form("train-form"):
    values = ui.form_inputs(base, key=name)
    submitted = st.form_submit_button("Start", type="primary")
try:
    cfg = ui.config_from_form(base, values)
    if submitted:  # before the estimate, whose probe steps would delay the launch
        run = ui.start(name, cfg)
        st.success(f"Run {run.id} is {run.status}: watch it on the Runs page.")
    st.caption(ui.estimate(cfg))
except ConfigError as exc:
    st.error(f"Please fix: {exc}")
except RunError as exc:  # the registry refused: unreadable storage, say
    st.error(str(exc))

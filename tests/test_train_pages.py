"""The Train and Runs pages under AppTest: form validation messages, the queue in the table, actions' messages."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import Unstarted
from streamlit.testing.v1 import AppTest

from bican import runs, samples, weights
from bican.config import preset
from pages import _runs_ui as ui

PAGES = Path(__file__).resolve().parent.parent / "pages"
CFG = dataclasses.replace(preset("tiny"), max_steps=20, val_size=500, val_coded=50)


@pytest.fixture
def runs_root(tmp_path, monkeypatch):
    monkeypatch.setenv("BICAN_RUNS", str(tmp_path))
    return tmp_path


@pytest.mark.parametrize("key, value, message", [
    ("quick-lr", "fast", "Learning rate: 'fast' is not a number"),
    ("quick-lam", "inf", "must be a finite number"),
    ("quick-cycle_weight", "-1", "cycle_weight must be >= 0"),
    ("quick-epochs", 0, "epochs must be in 1..1000"),
    ("quick-latents", 0, "latents must be in 1..512"),
    ("quick-batch_size", -5, "batch_size must be in 1..65536"),
])
def test_bad_form_values_get_clear_messages_and_launch_nothing(runs_root, key, value, message):
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60).run()
    widget = at.text_input(key=key) if isinstance(value, str) else at.number_input(key=key)
    widget.set_value(value)
    at.button[0].click().run()
    assert not at.exception
    assert len(at.error) == 1 and message in at.error[0].value
    assert not at.success and Unstarted(runs_root).runs() == []


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_is_refused_before_launch(runs_root):
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60).run()
    at.selectbox(key="quick-device").set_value("cuda")
    at.button[0].click().run()
    assert "needs a CUDA GPU" in at.error[0].value and Unstarted(runs_root).runs() == []


def test_form_values_reach_the_config():
    values = {"epochs": 2, "batch_size": 64, "max_steps": 0, "seed": 3, "lr": "1e-3", "lam": "0.001",
              "cycle_weight": "10", "image_weight": "1", "latents": 24, "width": 16, "device": "cpu", "augment": 0.25}
    cfg = ui.config_from_form(preset("entropy"), values)
    assert (cfg.epochs, cfg.batch_size, cfg.seed, cfg.lr, cfg.lam, cfg.cycle_weight) == (2, 64, 3, 1e-3, 1e-3, 10.0)
    assert cfg.augment == 0.25
    assert (cfg.model.latents, cfg.model.width, cfg.model.hidden, cfg.device) == (24, 16, 512, "cpu")


def test_augmentation_and_the_start_model_reach_the_stored_config(runs_root, monkeypatch):
    monkeypatch.setattr(runs.Registry, "_spawn", lambda self, run_id: None)  # queue the run, start no trainer
    monkeypatch.setattr(ui, "estimate", lambda cfg: "")  # the probe run is tested elsewhere
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60).run()
    assert at.number_input(key="quick-augment").value == preset("quick").augment
    assert "handwriting" in at.number_input(key="quick-augment").help
    at.number_input(key="quick-augment").set_value(0.3)
    at.button[0].click().run()
    at.selectbox(key="quick-init").set_value("entropy-05b").run()
    latents = at.number_input(key="quick-entropy-05b-latents")
    assert latents.disabled and latents.value == 32 and at.text_input(key="quick-entropy-05b-lam").value == "0.0015"
    at.button[0].click().run()
    assert not at.exception and not at.error
    reg = runs.Registry(runs_root)
    first, second = (reg.config(run.id) for run in sorted(reg.runs(), key=lambda r: r.created))
    assert (first.augment, first.init) == (0.3, "")
    assert (second.init, second.lam, second.fixed_point_rounds, second.model) == (
        "entropy-05b", 1.5e-3, 2, weights.load("entropy-05b").model.cfg)


def test_a_start_model_that_cannot_load_is_named_and_nothing_starts(runs_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BICAN_MODELS", str(tmp_path))
    (tmp_path / "broken.safetensors").write_bytes(b"not weights")
    at = AppTest.from_file(str(PAGES / "train.py"), default_timeout=60).run()
    at.selectbox(key="quick-init").set_value("broken").run()
    assert "Cannot start from broken" in at.error[0].value and not at.button
    assert Unstarted(runs_root).runs() == []


def test_table_shows_the_queue_per_slot(runs_root):
    reg = Unstarted(runs_root)
    first, second, third = (reg.launch(CFG, cuda=False) for _ in range(3))
    rows = {row["run"]: row["status"] for row in ui.table_rows(reg.runs())}
    assert rows == {first.id: "running", second.id: "queued #1 for cpu", third.id: "queued #2 for cpu"}


def test_runs_page_lists_runs_and_reports_refused_actions(runs_root, tmp_path_factory, monkeypatch):
    models = tmp_path_factory.mktemp("models")
    (models / "taken.safetensors").write_bytes(b"")
    monkeypatch.setenv("BICAN_MODELS", str(models))
    reg = Unstarted(runs_root)
    run = reg.launch(CFG, cuda=False)
    at = AppTest.from_file(str(PAGES / "runs.py"), default_timeout=60).run()
    assert not at.exception and at.dataframe[0].value["run"].tolist() == [run.id]
    assert at.button(key="resume").disabled and at.button(key="promote").disabled
    reg._update(run.id, status="done")
    (reg.run_dir(run.id) / "best.safetensors").write_bytes(b"")
    at.run()
    at.text_input(key="promote-name").set_value("taken")
    at.button(key="promote").click().run()
    assert "exists already" in at.error[0].value


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished tiny run, trained through the CLI's listener as the app's trainer process runs it."""
    from bican import cli

    root = tmp_path_factory.mktemp("runs")
    reg = Unstarted(root)
    # collapse_db 0: two epochs of so small a model stay near the mean digit's PSNR, which the collapse check reads as
    # a collapse.
    cfg = dataclasses.replace(CFG, epochs=2, max_steps=0, batch_size=4096, collapse_db=0,
                              model=dataclasses.replace(CFG.model, width=4, hidden=16))
    run = reg.launch(cfg, cuda=False)
    out, cfg = reg.begin(run.id, os.getpid())
    with reg.writer(run.id) as writer:
        assert cli._fit(cfg, out, False, writer) == 0
    return root, run.id


def test_runs_page_shows_each_epochs_samples_and_the_finished_runs_point(trained, monkeypatch):
    root, run_id = trained
    monkeypatch.setenv("BICAN_RUNS", str(root))
    assert samples.epochs(root / run_id) == [1, 2]
    at = AppTest.from_file(str(PAGES / "runs.py"), default_timeout=120).run()
    assert not at.exception
    captions = [image.caption for element in at.get("image") for image in element.proto.imgs]
    shown = samples.load(root / run_id, 2)
    assert captions[:10] == [f"test {d}: {b} B" for d, b in zip(range(10), shown["bytes"])]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    point = next(t for c in charts for t in c["data"] if t.get("name") == f"run {run_id}")
    test = next(e for e in runs.read_events(root / run_id / "events.jsonl") if e["type"] == "test")
    assert point["x"] == [test["bytes_per_digit"]] and point["y"] == [test["psnr_db"]]
    assert at.button(key="promote-and-try")


def test_promote_and_try_selects_the_model_and_the_benchmark_chart_shows_it(trained, monkeypatch):
    root, run_id = trained
    monkeypatch.setenv("BICAN_RUNS", str(root))
    at = AppTest.from_file(str(PAGES / "runs.py"), default_timeout=120).run()
    at.text_input(key=f"try-name-{run_id}").set_value("mine-tried")
    at.button(key="promote-and-try").click().run()
    assert at.session_state["model"] == "mine-tried"
    assert runs.Registry(root).get(run_id).promoted == "mine-tried"
    bench = AppTest.from_file(str(PAGES / "benchmark.py"), default_timeout=120).run()
    assert not bench.exception
    traces = [t for c in bench.get("plotly_chart") for t in json.loads(c.proto.spec)["data"]]
    promoted = next(t for t in traces if t.get("name") == "promoted")
    assert promoted["text"] == ["mine-tried"]


def test_a_digit_drawn_on_compress_goes_to_a_running_run(runs_root, mnist_test):
    reg = Unstarted(runs_root)
    run = reg.launch(CFG, cuda=False)
    at = AppTest.from_file(str(PAGES / "runs.py"), default_timeout=60)
    at.session_state["drawn_digit"] = mnist_test.images[7]
    at.run()
    assert not at.exception and np.array_equal(samples.drawn(reg.run_dir(run.id)), mnist_test.images[7])

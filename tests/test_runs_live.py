"""Real trainers launched through bican.runs.launch, the app's code path: completion, queue, cancel, SIGKILL, failure."""

import dataclasses
import os
import signal
import sqlite3
import threading
import time

import pytest
import torch
from conftest import Unstarted

from bican import cli, codec, runs, weights
from bican.config import preset
from bican.train import Objective

# One epoch of 30 steps with a small validation: a few seconds of CPU after the trainer imports torch.
TINY = dataclasses.replace(preset("tiny"), device="cpu", max_steps=30, val_size=500, val_coded=50)
# Two epochs of 58 steps: long enough to be killed or cancelled mid-run, with a checkpoint after each epoch.
LONGER = dataclasses.replace(TINY, epochs=2, batch_size=1024, max_steps=0, checkpoint_s=3600.0)  # epoch checkpoints only


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


@pytest.fixture
def reg(tmp_path, monkeypatch):
    monkeypatch.setenv("BICAN_RUNS", str(tmp_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the trainers inherit it: keep the shared CPU for everyone
    return runs.Registry()


def scheduled(reg, run_id):
    """The run after one scheduling step, as the Runs page sees it on each refresh."""
    reg.schedule()
    return reg.get(run_id)


def finished(reg, run_id, timeout=60):
    return wait_for(lambda: (run := reg.get(run_id)).status not in runs.ACTIVE and run, timeout, f"run {run_id} to end")


def test_tiny_cpu_run_completes_and_promotes(reg, mnist_test):
    started = time.monotonic()
    run = runs.launch(TINY, cuda=False, preset="tiny")
    run = finished(reg, run.id)
    assert run.status == "done", reg.log_tail(run.id)
    assert time.monotonic() - started <= 60
    steps, epochs = runs.history(reg.events(run.id))
    assert [s["step"] for s in steps] == list(range(1, 31)) and len(epochs) == 1
    assert run.step == run.total_steps == 30 and run.device == "cpu" and 5 < run.best_psnr < 30
    assert "epoch 1:" in reg.log_tail(run.id) and any((reg.run_dir(run.id) / "samples").glob("epoch-*.npz"))
    path = reg.promote(run.id, "my-tiny")
    assert weights.available()["my-tiny"] == path and reg.get(run.id).promoted == "my-tiny"
    c = codec.load("my-tiny")
    assert c.decode(c.encode(mnist_test.images[:4])[0]).shape == (4, 28, 28)
    with pytest.raises(runs.RunError, match="exists already"):
        reg.promote(run.id, "my-tiny")
    reg.delete(run.id)
    assert not reg.run_dir(run.id).exists() and "my-tiny" in weights.available()  # the promoted model stays


def test_second_cpu_run_waits_and_the_first_trainer_starts_it(reg):
    first = runs.launch(TINY, cuda=False)
    second = runs.launch(TINY, cuda=False)
    assert (first.status, second.status) == ("running", "queued")
    # Nothing here schedules, so only the first trainer, as it ends, can start the second.
    wait_for(lambda: reg.get(second.id).status == "done", 120, "the queued run to be started and finish")
    first, second = reg.get(first.id), reg.get(second.id)
    assert first.status == "done" and second.claimed >= first.heartbeat - runs.BEAT_S


def test_double_start_launches_one_run_and_cancel_is_graceful(reg):
    ids = []
    clicks = [threading.Thread(target=lambda: ids.append(runs.launch(LONGER, cuda=False, token="t").id)) for _ in range(2)]
    for click in clicks:
        click.start()
    for click in clicks:
        click.join()
    assert len(set(ids)) == 1 and len(reg.runs()) == 1
    run_id = ids[0]
    wait_for(lambda: reg.get(run_id).step >= 3, 60, "a few steps")
    reg.cancel(run_id)
    run = finished(reg, run_id, 30)
    assert (run.status, run.reason) == ("cancelled", "stopped on request")
    assert (reg.run_dir(run_id) / "last.safetensors").exists()
    assert reg.events(run_id)[-1]["status"] == "cancelled"


def test_sigkill_reads_interrupted_within_5_s_and_resume_finishes(reg):
    run = runs.launch(LONGER, cuda=False)
    wait_for(lambda: (reg.run_dir(run.id) / "last.safetensors").exists(), 90, "the first checkpoint")
    pid = reg.get(run.id).pid
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    wait_for(lambda: scheduled(reg, run.id).status == "interrupted", 5, "status interrupted")
    assert time.monotonic() - killed <= 5
    with sqlite3.connect(reg.db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    reg.resume(run.id)
    run = finished(reg, run.id, 90)
    assert run.status == "done", reg.log_tail(run.id)
    events = reg.events(run.id)
    starts = [e for e in events if e["type"] == "start"]
    per_epoch = starts[0]["steps_per_epoch"]
    assert [s["resumed_at"] for s in starts] == [0, per_epoch]  # killed in epoch 2, resumed from epoch 1's checkpoint
    steps, epochs = runs.history(events)
    assert [s["step"] for s in steps] == list(range(1, 2 * per_epoch + 1)) and [e["epoch"] for e in epochs] == [1, 2]


def test_nan_fails_with_its_reason_and_keeps_the_best(reg, monkeypatch):
    """In-process through the CLI's --run-id path, so the loss can be poisoned after the first epoch."""
    cfg = dataclasses.replace(TINY, epochs=2, batch_size=2048, max_steps=0)  # 26 steps an epoch
    run = Unstarted(reg.root).launch(cfg, cuda=False)
    real, calls = Objective.forward, {"n": 0}

    def poisoned(self, digits):
        calls["n"] += 1
        out = real(self, digits)
        return {**out, "total": out["total"] * float("nan")} if calls["n"] > 30 else out

    monkeypatch.setattr(Objective, "forward", poisoned)
    handler = signal.getsignal(signal.SIGTERM)
    try:
        assert cli.main(["train", "--run-id", run.id, "--runs-dir", str(reg.root)]) == 1
    finally:
        signal.signal(signal.SIGTERM, handler)
    run = reg.get(run.id)
    assert run.status == "failed" and "NaN" in run.reason and run.best_psnr is not None
    assert (reg.run_dir(run.id) / "best.safetensors").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_trainer_error_reads_failed_with_the_message(reg):
    run = runs.launch(dataclasses.replace(TINY, device="cuda"), cuda=False)
    run = finished(reg, run.id)
    assert run.status == "failed" and "no CUDA GPU" in run.reason


def test_run_id_excludes_other_config_options(reg):
    run = Unstarted(reg.root).launch(TINY, cuda=False)
    assert cli.main(["train", "--run-id", run.id, "--runs-dir", str(reg.root), "--epochs", "3"]) == 2
    assert cli.main(["train", "--run-id", "../../etc", "--runs-dir", str(reg.root)]) == 2

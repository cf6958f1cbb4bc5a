"""Mid-epoch checkpoints (a killed run loses at most checkpoint_s or checkpoint_steps of training) and collapse."""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time

from safetensors import safe_open

from bican.config import ModelConfig, preset
from bican.runs import read_events
from bican.train import train

SMALL = dataclasses.replace(preset("tiny"), model=ModelConfig(width=4, hidden=32, latents=8), batch_size=64,
                            val_size=100, val_coded=0, checkpoint_s=3600.0)


def saved_step(out):
    """The step of out/last.safetensors, or None."""
    path = out / "last.safetensors"
    if not path.exists():
        return None
    with safe_open(str(path), "pt") as f:
        return json.loads(f.metadata()["state"])["step"]


def _watch(out, pause=0.0):
    """A listener that notes, at each step event, the step of the checkpoint on disk."""
    seen = []

    def listen(event):
        if event["type"] == "step":
            seen.append((event["step"], saved_step(out)))
            time.sleep(pause)
    return listen, seen


def test_checkpoints_every_n_steps_within_an_epoch(tmp_path):
    listen, seen = _watch(tmp_path)
    end = train(dataclasses.replace(SMALL, max_steps=25, checkpoint_steps=10), listen, tmp_path)
    assert end["status"] == "done"
    mid = {step for _, step in seen if step is not None}
    assert mid == {10, 20}  # 859 steps make an epoch: each of these was saved inside it
    assert all(step is None for at, step in seen if at < 10)


def test_checkpoints_every_m_seconds_within_an_epoch(tmp_path):
    listen, seen = _watch(tmp_path, pause=0.25)
    train(dataclasses.replace(SMALL, max_steps=8, checkpoint_s=0.5, checkpoint_steps=10**6), listen, tmp_path)
    mid = sorted({step for _, step in seen if step is not None})
    assert mid and mid[0] <= 4, seen  # only the clock can have saved these: 0.5 s at 0.25 s or more per step


def test_a_killed_trainer_resumes_from_its_last_mid_epoch_checkpoint(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({**dataclasses.replace(SMALL, max_steps=120, checkpoint_steps=10)
                                                .to_dict(), "device": "cpu"}))
    command = [sys.executable, "-m", "bican", "train", "--config", tmp_path / "c.json", "--out", tmp_path / "run"]
    trainer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while max([e.get("step", 0) for e in read_events(tmp_path / "run" / "events.jsonl")] or [0]) < 25:
        assert trainer.poll() is None and time.monotonic() < deadline, "the trainer ended or stalled before step 25"
        time.sleep(0.05)
    os.kill(trainer.pid, signal.SIGKILL)
    trainer.wait()
    kept = saved_step(tmp_path / "run")
    assert kept is not None and kept >= 20
    resumed = subprocess.run([*command, "--resume"], capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    starts = [e for e in read_events(tmp_path / "run" / "events.jsonl") if e["type"] == "start"]
    assert starts[-1]["resumed_at"] == kept


def test_a_collapsed_run_ends_failed_with_its_reason():
    """At lr 1 the networks settle on a near-blank output (9.6 dB) and stay: the run must not end "done"."""
    cfg = dataclasses.replace(SMALL, lr=1.0, epochs=2, batch_size=8192, max_steps=0)
    events = []
    end = train(cfg, events.append)
    psnrs = [e["psnr_db"] for e in events if e["type"] == "epoch"]
    assert end["status"] == "failed" and end["reason"].startswith("collapsed: validation PSNR"), (end, psnrs)
    assert len(psnrs) == 2 and psnrs[1] < 12

import json
import os
import subprocess
import sys

import torch

from bican import codec, weights


def test_torchrun_two_cpu_ranks_with_gloo(tmp_path, mnist_test):
    config = {"model": {"width": 8, "hidden": 64, "latents": 16}, "epochs": 1, "batch_size": 64,
              "max_steps": 40, "val_size": 500, "val_coded": 50, "device": "cpu"}
    (tmp_path / "cfg.json").write_text(json.dumps(config))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "bican", "train", "--preset", "tiny", "--config", tmp_path / "cfg.json", "--out", tmp_path / "run"]
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    end = json.loads(done.stdout.strip().splitlines()[-1])
    assert end["status"] == "done" and end["ranks_identical"] is True
    events = [json.loads(line) for line in (tmp_path / "run" / "events.jsonl").read_text().splitlines()]
    assert events[0]["type"] == "start" and events[0]["world_size"] == 2
    steps = [e["decompressor"] for e in events if e["type"] == "step"]
    assert len(steps) == 40 and sum(steps[-5:]) < sum(steps[:5])
    # rank 0's checkpoint is an ordinary single-process model
    model = weights.load(str(tmp_path / "run" / "best.safetensors"))
    c = codec.Codec(model.model, model.tables, model.fingerprint)
    assert c.decode(c.encode(mnist_test.images[:4])[0]).shape == (4, 28, 28)
    assert torch.isfinite(next(model.model.parameters())).all()

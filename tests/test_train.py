import dataclasses

import numpy as np
import pytest
import torch

from bican import codec, data, weights
from bican import train as train_module
from bican.config import ConfigError, ModelConfig, TrainConfig, preset
from bican.train import Objective, train, with_init

TINY = dataclasses.replace(preset("tiny"), max_steps=30, val_size=500, val_coded=50)


def _run(tmp_path, cfg=TINY, **kw):
    events = []
    end = train(cfg, events.append, tmp_path, **kw)
    return end, events


def test_tiny_cpu_run_learns_and_saves(tmp_path, mnist_test):
    end, events = _run(tmp_path)
    steps = [e for e in events if e["type"] == "step"]
    assert end["status"] == "done" and len(steps) == 30
    assert {"decompressor", "compressor", "rate", "total"} <= set(steps[0])
    assert np.mean([s["decompressor"] for s in steps[-5:]]) < np.mean([s["decompressor"] for s in steps[:5]])
    epoch = next(e for e in events if e["type"] == "epoch")
    assert {"psnr_db", "ideal_bytes_per_digit", "bytes_per_digit", "idempotent_fraction"} <= set(epoch)
    assert (tmp_path / "last.safetensors").exists()
    best = codec.load(str(tmp_path / "best.safetensors"))
    assert best.decode(best.encode(mnist_test.images[:3])[0]).shape == (3, 28, 28)
    shown = next(e for e in events if e["type"] == "samples")
    assert shown["names"] == [f"test {d}" for d in range(10)] and shown["recon"].shape == (10, 28, 28)
    assert all(b >= 1 for b in shown["bytes"]) and shown["recon"].dtype == np.uint8
    first = [int(np.flatnonzero(mnist_test.labels == d)[0]) for d in range(10)]
    assert np.array_equal(shown["digits"], mnist_test.images[first])
    # A finished run measures its best model with the shipped encoder on test digits: its point on the chart.
    point = next(e for e in events if e["type"] == "test")
    assert point["digits"] == 1000 and 5 < point["psnr_db"] < 40 and 1 <= point["bytes_per_digit"] <= 16
    assert [e["type"] for e in events[-2:]] == ["test", "end"]


def test_samples_follow_a_digit_drawn_while_the_run_trains(tmp_path, mnist_test):
    drawn, events = {"digit": None}, []

    def listen(event):
        events.append(event)
        if event["type"] == "samples":  # someone draws after the first epoch's samples
            drawn["digit"] = mnist_test.images[5]

    cfg = dataclasses.replace(TINY, epochs=2, max_steps=0, val_coded=0, batch_size=4096,
                              model=dataclasses.replace(TINY.model, width=4, hidden=16))
    end = train(cfg, listen, tmp_path, drawn=lambda: drawn["digit"])
    shown = [e for e in events if e["type"] == "samples"]
    assert end["status"] == "done" and [len(e["names"]) for e in shown] == [10, 11]
    assert shown[1]["names"][-1] == "drawn" and np.array_equal(shown[1]["digits"][-1], mnist_test.images[5])
    assert shown[1]["recon"].shape == (11, 28, 28) and len(shown[1]["bytes"]) == 11


def test_fixed_seed_is_deterministic_on_cpu(tmp_path):
    cfg = dataclasses.replace(TINY, max_steps=8, val_coded=0)
    first = [e["total"] for e in _run(tmp_path / "a", cfg)[1] if e["type"] == "step"]
    second = [e["total"] for e in _run(tmp_path / "b", cfg)[1] if e["type"] == "step"]
    assert first == second


def test_cancel_then_resume_continues(tmp_path):
    cfg = dataclasses.replace(TINY, max_steps=20, val_coded=0)
    count = {"n": 0}

    def stop():
        count["n"] += 1
        return count["n"] >= 7

    end, _ = _run(tmp_path, cfg, stop=stop)
    assert end["status"] == "cancelled" and end["step"] == 7
    end, events = _run(tmp_path, cfg, resume=True)
    steps = [e["step"] for e in events if e["type"] == "step"]
    assert end["status"] == "done" and steps[0] == 8 and steps[-1] == 20


def test_a_cancel_on_a_mid_epoch_checkpoints_step_ends_as_cancelled(tmp_path):
    # A slow machine saves every few steps, so a cancel can land on the step a checkpoint was just written.
    cfg = dataclasses.replace(TINY, max_steps=20, val_coded=0, checkpoint_steps=1)
    end, _ = _run(tmp_path, cfg, stop=lambda: True)
    assert end["status"] == "cancelled" and end["step"] == 1
    assert (tmp_path / "last.safetensors").exists()


def test_nan_stops_with_reason(tmp_path, monkeypatch):
    real = Objective.forward

    def poisoned(self, digits):
        out = real(self, digits)
        out["total"] = out["total"] * float("nan")
        return out

    monkeypatch.setattr(Objective, "forward", poisoned)
    end, _ = _run(tmp_path)
    assert end["status"] == "failed" and "NaN" in end["reason"]


def test_seed_preset_trains_a_few_steps(tmp_path):
    cfg = dataclasses.replace(preset("seed"), model=dataclasses.replace(preset("seed").model, width=4, hidden=64),
                              max_steps=10, val_size=500, val_coded=20)
    end, events = _run(tmp_path, cfg)
    epoch = next(e for e in events if e["type"] == "epoch")
    assert end["status"] == "done" and epoch["bytes_per_digit"] == 200.0
    assert weights.load(str(tmp_path / "best.safetensors")).tables is None


def test_cuda_request_without_gpu_is_clear(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        _run(tmp_path, dataclasses.replace(TINY, device="cuda"))


def test_fixed_point_rounds_train_the_decoder_on_the_codecs_codes(mnist_test):
    import torch

    model = weights.load("entropy-05b").model.train()  # a trained pair, whose codes do move under recompression
    cfg = dataclasses.replace(TINY, model=model.cfg, fixed_point_rounds=3)
    y = model.compressor(model.to_native(torch.from_numpy(mnist_test.images[:64].copy())))
    code = Objective(model, cfg)._settled(y)
    expected = torch.round(y)
    with torch.no_grad():
        for _ in range(3):
            expected = torch.round(model.compressor(model.decompressor(expected)))
    assert torch.equal(code.detach(), expected) and not torch.equal(expected, torch.round(y))
    code.sum().backward()  # straight-through: the gradient reaches the compressor as if the code were y
    assert all(p.grad is not None for p in model.compressor.parameters())


def test_residual_blocks_start_as_the_identity_and_leave_the_constant_image(tmp_path):
    from bican.model import BiCAN, _Residual

    # The size where it showed: the entropy preset's networks at entropy-07b's rate.
    cfg = TrainConfig(lam=7e-4, fixed_point_rounds=2, max_steps=20, val_size=500, val_coded=0,
                      model=ModelConfig(hidden=256, blocks=2))
    blocks = [m for m in BiCAN(cfg.model).modules() if isinstance(m, _Residual)]
    assert len(blocks) == 8  # two per convolution's resolution, in each network
    for block in blocks:
        x = torch.randn(2, block.body[0].in_channels, 7, 7)
        assert torch.equal(block(x), x)
    steps = [e for e in _run(tmp_path, cfg)[1] if e["type"] == "step"]
    # A constant image scores about 0.44; blocks that opened all at once stayed there (the tanh saturated).
    assert np.mean([s["decompressor"] for s in steps[-5:]]) < 0.35


def test_estimate_times_every_part_of_a_run():
    from bican.train import Estimate, estimate

    cfg = dataclasses.replace(TINY, max_steps=0, epochs=2, batch_size=4096)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        guess = estimate(cfg, threads=1, import_s=1.5)
        assert torch.get_num_threads() == 2  # the probe ran on its own thread count and put ours back
    finally:
        torch.set_num_threads(before)
    assert isinstance(guess, Estimate) and guess.steps == 2 * 14 and guess.steps_per_epoch == 14
    assert guess.validations == 2 and guess.startup_s > 1.5
    assert min(guess.step_s, guess.validation_s, guess.finish_s) > 0
    parts = guess.startup_s + 28 * guess.step_s + 2 * guess.validation_s + guess.finish_s
    assert guess.total_s == pytest.approx(parts) and guess.until(1) < guess.total_s


def test_samples_on_disk_round_trip_and_a_drawn_digit_is_set_once(tmp_path, mnist_test):
    from bican import samples

    event = {"type": "samples", "epoch": 3, "names": ["test 0", "drawn"], "digits": mnist_test.images[:2],
             "recon": mnist_test.images[2:4], "bytes": [7, 9]}
    logged = samples.save(tmp_path, event)
    assert logged == {"type": "samples", "epoch": 3, "names": ["test 0", "drawn"], "bytes": [7, 9],
                      "file": "samples/epoch-003.npz"}
    back = samples.load(tmp_path, 3)
    assert samples.epochs(tmp_path) == [3] and back["names"] == ["test 0", "drawn"] and back["bytes"] == [7, 9]
    assert np.array_equal(back["recon"], mnist_test.images[2:4])
    assert samples.drawn(tmp_path) is None
    assert samples.set_drawn(tmp_path, mnist_test.images[0]) and not samples.set_drawn(tmp_path, mnist_test.images[0])
    assert np.array_equal(samples.drawn(tmp_path), mnist_test.images[0])
    with pytest.raises(ValueError, match="28x28"):
        samples.set_drawn(tmp_path, np.zeros((5, 5)))


@pytest.mark.gpu
def test_cuda_run_trains_in_bfloat16_writes_samples_and_its_point(tmp_path, mnist_test):
    cfg = dataclasses.replace(TINY, device="cuda", epochs=2, max_steps=0, batch_size=1024)
    end, events = _run(tmp_path, cfg, drawn=lambda: mnist_test.images[3])
    assert end["status"] == "done" and next(e for e in events if e["type"] == "start")["device"].startswith("cuda")
    shown = [e for e in events if e["type"] == "samples"]
    assert len(shown) == 2 and shown[-1]["names"][-1] == "drawn" and shown[-1]["recon"].shape == (11, 28, 28)
    assert next(e for e in events if e["type"] == "test")["digits"] == 1000


@pytest.mark.gpu
def test_cuda_estimate_is_within_one_and_a_half_times_the_run(tmp_path):
    import time

    from bican.train import estimate

    cfg = dataclasses.replace(preset("quick"), device="cuda")
    guess = estimate(cfg, import_s=0.0)
    started = time.perf_counter()
    end, _ = _run(tmp_path, cfg)
    took = time.perf_counter() - started
    assert end["status"] == "done" and took / 1.5 <= guess.total_s <= took * 1.5  # import_s=0: both in-process


def test_bench_train_times_from_process_start_and_prints_the_estimate_beside_it(tmp_path):
    from bican import bench

    age = bench.process_seconds()
    assert 0 < age < 24 * 3600
    cfg = dataclasses.replace(TINY, max_steps=0, epochs=2, batch_size=4096, val_coded=0)
    result = bench.train_bench(cfg, target_db=5.0, max_bytes=100.0, budget_s=age + 900)
    assert result["reached"] and result["epoch"] == 1 and result["wall_s"] > age
    assert result["estimate_s"] > 0 and len(result["load"]) == 3 and result["threads"] >= 1
    from tools.bench import write_train

    write_train(result, tmp_path)  # an empty folder: the section is created
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "from process start to the best model written" in text and f"{result['estimate_s']:.1f} s" in text


def test_augmented_runs_repeat_and_differ_from_plain_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "CANVAS_POOL", 100)  # 1,000 renderings take about 10 s
    cfg = dataclasses.replace(TINY, max_steps=6, val_coded=0, augment=0.5)
    first = [e["total"] for e in _run(tmp_path / "a", cfg)[1] if e["type"] == "step"]
    again = [e["total"] for e in _run(tmp_path / "b", cfg)[1] if e["type"] == "step"]
    plain = [e["total"] for e in _run(tmp_path / "c", dataclasses.replace(cfg, augment=0.0))[1] if e["type"] == "step"]
    assert first == again and first != plain


FINE_TUNE = dataclasses.replace(preset("handwriting"), max_steps=2, val_size=500, val_coded=0)


def test_the_augmenter_holds_a_pool_of_canvas_renderings(monkeypatch, mnist_test):
    monkeypatch.setattr(train_module, "CANVAS_POOL", 20)
    cfg = dataclasses.replace(TINY, augment=0.5)
    images, cpu = data.load("train").images, torch.device("cpu")
    pool = train_module._augmenter(cfg, images, cpu, 0).pool
    assert pool.shape == (20, 28, 28) and pool.dtype == torch.uint8 and pool.float().mean() > 10
    assert torch.equal(pool, train_module._augmenter(cfg, images, cpu, 1).pool)  # every rank alike
    assert train_module._augmenter(dataclasses.replace(cfg, augment=0.0), images, cpu, 0) is None


def test_init_starts_from_the_models_networks_and_prior(tmp_path):
    end, events = _run(tmp_path, FINE_TUNE, test_digits=0)
    first = next(e for e in events if e["type"] == "step")
    fresh = next(e for e in _run(tmp_path / "fresh", dataclasses.replace(FINE_TUNE, init=""), test_digits=0)[1]
                 if e["type"] == "step")
    # entropy-08b reconstructs at about 22 dB (MSE 0.025 on [-1, 1]) in about 70 bits under its learned prior (75.9
    # measured on this half-varied batch); fresh networks gave 1.23.
    assert first["decompressor"] < 0.06 and 50 < first["rate"] < 100 and fresh["decompressor"] > 0.5
    assert end["status"] == "done" and events[0]["init_fingerprint"] == weights.load("entropy-08b").fingerprint
    assert weights.load(str(tmp_path / "best.safetensors")).info["init_fingerprint"] == events[0]["init_fingerprint"]


def test_init_refuses_a_model_config_that_is_not_the_files(tmp_path):
    cfg = dataclasses.replace(FINE_TUNE, model=ModelConfig(hidden=512, latents=40))
    with pytest.raises(ConfigError, match=r"init entropy-08b is another model.*hidden 512 \(the file has 256\), "
                                          r"latents 40 \(the file has 32\)"):
        _run(tmp_path, cfg)


def test_with_init_takes_the_model_and_objective_from_the_file_unless_named():
    cfg = with_init(dataclasses.replace(preset("handwriting"), init="entropy-05b"))
    assert cfg.model == weights.load("entropy-05b").model.cfg
    assert (cfg.lam, cfg.cycle_weight, cfg.fixed_point_rounds) == (1.5e-3, 50.0, 2)  # entropy-05b's recipe
    assert (cfg.lr, cfg.augment, cfg.epochs) == (3e-4, 0.25, 3)  # the fine-tune's own
    named = dataclasses.replace(cfg, lam=1e-3, model=dataclasses.replace(cfg.model, latents=32))
    assert with_init(named, {"lam", "model.latents"}).lam == 1e-3
    with pytest.raises(ConfigError, match=r"entropy-12b fixes the model.*latents 32 \(the file has 40\)"):
        with_init(dataclasses.replace(named, init="entropy-12b"), {"model.latents"})
    with pytest.raises(ConfigError, match="init: unknown model 'nosuch'"):
        with_init(dataclasses.replace(cfg, init="nosuch"))
    assert with_init(TINY) is TINY


@pytest.mark.gpu
def test_cuda_augmentation_keeps_an_epoch_within_one_and_a_half_times_a_plain_one(tmp_path):
    def second_epoch_s(augment: float) -> float:
        cfg = dataclasses.replace(preset("quick"), device="cuda", epochs=2, val_coded=0, augment=augment)
        end, events = _run(tmp_path / str(augment), cfg, test_digits=0)
        assert end["status"] == "done"
        return [e["seconds"] for e in events if e["type"] == "epoch"][1]  # the first pays for kernel selection

    plain, varied = second_epoch_s(0.0), second_epoch_s(0.5)
    assert varied <= 1.5 * plain, f"an augmented epoch took {varied:.2f} s against {plain:.2f} s"

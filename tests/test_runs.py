"""The run registry on real SQLite: ids, scheduling, reconciling dead trainers, events, concurrent writers."""

import ast
import dataclasses
import json
import multiprocessing
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import Unstarted

from bican import runs
from bican.config import preset

CFG = dataclasses.replace(preset("tiny"), max_steps=20, val_size=500, val_coded=50)


@pytest.mark.parametrize("bad", ["", "..", "../etc", "20260101-000000-abcde/", "20260101-000000-ABCDEF",
                                 "/tmp/x", "20260101-000000-abcdef\n", 7, None])
def test_only_generated_ids_reach_the_filesystem(tmp_path, bad):
    reg = Unstarted(tmp_path)
    with pytest.raises(runs.RunError, match="not a run id"):
        reg.run_dir(bad)
    assert runs.RUN_ID.fullmatch(runs.new_id())


def test_registry_is_wal_and_lists_runs_newest_first(tmp_path):
    reg = Unstarted(tmp_path)
    first = reg.launch(CFG, cuda=False, preset="tiny")
    second = reg.launch(CFG, cuda=False)
    with sqlite3.connect(reg.db) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r.id for r in reg.runs()] == [second.id, first.id]
    assert reg.config(first.id) == CFG
    assert json.loads((tmp_path / first.id / "config.json").read_text())["max_steps"] == 20


def test_one_run_per_slot_and_a_fifo_queue(tmp_path):
    reg = Unstarted(tmp_path)
    a, b = reg.launch(CFG, cuda=False), reg.launch(CFG, cuda=False)
    gpu = reg.launch(dataclasses.replace(CFG, device="auto"), cuda=True)
    assert (a.status, b.status, gpu.status) == ("running", "queued", "running")
    assert (a.slot, gpu.slot) == ("cpu", "gpu")
    reg._update(a.id, status="done")
    assert reg.get(b.id).status == "queued" and [r.status for r in reg.runs()][-1] == "done"  # reads only read
    assert reg.spawned() == [a.id, gpu.id]
    reg.schedule()
    assert reg.get(b.id).status == "running"
    assert reg.spawned() == [a.id, gpu.id, b.id]


def test_double_start_with_one_token_is_one_run(tmp_path, monkeypatch):
    reg = Unstarted(tmp_path)
    results = []
    threads = [threading.Thread(target=lambda: results.append(reg.launch(CFG, cuda=False, token="form-1")))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.id for r in results}) == 1 and len(reg.runs()) == 1
    monkeypatch.setattr(runs, "DEDUP_S", 0.0)  # past the double-click window the same form launches again
    assert reg.launch(CFG, cuda=False, token="form-1").id != results[0].id


def test_dead_and_foreign_pids_read_interrupted(tmp_path):
    reg = Unstarted(tmp_path)
    dead = reg.launch(CFG, cuda=False)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    reg._update(dead.id, pid=gone.pid, heartbeat=time.time())
    assert reg.get(dead.id).status == "running"
    reg.schedule()
    assert reg.get(dead.id).status == "interrupted"
    foreign = reg.launch(CFG, cuda=False)
    sleeper = subprocess.Popen(["sleep", "30"])  # alive, but not this run's trainer (a recycled pid looks like this)
    try:
        reg._update(foreign.id, pid=sleeper.pid, heartbeat=time.time())
        reg.schedule()
        assert reg.get(foreign.id).status == "interrupted"
    finally:
        sleeper.kill()
        sleeper.wait()
    never = reg.launch(CFG, cuda=False)
    reg._update(never.id, claimed=time.time() - runs.STARTUP_S - 1)
    reg.schedule()
    assert reg.get(never.id).reason == "the trainer never started"


def test_cancel_queued_and_delete(tmp_path):
    reg = Unstarted(tmp_path)
    running, queued = reg.launch(CFG, cuda=False), reg.launch(CFG, cuda=False)
    assert reg.cancel(queued.id).status == "cancelled"
    with pytest.raises(runs.RunError, match="only queued or running"):
        reg.cancel(queued.id)
    with pytest.raises(runs.RunError, match="cancel it first"):
        reg.delete(running.id)
    reg.delete(queued.id)
    assert not (tmp_path / queued.id).exists() and [r.id for r in reg.runs()] == [running.id]
    with pytest.raises(runs.RunError, match="no run"):
        reg.get(queued.id)


def test_resume_and_promote_refuse_what_they_cannot_do(tmp_path):
    reg = Unstarted(tmp_path)
    run = reg.launch(CFG, cuda=False)
    with pytest.raises(runs.RunError, match="only cancelled or interrupted"):
        reg.resume(run.id)
    with pytest.raises(runs.RunError, match="model names"):
        reg.promote(run.id, "../evil")
    with pytest.raises(runs.RunError, match="no best model yet"):
        reg.promote(run.id, "fine-name")


def test_events_reader_tolerates_partial_and_cut_lines(tmp_path):
    path = tmp_path / "events.jsonl"
    lines = [{"type": "start", "resumed_at": 0}, {"type": "step", "step": 1}, {"type": "step", "step": 2}]
    path.write_text("".join(json.dumps(e) + "\n" for e in lines) + '{"type": "st')
    assert runs.read_events(path) == lines
    path.write_text(json.dumps(lines[0]) + '\n{"type": "st\n' + json.dumps(lines[1]) + "\n")
    assert runs.read_events(path) == lines[:2]
    assert runs.read_events(tmp_path / "missing.jsonl") == []


def test_history_keeps_the_replay_after_a_resume():
    events = [{"type": "start", "resumed_at": 0}, *({"type": "step", "step": s, "v": "old"} for s in (1, 2, 3, 4)),
              {"type": "epoch", "step": 2}, {"type": "epoch", "step": 4},
              {"type": "start", "resumed_at": 2}, *({"type": "step", "step": s, "v": "new"} for s in (3, 4))]
    steps, epochs = runs.history(events)
    assert [(s["step"], s["v"]) for s in steps] == [(1, "old"), (2, "old"), (3, "new"), (4, "new")]
    assert [e["step"] for e in epochs] == [2]


def _hammer(root, worker):
    """One process of the concurrent-writers test: two threads launch runs and beat heartbeats at once."""
    reg = Unstarted(root)

    def thread(t):
        for i in range(5):
            run = reg.launch(CFG, cuda=False, token=f"{worker}-{t}-{i}")
            reg._update(run.id, heartbeat=time.time(), step=i)
            reg.runs()
        reg.launch(CFG, cuda=False, token="shared")

    threads = [threading.Thread(target=thread, args=(t,)) for t in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def test_concurrent_writers_from_processes_and_threads(tmp_path):
    Unstarted(tmp_path)
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_hammer, args=(tmp_path, w)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert [w.exitcode for w in workers] == [0] * 4
    reg = Unstarted(tmp_path)
    all_runs = reg.runs()
    assert len(all_runs) == 4 * 2 * 5 + 1  # every launch, with the shared token once
    assert sum(r.status == "running" for r in all_runs) == 1  # the CPU slot was never double-claimed
    assert len(reg.spawned()) == 1
    assert {p.name for p in tmp_path.iterdir() if runs.RUN_ID.fullmatch(p.name)} == {r.id for r in all_runs}
    with sqlite3.connect(reg.db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_runs_imports_only_config_paths_and_the_standard_library():
    """Import rule 4: the registry must not pull torch (or anything else) into the app's process on its own."""
    tree = ast.parse(Path(runs.__file__).read_text())
    modules = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    relative = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.level}
    absolute = {node.module.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and not node.level}
    assert relative <= {"config", "paths"}
    assert (modules | absolute) - {"__future__"} <= sys.stdlib_module_names


@pytest.mark.parametrize("digits", ["２０２６０１０１", "٢٠٢٦٠١٠١", "२०२६०१०१"])
def test_run_ids_are_ascii_only(tmp_path, digits):
    """Full-width, Arabic-Indic and Devanagari digits match \\d; only ASCII digits make a run id."""
    with pytest.raises(runs.RunError, match="not a run id"):
        Unstarted(tmp_path).run_dir(f"{digits}-000000-abcdef")


def _bican(*args):
    return subprocess.run([sys.executable, "-m", "bican", *map(str, args)], capture_output=True, text=True)


def _finished_run(reg):
    """A launched run whose folder holds what a trainer that ended writes: events up to a best epoch and "done"."""
    run = reg.launch(CFG, cuda=False, preset="tiny")
    events = [{"type": "start", "time": 100.0, "device": "cpu", "total_steps": 20, "resumed_at": 0},
              {"type": "step", "time": 101.0, "step": 20}, {"type": "epoch", "time": 102.5, "epoch": 1, "step": 20,
                                                            "best": True, "psnr_db": 14.5, "ideal_bytes_per_digit": 3.0},
              {"type": "end", "time": 103.0, "status": "done", "reason": ""}]
    (reg.run_dir(run.id) / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    reg._update(run.id, status="done", step=20, total_steps=20, best_psnr=14.5, best_bytes=3.0, active_s=3.0)
    return reg.get(run.id)


@pytest.mark.parametrize("loss", ["deleted", "emptied"])
def test_a_lost_registry_is_rebuilt_from_the_run_folders(tmp_path, loss):
    reg = Unstarted(tmp_path)
    done = _finished_run(reg)
    started = reg.launch(CFG, cuda=False)  # claimed, but no trainer ever wrote to its folder
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"registry.sqlite{suffix}").unlink(missing_ok=True)
    (tmp_path / "registry.sqlite").unlink() if loss == "deleted" else (tmp_path / "registry.sqlite").write_bytes(b"")
    rebuilt = {r.id: r for r in Unstarted(tmp_path).runs()}
    assert set(rebuilt) == {done.id, started.id}
    again = rebuilt[done.id]
    assert (again.status, again.step, again.total_steps, again.best_psnr, again.best_bytes, again.active_s) == \
        ("done", 20, 20, 14.5, 3.0, 3.0)
    assert rebuilt[started.id].status == "interrupted" and "re-indexed" in rebuilt[started.id].reason
    assert Unstarted(tmp_path).config(started.id) == CFG  # nothing the run wrote is lost


def test_a_corrupt_registry_is_one_clear_error_and_reindex_rebuilds_it(tmp_path):
    reg = Unstarted(tmp_path)
    done = _finished_run(reg)
    for suffix in ("-wal", "-shm"):
        (tmp_path / f"registry.sqlite{suffix}").unlink(missing_ok=True)
    (tmp_path / "registry.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    with pytest.raises(runs.RegistryError, match="unusable .*runs reindex"):
        runs.Registry(tmp_path)
    trained = _bican("train", "--run-id", done.id, "--runs-dir", tmp_path)
    assert trained.returncode == 2 and trained.stderr.startswith("error: the run registry")
    assert len(trained.stderr.strip().splitlines()) == 1, trained.stderr
    fixed = _bican("runs", "reindex", "--runs-dir", tmp_path)
    assert fixed.returncode == 0, fixed.stderr
    assert "1 run folder(s) indexed" in fixed.stdout and "moved to" in fixed.stdout
    assert [r.id for r in runs.Registry(tmp_path).runs()] == [done.id]
    (aside,) = tmp_path.glob("registry.sqlite.corrupt-*")  # kept, not deleted
    assert aside.read_bytes().startswith(b"this is not an SQLite")


def test_unopenable_storage_is_a_registry_error_and_never_moved_aside(tmp_path):
    (tmp_path / "registry.sqlite").mkdir()  # as a read-only folder does, it makes the database unopenable
    with pytest.raises(runs.RegistryError, match="unusable") as caught:
        runs.Registry(tmp_path)
    assert not caught.value.corrupt
    with pytest.raises(runs.RegistryError):
        runs.rebuild(tmp_path)
    assert (tmp_path / "registry.sqlite").is_dir()


def test_a_deleted_run_is_not_reindexed(tmp_path):
    reg = Unstarted(tmp_path)
    run = _finished_run(reg)
    reg.delete(run.id)
    assert Unstarted(tmp_path).runs() == [] and list(tmp_path.glob(".deleted-*")) == []


@pytest.mark.parametrize("name, message", [
    ("classifier", "reserved"), ("entropy-08b", "exists already"), ("mine", "exists already"),
])
def test_promote_refuses_reserved_and_taken_names(tmp_path, monkeypatch, name, message):
    models = tmp_path / "extra"
    models.mkdir()
    (models / "mine.safetensors").write_bytes(b"")
    monkeypatch.setenv("BICAN_MODELS", str(models))
    reg = Unstarted(tmp_path / "runs")
    run = _finished_run(reg)
    (reg.run_dir(run.id) / "best.safetensors").write_bytes(b"a model")
    with pytest.raises(runs.RunError, match=message):
        reg.promote(run.id, name)
    assert not (tmp_path / "runs" / "models" / f"{name}.safetensors").exists()
    assert reg.promote(run.id, "fresh").read_bytes() == b"a model"

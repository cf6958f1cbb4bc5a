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
    assert reg.get(dead.id).status == "interrupted"
    foreign = reg.launch(CFG, cuda=False)
    sleeper = subprocess.Popen(["sleep", "30"])  # alive, but not this run's trainer (a recycled pid looks like this)
    try:
        reg._update(foreign.id, pid=sleeper.pid, heartbeat=time.time())
        assert reg.get(foreign.id).status == "interrupted"
    finally:
        sleeper.kill()
        sleeper.wait()
    never = reg.launch(CFG, cuda=False)
    reg._update(never.id, claimed=time.time() - runs.STARTUP_S - 1)
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

"""The run registry: SQLite (WAL) over run directories, and `python -m bican train --run-id` as subprocesses.

It imports only bican.config and the standard library, so the app can list, launch and cancel runs without
loading torch here; nothing ever trains in the caller's process. Reads only read: queued runs start when someone
calls schedule() (the Runs page on every refresh, each trainer as it ends) or launches a run.

The run directories are the record; the registry is their index. Opening it re-indexes run directories it does not
know (after registry.sqlite was lost or emptied), and `python -m bican runs reindex` also rebuilds it from scratch
after moving an unreadable one aside.

Layout under the runs root ($BICAN_RUNS or ./runs):
    registry.sqlite             one row per run: status, pid, heartbeat, progress, best validation
    <run id>/config.json        the TrainConfig
    <run id>/events.jsonl       every train event, one JSON object a line, with a wall-clock "time"
    <run id>/log.txt            the trainer's stdout and stderr
    <run id>/last.safetensors   checkpoint (model + Adam), best.safetensors, samples/ (bican.samples): from the trainer
    models/<name>.safetensors   promoted models, listed by bican.weights.model_dirs()
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .config import ConfigError, TrainConfig
from .paths import CLASSIFIER, model_dirs, promoted_dir, runs_root

STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
RESUMABLE = ("cancelled", "interrupted")
SLOTS = {"cpu": 1, "gpu": 1}  # concurrent runs per device slot: the 2-core CPU and the one GPU each take one
RUN_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{6}")  # fullmatch: "$" admits a trailing newline, \d other scripts' digits
MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,47}")
BEAT_S = 1.0  # the trainer's heartbeat period
STALE_S = 30.0  # a live PID whose heartbeat is this old is hung, or not our trainer any more
STARTUP_S = 120.0  # a claimed run may take this long to import torch and record its first beat
DEDUP_S = 10.0  # launches with the same token within this window are one launch (double clicks)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    token TEXT,
    created REAL NOT NULL,
    preset TEXT NOT NULL,
    slot TEXT NOT NULL CHECK (slot IN ('cpu', 'gpu')),
    status TEXT NOT NULL CHECK (status IN {STATUSES}),
    reason TEXT NOT NULL DEFAULT '',
    device TEXT NOT NULL DEFAULT '',
    pid INTEGER,
    claimed REAL,
    heartbeat REAL,
    active_s REAL NOT NULL DEFAULT 0,
    step INTEGER NOT NULL DEFAULT 0,
    total_steps INTEGER NOT NULL DEFAULT 0,
    best_psnr REAL,
    best_bytes REAL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    promoted TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_token ON runs (token, created);
"""


class RunError(ValueError):
    """A run id, name or action the registry refuses, with a message fit for the UI."""


class RegistryError(RunError):
    """registry.sqlite cannot be read or written; `corrupt` when it is not an SQLite database any more."""

    def __init__(self, db: Path, exc: sqlite3.Error):
        self.db = db
        self.corrupt = not isinstance(exc, sqlite3.OperationalError)  # locked, read-only or missing are operational
        advice = "; `python -m bican runs reindex` rebuilds it from the run folders" if self.corrupt else ""
        super().__init__(f"the run registry {db} is unusable ({exc}){advice}")


@dataclasses.dataclass(frozen=True)
class Run:
    """One row of the registry."""

    id: str
    token: str | None
    created: float
    preset: str
    slot: str
    status: str
    reason: str
    device: str
    pid: int | None
    claimed: float | None
    heartbeat: float | None
    active_s: float
    step: int
    total_steps: int
    best_psnr: float | None
    best_bytes: float | None
    cancel_requested: int
    promoted: str


def check_id(run_id: str) -> str:
    """The id itself if it is one this registry could have generated; nothing else reaches a path."""
    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise RunError(f"not a run id: {run_id!r}")
    return run_id


def new_id() -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(3)}"


class _Promoted:
    """The promoted models of a Registry (its root's models/ folder): promote a run's best model, list, rename and
    remove them. Kept apart from the runs' own bookkeeping; a Registry is one."""

    def promote(self, run_id: str, name: str) -> Path:
        """Copy the run's best model (a full codec model with its config) to the promoted-models folder."""
        check_model_name(name, model_dirs(self.root))
        source = self.run_dir(run_id) / "best.safetensors"
        self.get(run_id)
        if not source.exists():
            raise RunError(f"run {run_id} has no best model yet; it appears after the first validated epoch")
        target_dir = model_dirs(self.root)[1]
        target_dir.mkdir(parents=True, exist_ok=True)
        target = target_dir / f"{name}.safetensors"
        tmp = target_dir / f".{name}.{secrets.token_hex(4)}.tmp"
        shutil.copyfile(source, tmp)
        try:
            os.link(tmp, target)  # fails if the name exists, atomically, even against a concurrent promote
        except FileExistsError:
            raise RunError(f"a promoted model named {name!r} exists already") from None
        finally:
            tmp.unlink()
        self._update(run_id, promoted=name)
        return target

    def models(self) -> dict[str, Path]:
        """The promoted models under this root, by name."""
        return {path.stem: path for path in sorted(promoted_dir(self.root).glob("*.safetensors"))}

    def _model(self, name: str) -> Path:
        path = self.models().get(name) if isinstance(name, str) else None
        if path is None:
            raise RunError(f"no promoted model is named {name!r}")
        return path

    def rename_model(self, name: str, new: str) -> Path:
        """Give a promoted model another name (the same rule as promote's); its run records the new name."""
        source = self._model(name)
        check_model_name(new, model_dirs(self.root))
        target = source.with_name(f"{new}.safetensors")
        try:
            os.link(source, target)  # fails if the name exists, atomically
        except FileExistsError:
            raise RunError(f"a promoted model named {new!r} already exists") from None
        source.unlink()
        with self._tx() as con:
            con.execute("UPDATE runs SET promoted = ? WHERE promoted = ?", (new, name))
        return target

    def remove_model(self, name: str) -> None:
        """Delete a promoted model's file; the run it came from keeps its own best model and can promote it again."""
        self._model(name).unlink()
        with self._tx() as con:
            con.execute("UPDATE runs SET promoted = '' WHERE promoted = ?", (name,))


class _Reindexing:
    """Rebuilding a Registry's rows from the run folders, when its database was lost or is behind them."""

    def _unknown_dirs(self) -> list[Path]:
        """Run folders (with a config) that have no row; listing the root is cheap next to a query."""
        found = [p for p in self.root.iterdir() if RUN_ID.fullmatch(p.name) and (p / "config.json").is_file()]
        if not found:
            return []
        with self._read() as con:
            known = {row[0] for row in con.execute("SELECT id FROM runs")}
        return [p for p in found if p.name not in known]

    def reindex(self) -> list[str]:
        """Add a row for every run folder the registry does not know, from its config and events; return their ids.

        A rebuilt run keeps its end status and best validation; one that never recorded an end reads interrupted,
        so it can be resumed. Its preset is not in its folder and reads "reindexed".
        """
        with self._tx() as con:  # under the write lock no launch is between making its folder and its row
            known = {row[0] for row in con.execute("SELECT id FROM runs")}
            added = [p.name for p in sorted(self.root.iterdir()) if RUN_ID.fullmatch(p.name) and p.name not in known
                     and (p / "config.json").is_file()]
            for run_id in added:
                row = _rebuilt_row(self.root / run_id)
                if row is not None:
                    con.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                list(row.values()))
        return added


class Registry(_Promoted, _Reindexing):
    """The runs under one root. Every method opens its own connection, so threads and processes may share it."""

    def __init__(self, root: str | os.PathLike | None = None):
        """Open (or create) the registry under root ($BICAN_RUNS or ./runs); raises RegistryError if it is unusable."""
        self.root = Path(root).absolute() if root is not None else runs_root()
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = self.root / "registry.sqlite"
        with self._read() as con:
            con.execute("PRAGMA journal_mode=WAL")
            con.executescript(_SCHEMA)
        self.reindexed = self.reindex() if self._unknown_dirs() else []

    # --- storage ------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute("PRAGMA busy_timeout=30000")
        con.execute("PRAGMA synchronous=NORMAL")
        return con

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """A connection whose storage errors (a damaged file, a read-only folder) become one RegistryError."""
        try:
            with contextlib.closing(self._connect()) as con:
                yield con
        except sqlite3.Error as exc:
            raise RegistryError(self.db, exc) from None

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock first, so read-then-write steps cannot interleave."""
        with self._read() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

    def _update(self, run_id: str, **fields: Any) -> None:
        with self._tx() as con:
            _set(con, run_id, **fields)

    def run_dir(self, run_id: str) -> Path:
        return self.root / check_id(run_id)

    # --- reading ------------------------------------------------------------------------------
    def runs(self) -> list[Run]:
        """Every run, newest first, as stored."""
        with self._read() as con:
            return [Run(**dict(row)) for row in con.execute("SELECT * FROM runs ORDER BY created DESC, id DESC")]

    def get(self, run_id: str) -> Run:
        """The run as stored."""
        with self._read() as con:
            return _fetch(con, run_id)

    def config(self, run_id: str) -> TrainConfig:
        return TrainConfig.from_dict(json.loads((self.run_dir(run_id) / "config.json").read_text()))

    def events(self, run_id: str) -> list[dict]:
        return read_events(self.run_dir(run_id) / "events.jsonl")

    def log_tail(self, run_id: str, lines: int = 20) -> str:
        """The last lines of the trainer's output; progress-bar redraws (\\r) count as lines."""
        path = self.run_dir(run_id) / "log.txt"
        if not path.exists():
            return ""
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - 16384))
            text = f.read().decode("utf-8", "replace")
        return "\n".join([line for line in re.split(r"[\r\n]+", text) if line.strip()][-lines:])

    # --- launching and scheduling -------------------------------------------------------------
    def launch(self, cfg: TrainConfig, *, cuda: bool, preset: str = "custom", token: str | None = None) -> Run:
        """Queue a run and start it if its device slot is free.

        Args:
            cfg: the training configuration; validated here.
            cuda: whether this machine has a CUDA GPU; it decides the slot of a device="auto" run.
            preset: the preset the config started from, for the run table.
            token: an idempotency key; another launch with it within DEDUP_S returns the first run.
        """
        cfg.validate()
        slot = "gpu" if cfg.device == "cuda" or (cfg.device == "auto" and cuda) else "cpu"
        with self._tx() as con:
            if token is not None:
                row = con.execute("SELECT id FROM runs WHERE token = ? AND created > ?",
                                  (token, time.time() - DEDUP_S)).fetchone()
                if row is not None:
                    return self.get(row["id"])
            run_id = new_id()
            directory = self.run_dir(run_id)
            directory.mkdir()
            (directory / "config.json").write_text(cfg.to_json())
            con.execute("INSERT INTO runs (id, token, created, preset, slot, status) VALUES (?, ?, ?, ?, ?, 'queued')",
                        (run_id, token, time.time(), preset, slot))
        self.schedule()
        return self.get(run_id)

    def schedule(self) -> None:
        """One scheduling step: runs whose trainer died become interrupted; free slots start queued runs.

        The Runs page calls it on every refresh and each trainer as it ends, so the queue moves without a
        long-lived scheduler thread anywhere.
        """
        with self._tx() as con:
            _reconcile(con)
            claimed = _claim(con)
        for run_id in claimed:
            self._spawn(run_id)

    def _spawn(self, run_id: str) -> None:
        directory = self.run_dir(run_id)
        command = [sys.executable, "-m", "bican", "train", "--run-id", run_id, "--runs-dir", str(self.root)]
        package_parent = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TQDM_MININTERVAL": "5",
               "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
        try:
            with (directory / "log.txt").open("ab") as log:
                process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                           env=env, start_new_session=True)
        except OSError as exc:
            self._update(run_id, status="failed", reason=f"could not start the trainer: {exc}")
            return
        with self._tx() as con:  # the trainer may have recorded its own pid already; both are the same
            con.execute("UPDATE runs SET pid = ? WHERE id = ? AND pid IS NULL", (process.pid, run_id))

    # --- actions ------------------------------------------------------------------------------
    def cancel(self, run_id: str) -> Run:
        """A queued run is cancelled at once; a running one gets SIGTERM, checkpoints, and ends cancelled."""
        self.schedule()
        with self._tx() as con:
            run = _fetch(con, run_id)
            if run.status not in ACTIVE:
                raise RunError(f"run {run_id} is {run.status}; only queued or running runs can be cancelled")
            if run.status == "queued":
                _set(con, run_id, status="cancelled", reason="cancelled while queued")
            else:
                _set(con, run_id, cancel_requested=1)
        if run.status == "running" and run.pid and _alive(run.pid, run_id):
            os.kill(run.pid, signal.SIGTERM)
        return self.get(run_id)

    def resume(self, run_id: str) -> Run:
        """Queue a cancelled or interrupted run again; its trainer continues from last.safetensors."""
        with self._tx() as con:
            run = _fetch(con, run_id)
            if run.status not in RESUMABLE:
                raise RunError(f"run {run_id} is {run.status}; only cancelled or interrupted runs can be resumed")
            if run.pid and _alive(run.pid, run_id):
                raise RunError(f"the old trainer of run {run_id} (pid {run.pid}) is still alive; end it first")
            _set(con, run_id, status="queued", reason="", pid=None, claimed=None, cancel_requested=0)
        self.schedule()
        return self.get(run_id)

    def delete(self, run_id: str) -> None:
        """Remove a run that is not running, with its directory."""
        doomed = self.root / f".deleted-{check_id(run_id)}"
        with self._tx() as con:
            run = _fetch(con, run_id)
            if run.status == "running":
                raise RunError(f"run {run_id} is running; cancel it first")
            con.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            # Renamed while the row goes, so that no registry opened meanwhile re-indexes the half-removed folder.
            with contextlib.suppress(FileNotFoundError):
                self.run_dir(run_id).rename(doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    # --- the trainer's side -------------------------------------------------------------------
    def begin(self, run_id: str, pid: int) -> tuple[Path, TrainConfig] | None:
        """Mark the run as running in this process; return its directory and config, or None if it was cancelled."""
        with self._tx() as con:
            run = _fetch(con, run_id)
            if run.status == "running" and run.pid not in (None, pid) and _alive(run.pid, run_id):
                raise RunError(f"run {run_id} is already running as pid {run.pid}")
            if run.status not in ("queued", "running", *RESUMABLE):
                raise RunError(f"run {run_id} is {run.status}; it cannot be trained again")
            if run.cancel_requested:
                _set(con, run_id, status="cancelled", reason="cancelled before it started", pid=None)
                return None
            now = time.time()
            _set(con, run_id, status="running", reason="", pid=pid, claimed=run.claimed or now, heartbeat=now)
        return self.run_dir(run_id), self.config(run_id)

    def writer(self, run_id: str) -> RunWriter:
        return RunWriter(self, check_id(run_id))


class EventLog:
    """events.jsonl of a run directory: one JSON object a line, stamped with the wall-clock "time"."""

    def __init__(self, path: Path):
        self.file = path.open("a", encoding="utf-8")
        if self.file.tell():  # a SIGKILL can leave half a line; the next event must start a line of its own
            with path.open("rb") as tail:
                tail.seek(-1, os.SEEK_END)
                if tail.read(1) != b"\n":
                    self.file.write("\n")
        self._lock = threading.Lock()

    def __call__(self, event: dict) -> None:
        with self._lock:
            self.file.write(json.dumps({"time": round(time.time(), 3), **event}) + "\n")
            self.file.flush()

    def close(self) -> None:
        self.file.close()


class RunWriter:
    """A bican.train listener in the trainer's process: beats the heartbeat, keeps progress, sets the end status.

    Use it as a context manager around train(); an exception out of train() marks the run failed with its message.
    """

    def __init__(self, registry: Registry, run_id: str):
        self.registry, self.run_id = registry, run_id
        self.step = 0
        self.end: dict | None = None
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._beat_loop, name="heartbeat", daemon=True)

    def __enter__(self) -> RunWriter:
        self.base_active = self.registry.get(self.run_id).active_s
        self.started = time.time()
        self._beat.start()
        return self

    def __call__(self, event: dict) -> None:
        kind = event["type"]
        if kind == "start":
            self.step = event["resumed_at"]
            self.registry._update(self.run_id, device=event["device"], total_steps=event["total_steps"],
                                  step=event["resumed_at"])
        elif kind == "step":
            self.step = event["step"]
        elif kind == "epoch" and event["best"]:  # the trainer's own verdict, which survives a resume
            self.registry._update(self.run_id, **_best_fields(event))
        elif kind == "end":
            self.end = event

    def __exit__(self, exc_type, exc, tb) -> None:
        self._stop.set()
        self._beat.join()
        fields = {"step": self.step, "active_s": self._active(), "pid": None}
        if self.end is not None:
            fields |= {"status": self.end["status"], "reason": self.end["reason"]}
        elif exc_type is KeyboardInterrupt:
            fields |= {"status": "interrupted", "reason": "interrupted from the keyboard"}
        else:
            fields |= {"status": "failed", "reason": f"{exc_type.__name__ if exc_type else 'exit'}: {exc or 'no end event'}"}
        self.registry._update(self.run_id, **fields)

    def _active(self) -> float:
        return self.base_active + time.time() - self.started

    def _beat_loop(self) -> None:
        while not self._stop.wait(BEAT_S):
            self.registry._update(self.run_id, heartbeat=time.time(), step=self.step,
                                  active_s=self._active())


def launch(cfg: TrainConfig, *, cuda: bool, preset: str = "custom", token: str | None = None,
           root: str | os.PathLike | None = None) -> Run:
    """Queue a training run under root ($BICAN_RUNS or ./runs) and start it when its slot is free."""
    return Registry(root).launch(cfg, cuda=cuda, preset=preset, token=token)


def rebuild(root: str | os.PathLike | None = None) -> tuple[Registry, list[str], Path | None]:
    """Open the registry under root, moving a corrupt registry.sqlite aside first (nothing is deleted); index every
    run folder it does not know. Returns the registry, the ids it added and where a corrupt file went."""
    try:
        registry = Registry(root)  # opening indexes the folders it does not know
        return registry, registry.reindexed, None
    except RegistryError as exc:
        if not exc.corrupt:
            raise
        db = exc.db
    aside = db.with_name(f"{db.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    for suffix in ("-wal", "-shm", ""):  # the log first, so a crash midway cannot replay it onto a new database
        with contextlib.suppress(FileNotFoundError):
            (db.parent / (db.name + suffix)).rename(aside.parent / (aside.name + suffix))
    registry = Registry(db.parent)
    return registry, registry.reindexed, aside


def check_model_name(name: str, taken_in: list[Path]) -> str:
    """The name itself if a run can be promoted under it: a safe file name that no listed or reserved model uses."""
    if not isinstance(name, str) or not MODEL_NAME.fullmatch(name):
        raise RunError(f"model names are 1-48 letters, digits, '-' or '_', starting with a letter or digit; "
                       f"not {name!r}")
    if name == CLASSIFIER:
        raise RunError(f"{name!r} is reserved for the scorer; choose another name")
    for directory in taken_in:
        if (directory / f"{name}.safetensors").exists():
            raise RunError(f"a model named {name!r} exists already, in {directory}; choose another name")
    return name


def read_events(path: Path) -> list[dict]:
    """The events of a run; a partly written last line, or a line a crash cut short, is skipped."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    events = []
    for line in text.split("\n")[:-1]:  # the piece after the last newline is still being written
        with contextlib.suppress(json.JSONDecodeError):
            event = json.loads(line)
            if isinstance(event, dict) and "type" in event:
                events.append(event)
    return events


def history(events: list[dict]) -> tuple[list[dict], list[dict]]:
    """Step and epoch events of the run as it stands: a resume replays steps after its checkpoint; keep the replay."""
    steps: list[dict] = []
    epochs: list[dict] = []
    for event in events:
        if event["type"] == "start":
            steps = [s for s in steps if s["step"] <= event["resumed_at"]]
            epochs = [e for e in epochs if e["step"] <= event["resumed_at"]]
        elif event["type"] == "step":
            steps.append(event)
        elif event["type"] == "epoch":
            epochs.append(event)
    return steps, epochs


def eta_seconds(run: Run, events: list[dict]) -> float | None:
    """Seconds left at the current segment's pace, validation included; None until there is a pace."""
    segment = [e for e in events if e["type"] == "start"][-1:]
    if run.status != "running" or not segment or not run.total_steps:
        return None
    done = run.step - segment[0]["resumed_at"]
    if done <= 0:
        return None
    elapsed = time.time() - segment[0]["time"]
    return elapsed / done * (run.total_steps - run.step)


def _rebuilt_row(directory: Path) -> dict[str, Any] | None:
    """A registry row for a run folder, from what the trainer wrote there; None if its config is unreadable."""
    try:
        cfg = TrainConfig.from_dict(json.loads((directory / "config.json").read_text()))
    except (OSError, ValueError, ConfigError):
        return None
    events = read_events(directory / "events.jsonl")
    starts = [e for e in events if e["type"] == "start"]
    steps, epochs = history(events)
    end = next((e for e in reversed(events) if e["type"] == "end"), None)
    best = [e for e in epochs if e.get("best")][-1:]
    device = starts[-1].get("device", "") if starts else ""
    return {
        "id": directory.name, "created": (directory / "config.json").stat().st_mtime, "preset": "reindexed",
        "slot": "gpu" if cfg.device == "cuda" or device.startswith("cuda") else "cpu",
        "status": end["status"] if end else "interrupted",
        "reason": end["reason"] if end else "re-indexed from its folder, where it had recorded no end",
        "device": device, "step": steps[-1]["step"] if steps else (starts[-1]["resumed_at"] if starts else 0),
        "total_steps": starts[-1].get("total_steps", 0) if starts else 0,
        "active_s": sum(_segment_seconds(events)), **(_best_fields(best[0]) if best else {}),
    }


def _segment_seconds(events: list[dict]) -> Iterator[float]:
    """Wall-clock seconds from each start event to the last event before the next start."""
    first = last = None
    for event in (e for e in events if isinstance(e.get("time"), (int, float))):
        if event["type"] == "start":
            if first is not None:
                yield last - first
            first = event["time"]
        last = event["time"]
    if first is not None:
        yield last - first


def _fetch(con: sqlite3.Connection, run_id: str) -> Run:
    row = con.execute("SELECT * FROM runs WHERE id = ?", (check_id(run_id),)).fetchone()
    if row is None:
        raise RunError(f"no run {run_id}")
    return Run(**dict(row))


def _set(con: sqlite3.Connection, run_id: str, **fields: Any) -> None:
    unknown = set(fields) - set(Run.__dataclass_fields__)  # column names are interpolated, so only known ones
    if unknown:
        raise ValueError(f"not registry columns: {sorted(unknown)}")
    con.execute(f"UPDATE runs SET {', '.join(f'{n} = ?' for n in fields)} WHERE id = ?", [*fields.values(), run_id])


def _best_fields(epoch: dict) -> dict[str, float]:
    return {"best_psnr": epoch["psnr_db"], "best_bytes": epoch.get("bytes_per_digit", epoch["ideal_bytes_per_digit"])}


def _reconcile(con: sqlite3.Connection) -> None:
    """Running rows whose trainer is gone become interrupted (or cancelled, when a cancel was asked for)."""
    now = time.time()
    for row in con.execute("SELECT * FROM runs WHERE status = 'running'").fetchall():
        run = Run(**dict(row))
        reason = _death(run, now)
        if reason:
            status = "cancelled" if run.cancel_requested else "interrupted"
            _set(con, run.id, status=status, reason=reason, pid=None)


def _death(run: Run, now: float) -> str:
    """Why a running row's trainer counts as gone, or '' while it lives."""
    if run.pid is None:
        return "the trainer never started" if now - (run.claimed or now) > STARTUP_S else ""
    if not _alive(run.pid, run.id):
        return f"the trainer (pid {run.pid}) exited without recording an end"
    beat = run.heartbeat or run.claimed or now
    if now - beat > (STALE_S if run.heartbeat != run.claimed else STARTUP_S):
        return f"no heartbeat for {now - beat:.0f} s"
    return ""


def _claim(con: sqlite3.Connection) -> list[str]:
    """Mark the oldest queued runs of each free slot as running (pid to follow); return their ids."""
    claimed = []
    for slot, limit in SLOTS.items():
        busy = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'running' AND slot = ?", (slot,)).fetchone()[0]
        queued = con.execute("SELECT id FROM runs WHERE status = 'queued' AND slot = ? ORDER BY created, id LIMIT ?",
                             (slot, max(0, limit - busy))).fetchall()
        now = time.time()
        for row in queued:
            _set(con, row["id"], status="running", claimed=now, heartbeat=now, pid=None, reason="")
            claimed.append(row["id"])
    return claimed


def _alive(pid: int, run_id: str) -> bool:
    """Whether pid is a live (not zombie) trainer of this run; /proc guards against a recycled pid."""
    if pid == os.getpid():
        return True
    proc = Path(f"/proc/{pid}")
    if not Path("/proc/self").exists():  # no procfs (macOS): signal 0 says the pid exists; the heartbeat does the rest
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # it exists, owned by someone else
            pass
        return True
    try:
        state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        cmdline = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state not in ("Z", "X") and run_id.encode() in cmdline

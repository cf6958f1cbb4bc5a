"""Every environment variable bican reads and every default folder, in one place (standard library only).

| variable           | what                                   | default                                  |
|--------------------|----------------------------------------|------------------------------------------|
| `BICAN_DATA`       | MNIST root (`<root>/MNIST/raw`)        | `./data`                                 |
| `BICAN_CACHE`      | downloads kept between runs            | `~/.cache/bican`                         |
| `BICAN_RUNS`       | training runs and their registry       | `./runs`                                 |
| `BICAN_MODELS`     | one more folder of named models        | none                                     |
| `BICAN_BENCH_JSON` | the benchmark results the studio shows | `docs/bench.json` of the clone           |
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CLONE = PACKAGE.parent  # the repository root, when bican runs from a clone or an editable install


def _env(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


def data_root() -> Path:
    """Where MNIST lives: $BICAN_DATA, else ./data."""
    return _env("BICAN_DATA") or Path("data")


def cache_dir() -> Path:
    """Downloads kept between runs: $BICAN_CACHE, else ~/.cache/bican."""
    return _env("BICAN_CACHE") or Path.home() / ".cache" / "bican"


def runs_root() -> Path:
    """Where training runs live: $BICAN_RUNS, else ./runs (git-ignored)."""
    return (_env("BICAN_RUNS") or Path("runs")).absolute()


def promoted_dir(root: Path | None = None) -> Path:
    """Where promoted runs' models go (under the runs root); bican.weights lists it beside the shipped models."""
    return (root or runs_root()) / "models"


def extra_models() -> Path | None:
    """One more folder of named models, $BICAN_MODELS, searched after the shipped and promoted ones."""
    return _env("BICAN_MODELS")


CLASSIFIER = "classifier"  # the scorer's file name among the models; no codec model may take it


def model_dirs(runs: Path | None = None) -> list[Path]:
    """Where named models live: the shipped ones, runs promoted from the browser (under the runs root), then
    $BICAN_MODELS."""
    extra = extra_models()
    return [shipped_weights(), promoted_dir(runs)] + ([extra] if extra else [])


def shipped_weights() -> Path:
    """The shipped models: the copy a non-editable install puts in the package (pyproject.toml maps the clone's
    weights/ there), else the clone's weights/ folder."""
    installed = PACKAGE / "shipped"
    return installed if installed.is_dir() else CLONE / "weights"


def bench_json() -> Path:
    """The benchmark results the studio shows: $BICAN_BENCH_JSON, else the clone's docs/bench.json."""
    return _env("BICAN_BENCH_JSON") or CLONE / "docs" / "bench.json"

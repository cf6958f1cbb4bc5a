import os

import numpy as np
import pytest
import torch

from bican import data, runs


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        _skip([item for item in items if "gpu" in item.keywords], "needs a CUDA GPU")
    browser = [item for item in items if item.path.name.startswith("test_browser")]
    if browser and os.environ.get("CI", "").lower() not in ("true", "1"):
        from tools import drive  # loads streamlit; only when browser tests are collected

        if drive.find_chromium() is None:  # in CI they run, and fail on the missing browser
            _skip(browser, drive.NO_CHROMIUM)


def _skip(items, reason: str) -> None:
    for item in items:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def mnist_test() -> data.Split:
    """The real MNIST test set, fetched through the project's own loader."""
    data.ensure()
    return data.load("test")


@pytest.fixture(scope="session")
def digits(mnist_test) -> np.ndarray:
    return mnist_test.images[:200]


class Unstarted(runs.Registry):
    """The real registry, except that a claimed run records its id instead of starting a trainer."""

    def _spawn(self, run_id):
        with open(self.root / "spawned.txt", "a") as f:
            f.write(run_id + "\n")

    def spawned(self):
        path = self.root / "spawned.txt"
        return path.read_text().split() if path.exists() else []

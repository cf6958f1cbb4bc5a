import numpy as np
import pytest
import torch

from bican import data, runs


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


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

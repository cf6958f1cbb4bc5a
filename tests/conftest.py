import numpy as np
import pytest
import torch

from bican import data


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

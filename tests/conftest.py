import os
import signal

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


# --- the app in a browser (tools.drive loads streamlit, so only the browser tests import it) ------------------------
@pytest.fixture(scope="module")
def server():
    """The whole app in its own process, shared by a module's tests."""
    from tools import drive

    with drive.serve(drive.APP) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    from tools import drive

    with sync_playwright() as playwright:
        chromium = drive.launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def app(tmp_path):
    """The whole app in its own process, with a fresh run registry; its URL and that registry."""
    from tools import drive

    with drive.serve(drive.APP, {"BICAN_RUNS": str(tmp_path / "runs"), "OMP_NUM_THREADS": "1"}) as server:
        try:
            yield server.url.rstrip("/"), runs.Registry(tmp_path / "runs")
        finally:
            for run in runs.Registry(tmp_path / "runs").runs():  # a trainer outlives the app by design; not the test
                if run.status == "running" and run.pid:
                    os.kill(run.pid, signal.SIGKILL)

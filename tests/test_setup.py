"""Setup as a user meets it: the Makefile's Python check, `pip install .` and `-e .`, browser tests without a browser."""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD_PYTHONS = [Path.home() / ".pyenv/versions/3.10.13/bin/python3", *map(Path, filter(None, [shutil.which("python3.10")]))]


def test_make_stops_on_a_python_older_than_3_11(tmp_path):
    old = next((p for p in OLD_PYTHONS if p.is_file()), None)
    if old is None:
        pytest.skip("no Python 3.10 here to stand in for an old python3")
    for name in ("Makefile", "requirements.txt", "requirements"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python3").symlink_to(old)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["make", "setup"], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode != 0 and not (tmp_path / ".venv").exists()
    assert "bican needs Python 3.11 to 3.13; python3 is Python 3.10.13" in done.stderr


def venv_sharing_our_packages(path: Path) -> Path:
    """A fresh venv that sees this interpreter's packages (torch, pip, setuptools) but not its bican."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    site = Path(subprocess.run([path / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return path / "bin"


@pytest.mark.parametrize("editable", [False, True], ids=["install", "editable"])
def test_pip_install_gives_a_bican_command_that_finds_the_shipped_models(tmp_path, mnist_test, editable):
    bin_dir = venv_sharing_our_packages(tmp_path / "venv")
    source = ROOT
    if not editable:  # build from a copy, so the build leaves nothing in the clone
        source = tmp_path / "clone"
        shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(".venv", "data", "runs", "out", ".git", "*cache*"))
    subprocess.run([bin_dir / "python", "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    *(["-e"] if editable else []), str(source)], check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    np.save(elsewhere / "digits.npy", mnist_test.images[:3])

    def bican(*args: str) -> str:
        return subprocess.run([bin_dir / "bican", *args], cwd=elsewhere, capture_output=True, text=True, check=True).stdout

    assert bican("--version").split() == ["bican", "0.1.0"]
    assert "with entropy-08b" in bican("compress", "digits.npy", "-o", "digits.bican")
    bican("decompress", "digits.bican", "-o", "back.npy")
    assert np.load(elsewhere / "back.npy").shape == (3, 28, 28)
    where = subprocess.run([bin_dir / "python", "-c", "import bican.weights as w; print(w.__file__, w.SHIPPED)"],
                           cwd=elsewhere, capture_output=True, text=True, check=True).stdout.split()
    assert Path(where[0]).is_relative_to(ROOT if editable else tmp_path / "venv")
    assert Path(where[1]) == (ROOT / "weights" if editable else Path(where[0]).parent / "shipped")
    if editable:
        shutil.rmtree(ROOT / "bican.egg-info", ignore_errors=True)


@pytest.mark.parametrize("ci", ["", "true"])
def test_browser_tests_skip_without_chromium_except_in_ci(tmp_path, ci):
    bare_path = tmp_path / "bin"  # a PATH that holds no chromium
    bare_path.mkdir()
    env = {**os.environ, "PATH": str(bare_path), "CI": ci}
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-rs", "-p", "no:cacheprovider",
                           "tests/test_browser.py"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert "no chromium found" in done.stdout
    if ci:
        assert done.returncode == 1 and "skipped" not in done.stdout.splitlines()[-1]
    else:
        assert done.returncode == 0 and " passed" not in done.stdout and "skipped" in done.stdout.splitlines()[-1]

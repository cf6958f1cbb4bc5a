"""The README's Python example, run as written in a fresh interpreter, prints what the README says it prints."""

import os
import re
import subprocess
import sys
from pathlib import Path

from bican import data

ROOT = Path(__file__).resolve().parents[1]
# The example, and the ```text block right after it that shows its output.
EXAMPLE = re.compile(r"```python\n(?P<code>.*?)```\n[^`]*```text\n(?P<output>.*?)```", re.S)


def readme_example() -> tuple[str, list[str]]:
    match = EXAMPLE.search((ROOT / "README.md").read_text())
    assert match, "README.md should hold a ```python example followed by a ```text block of its output"
    return match["code"], match["output"].splitlines()


def numbers(line: str) -> list[float]:
    return [float(n) for n in re.findall(r"\d+(?:\.\d+)?", line)]


def test_readme_example_runs_and_prints_what_it_says(tmp_path, mnist_test):
    code, shown = readme_example()
    env = {**os.environ, "BICAN_DATA": str(data.raw_dir().parents[1].resolve()),  # the root above MNIST/raw
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    got = run.stdout.splitlines()
    assert [line.split(":")[0] for line in got] == [line.split(":")[0] for line in shown], run.stdout
    # Stream lengths and PSNR hold within a small band: where the networks run in float32 rather than bfloat16, the
    # encoder may pick another code for a digit. The archive's model and round trip must match exactly.
    lengths, shown_lengths = numbers(got[0]), numbers(shown[0])
    assert len(lengths) == len(shown_lengths) == 8
    assert all(1 <= n <= 30 and abs(n - s) <= 2 for n, s in zip(lengths, shown_lengths, strict=True)), got[0]
    assert abs(numbers(got[1])[0] - numbers(shown[1])[0]) <= 1.0, got[1]
    assert got[2:] == shown[2:]
    assert (tmp_path / "eight.bican").read_bytes()[:4] == b"BICN"

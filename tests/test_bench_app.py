"""The studio-latency report: targets and the markdown section (the measuring itself is `python -m tools.bench_app`)."""

import os
import time

from tools import bench_app
from tools.bench import replace_section


def stats(p50, p95, n=10):
    return {"n": n, "p50": p50, "p95": p95, "max": p95}


RESULT = {
    "date": "2026-01-01", "model": "m", "chromium": "1.0",
    "machine": {"platform": "Linux", "processor": "x86_64", "cpus": 2, "python": "3.11", "load_average_1min": 1.0,
                "load_average_1min_after": 2.0},
    "compute_ms": stats(20.0, 49.0, 200),
    "idle_server_cpu": {"app": 0.012, "bare": 0.006},
    "mouse_up_to_result_ms": {"app": stats(900.0, 1000.0), "bare": stats(700.0, 800.0)},
    "cold_start_s": {"app": stats(3.0, 3.5, 3), "bare": stats(2.5, 2.6, 3)},
    "concurrent": {"sessions": 8, "rounds": 3, "correct": 24, "of": 24, "app": stats(800.0, 1001.0, 24),
                   "bare": stats(700.0, 900.0, 24)},
}


def test_verdicts_follow_the_issue_targets():
    assert bench_app.verdicts(RESULT) == {"compute": True, "draw": True, "cold": True, "concurrent": False}
    slow = {**RESULT, "mouse_up_to_result_ms": {"app": stats(941.0, 1000.0), "bare": stats(700.0, 800.0)}}
    assert not bench_app.verdicts(slow)["draw"]


def test_section_is_rewritten_in_place(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    replace_section(path, "Studio latency", bench_app.section(RESULT))
    first = path.read_text()
    assert first.startswith("# Benchmarks\n") and "\n## Studio latency\n" in first
    assert "| 900 / 1000 ms | 700 / 800 ms | app ≤ 1.2 × bare + 100 ms | yes |" in first
    assert "sits idle, share of a core | 1.2% | 0.6% |" in first
    assert "correct 24/24 | 800 / 1001 ms | 700 / 900 ms | all correct, p95 ≤ 1 s | **no** |" in first
    path.write_text("# Benchmarks\n\n## Codec\n\ncodec numbers\n\n" + first.split("\n\n", 1)[1] + "\n## Later\n\nkept\n")
    replace_section(path, "Studio latency", bench_app.section({**RESULT, "date": "2026-02-02"}))
    text = path.read_text()
    assert text.count("## Studio latency") == 1 and "2026-02-02" in text and "2026-01-01" not in text
    assert "## Codec\n\ncodec numbers" in text and text.endswith("## Later\n\nkept\n")


def test_cpu_seconds_counts_a_process_cpu_time():
    before = bench_app.cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    assert bench_app.cpu_seconds(os.getpid()) - before >= 0.2

import json
import re

import numpy as np
from PIL import Image

from bican import baselines, bench, weights
from tools import bench as report
from tools import charts


def test_codec_bench_measures_models_and_baselines_in_one_run(tmp_path, mnist_test):
    """`python -m tools.bench`: bican's bench measures (and writes its JSON), then tools writes the docs from it."""
    (tmp_path / "BENCHMARKS.md").write_text("# Benchmarks\n\n## Studio latency\n\nkept\n")
    assert report.main(["codec", "--limit", "60", "--docs", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "bench.json").read_text())
    assert result["n"] == 60
    codecs = {row["codec"] for row in result["rate_distortion"]}
    assert {"BiCAN", "JPEG", "WebP", "PNG", "gzip", "xz"} <= codecs
    models = [row["setting"] for row in result["rate_distortion"] if row["codec"].startswith("BiCAN")]
    assert models == list(weights.available())
    jpeg = [r for r in result["rate_distortion"] if r["codec"] == "JPEG"]
    assert all(r["bytes_per_digit"] > 100 for r in jpeg)  # JPEG headers alone exceed 100 B
    assert sorted(r["psnr_db"] for r in jpeg) == [r["psnr_db"] for r in sorted(jpeg, key=lambda r: r["bytes_per_digit"])]
    formats = {(s["representation"], s["format"]) for s in result["file_sizes"]}
    assert ("original digits", ".npy.gz") in formats and (f"{models[0]} code", ".bican") in formats
    assert result["n_drawn"] == 60
    assert [(r["codec"], r["setting"]) for r in result["drawn"]] == [
        (r["codec"], r["setting"]) for r in result["rate_distortion"] if r["codec"].startswith("BiCAN")]
    assert all(0 < r["agreement"] <= 1 and r["psnr_db"] > 10 for r in result["drawn"])
    text = (tmp_path / "BENCHMARKS.md").read_text()
    assert "## Codec benchmark" in text and "kept" in text
    assert f"| BiCAN | {models[0]} | MNIST |" in text and f"| BiCAN | {models[0]} | drawn |" in text
    assert Image.open(tmp_path / "rd.png").size == (900, 560)


def test_codec_bench_adds_refined_rows_for_entropy_models(mnist_test):
    result = bench.codec_bench(limit=20, refine=1, invert=True)
    refined = {r["setting"]: r for r in result["rate_distortion"] if r["codec"] == "BiCAN --refine --invert"}
    entropy = [r["setting"] for r in result["rate_distortion"] if r["codec"] == "BiCAN"]
    assert list(refined) == [f"{name} --refine 1 --invert" for name in entropy]
    assert all(r["idempotent_fraction"] >= 0.95 for r in refined.values())
    archives = {s["representation"] for s in result["file_sizes"] if s["format"] == ".bican"}
    assert {f"{name} code, --refine 1 --invert" for name in entropy} <= archives


def test_file_sizes_table_matches_numpy(tmp_path):
    array = np.arange(20, dtype=np.uint8).reshape(2, 10)
    rows = {r["format"]: r["bytes"] for r in baselines.file_sizes("x", array)}
    np.save(tmp_path / "x.npy", array)
    assert rows[".npy"] == (tmp_path / "x.npy").stat().st_size
    assert rows[".npy.gz"] < rows[".npy"] + 40


def test_replace_section_keeps_the_others_apart(tmp_path):
    path = tmp_path / "B.md"
    path.write_text("# B\n\n## One\n\nold\n\n## Two\n\nkept\n")
    report.replace_section(path, "One", "new\n\n\n")
    report.replace_section(path, "Three", "added")
    assert path.read_text() == "# B\n\n## One\n\nnew\n\n## Two\n\nkept\n\n## Three\n\nadded\n"


def test_rd_html_renders_offline_with_object_titles(tmp_path):
    rows = [{"codec": "BiCAN", "setting": "m", "bytes_per_digit": 8.5, "psnr_db": 22.2},
            {"codec": "gzip", "setting": "-9", "bytes_per_digit": 160.0, "psnr_db": None}]
    charts.write_rd_html(rows, tmp_path / "rd.html")
    html = (tmp_path / "rd.html").read_text()
    scripts = re.findall(r'<script[^>]*src="([^"]+)"', html)
    assert scripts == ["plotly.min.js"]  # the one script it loads lies beside it: nothing from another host
    assert (tmp_path / "plotly.min.js").stat().st_size > 1_000_000
    assert '"title":{"text":"MNIST test set' in html and '"title":{"text":"PSNR (dB)"}' in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "https://cdn" not in html


def test_tools_bench_rewrites_the_docs_from_stored_results(tmp_path):
    stored = tmp_path / "stored.json"
    rows = [{"codec": "BiCAN", "setting": "m", "bytes_per_digit": 8.5, "psnr_db": 22.2, "agreement": 0.991},
            {"codec": "JPEG", "setting": "quality 5", "bytes_per_digit": 380.0, "psnr_db": 20.6}]
    stored.write_text(json.dumps({"machine": "m", "date": "2026-01-01", "n": 2, "file_sizes": [], "throughput": [],
                                  "rate_distortion": rows, "n_drawn": 2,
                                  "drawn": [{**rows[0], "bytes_per_digit": 9.25, "agreement": 0.95}]}))
    assert report.main(["--from-json", str(stored), "--docs", str(tmp_path / "docs")]) == 0
    written = sorted(p.name for p in (tmp_path / "docs").iterdir())
    assert written == ["BENCHMARKS.md", "bench.json", "plotly.min.js", "rd.html", "rd.png"]
    text = (tmp_path / "docs" / "BENCHMARKS.md").read_text()
    table = [line for line in text.splitlines() if line.startswith(("| BiCAN", "| JPEG"))]
    assert table == ["| BiCAN | m | MNIST | 8.50 | — | 22.20 | — | — | — | 0.991 |",
                         "| BiCAN | m | drawn | 9.25 | — | 22.20 | — | — | — | 0.950 |",
                         "| JPEG | quality 5 | MNIST | 380.00 | — | 20.60 | — | — | — | — |"]


def test_tools_bench_writes_results_from_before_the_drawn_set(tmp_path):
    stored = tmp_path / "stored.json"
    stored.write_text(json.dumps({"machine": "m", "date": "2026-01-01", "n": 2, "file_sizes": [], "throughput": [],
                                  "rate_distortion": [{"codec": "BiCAN", "setting": "m", "bytes_per_digit": 8.5,
                                                       "psnr_db": 22.2}]}))
    assert report.main(["--from-json", str(stored), "--docs", str(tmp_path / "docs")]) == 0
    text = (tmp_path / "docs" / "BENCHMARKS.md").read_text()
    assert "| BiCAN | m | MNIST | 8.50 |" in text and "| drawn |" not in text and "drawn digits" not in text

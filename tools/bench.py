"""Benchmark reports: `python -m bican bench` measures; this writes its results into docs/.

    python -m tools.bench [codec|train] [bican bench's options]   # measure, then write the docs
    python -m tools.bench --from-json docs/bench.json             # write the codec docs again from stored results

The codec benchmark writes docs/bench.json, docs/rd.html (with plotly.min.js beside it), docs/rd.png and the
"Codec benchmark" section of docs/BENCHMARKS.md; the training benchmark its "Training speed, DEVICE" section.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from pathlib import Path

from bican import cli
from tools.charts import rd_png, write_rd_html

DOCS = Path(__file__).resolve().parent.parent / "docs"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tools.bench", description=__doc__.split("\n")[0],
                                epilog="Every other option goes to `python -m bican bench` (see its --help).")
    p.add_argument("--from-json", type=Path, help="write the docs from these stored results instead of measuring")
    p.add_argument("--docs", type=Path, default=DOCS, help="(default: %(default)s)")
    args, rest = p.parse_known_args(argv)
    if args.from_json is not None:
        if rest:
            p.error(f"--from-json measures nothing: drop {' '.join(rest)}")
        result = json.loads(args.from_json.read_text())
    else:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "result.json"
            code = cli.main(["bench", *rest, "--output", str(out)])
            if code:
                return code
            result = json.loads(out.read_text())
    (write_train if "target_db" in result else write_codec)(result, args.docs)
    return 0


def write_codec(result: dict, docs: Path = DOCS) -> None:
    """docs/bench.json, the rate–distortion chart (HTML and PNG) and the tables in docs/BENCHMARKS.md."""
    docs.mkdir(parents=True, exist_ok=True)
    (docs / "bench.json").write_text(json.dumps(result, indent=1))
    write_rd_html(result["rate_distortion"], docs / "rd.html")
    rd_png(result["rate_distortion"], docs / "rd.png")
    replace_section(docs / "BENCHMARKS.md", "Codec benchmark", _markdown(result))


def _markdown(r: dict) -> str:
    drawn = {(row["codec"], row["setting"]): row for row in r.get("drawn", [])}  # results from before the set: none
    lines = [f"Measured by `python -m tools.bench` on {r['date']}, on {r['machine']}, over {r['n']} MNIST test digits"
             + (f" and, for the models, {r['n_drawn']} drawn digits (`bican.drawn`: test digits redrawn as the "
                "studio's canvas draws them, with brush widths, sizes, slants and wobble as people vary them)"
                if drawn else "") + ".",
             "PSNR is at 28x28 on uint8 pixels, from the MSE pooled over the set. Bytes are actual bytes per digit;",
             "per-image formats count their headers. Classifier: its accuracy on the reconstructions against the",
             "intended class; agreement: it reads the reconstruction as it reads the input.",
             "![rate–distortion](rd.png) ([interactive](rd.html))", "",
             "| codec | setting | set | bytes/digit | ideal bytes | PSNR dB | SSIM | idempotent | classifier | agreement |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in r["rate_distortion"]:
        lines.append(_rd_line(row, "MNIST"))
        if (row["codec"], row["setting"]) in drawn:
            lines.append(_rd_line(drawn[row["codec"], row["setting"]], "drawn"))
    lines += ["", "The seed's file-size table (whole test set):", "", "| representation | format | bytes |", "|---|---|---|"]
    lines += [f"| {s['representation']} | {s['format']} | {s['bytes']:,} |" for s in r["file_sizes"]]
    lines += ["", "| throughput | digits/s |", "|---|---|"]
    lines += [f"| {t['what']} | {t['digits_per_s']:,.0f} |" for t in r["throughput"]]
    return "\n".join(lines)


def _rd_line(row: dict, digit_set: str) -> str:
    cells = [_fmt(row.get(k)) for k in ("bytes_per_digit", "ideal_bytes_per_digit", "psnr_db", "ssim",
                                        "idempotent_fraction", "classifier_accuracy", "agreement")]
    cells[2] = cells[2] if row["psnr_db"] is not None else "lossless"
    return f"| {row['codec']} | {row['setting']} | {digit_set} | " + " | ".join(cells) + " |"


def _fmt(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not math.isfinite(value):
        return "∞"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 1.5 else f"{value:.2f}"
    return str(value)


def replace_section(path: Path, title: str, body: str) -> None:
    """Rewrite one '## title' section of a markdown file (up to the next '## '), keeping the others."""
    text = path.read_text() if path.exists() else "# Benchmarks\n\nEvery number here was measured by the command named in it.\n"
    head = f"## {title}\n"
    section = f"{head}\n{body.strip()}\n"
    start = text.find(head)
    if start < 0:
        text = text.rstrip("\n") + f"\n\n{section}"
    else:
        end = text.find("\n## ", start + len(head))
        text = text[:start] + section + (f"\n{text[end + 1:]}" if end >= 0 else "")
    path.write_text(text)


def write_train(result: dict, docs: Path = DOCS) -> None:
    verdict = "reached" if result["reached"] else "did NOT reach"
    body = (f"`python -m tools.bench train` on {result['machine']} ({result['device']}, {result['threads']} "
            f"thread(s), load {result['load'][0]:.1f}): {verdict} {result['target_db']} dB at <= {result['max_bytes']} "
            f"B/digit in {result['wall_s']:.1f} s wall from process start to the best model written (epoch "
            f"{result['epoch']}, {_fmt(result['psnr_db'])} dB, {_fmt(result['bytes_per_digit'])} B/digit); the Train "
            f"page's estimate of the same: {result['estimate_s']:.1f} s ({result['estimate_s'] / result['wall_s']:.2f}x).")
    replace_section(docs / "BENCHMARKS.md", f"Training speed, {result['device']}", body)

if __name__ == "__main__":
    sys.exit(main())

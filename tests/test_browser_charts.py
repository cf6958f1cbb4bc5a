"""docs/rd.html in chromium with every network request refused: the chart still draws, titles included."""

import json
from pathlib import Path

from playwright.sync_api import sync_playwright

from tools import drive
from tools.charts import write_rd_html

ROOT = Path(__file__).resolve().parent.parent


def test_rd_html_draws_offline(tmp_path):
    rows = json.loads((ROOT / "docs" / "bench.json").read_text())["rate_distortion"]
    write_rd_html(rows, tmp_path / "rd.html")
    refused = []
    with sync_playwright() as playwright:
        browser = drive.launch(playwright)
        page = browser.new_page()
        page.route(lambda url: not url.startswith("file:"), lambda route: (refused.append(route.request.url), route.abort()))
        page.goto((tmp_path / "rd.html").as_uri())
        page.wait_for_selector(".js-plotly-plot .scatterlayer .trace", timeout=30_000)
        traces = page.locator(".js-plotly-plot .scatterlayer .trace").count()
        titles = page.locator(".gtitle, .xtitle, .ytitle").all_text_contents()  # SVG text
        browser.close()
    assert traces == len({r["codec"] for r in rows})
    assert "MNIST test set: bytes per digit against PSNR (28x28)" in titles and "PSNR (dB)" in titles
    assert refused == []  # it asked for nothing beyond its own folder

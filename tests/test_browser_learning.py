"""End to end in Debian's chromium: start the quick preset from the Train page, watch its samples change from epoch
to epoch, see the finished run's point on the rate–distortion chart, then promote it and try it on Compress.

The run is the quick preset with the form's Width set to 8 and Epochs to 2, so that it takes seconds instead of the
preset's two minutes (the form is how a user shortens a run too); everything else is the preset's.
"""


from playwright import sync_api

from bican import runs
from tools import drive

RUN_TIMEOUT_MS = 900_000  # two short epochs; generous, as a loaded 2-core machine may be 10 times slower


def _traces(page) -> list[str]:
    """The names of every plotly trace on the page."""
    return page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')]"
                         ".flatMap(g => (g.data || []).map(t => t.name))")


def test_quick_run_shows_its_samples_per_epoch_and_its_point(app):
    url, reg = app
    expect = sync_api.expect
    expect.set_options(timeout=120_000)
    with sync_api.sync_playwright() as p:
        browser = drive.launch(p)
        page = browser.new_page(viewport={"width": 1400, "height": 1100})
        page.set_default_timeout(120_000)
        nav, _ = drive.start_run(page, url, {"Width (channels of the first convolution)": "8", "Epochs": "2"})
        (run,) = reg.runs()
        assert run.preset == "quick"  # the page's default preset

        nav.get_by_text("Runs", exact=True).click()
        samples = page.locator(".st-key-learning-samples img")
        expect(samples.first).to_be_visible(timeout=RUN_TIMEOUT_MS)
        assert samples.count() == 10
        expect(page.get_by_text("Epoch 1: each digit above")).to_be_visible()
        first = samples.first.get_attribute("src")
        # The panel moves on by itself.
        expect(page.get_by_text("Epoch 2: each digit above")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        expect(samples.first).not_to_have_attribute("src", first)
        expect(page.get_by_text("This run:")).to_be_visible(timeout=RUN_TIMEOUT_MS)
        assert f"run {run.id}" in _traces(page) and "BiCAN" in _traces(page)  # its point beside the ladder

        page.get_by_role("button", name="Promote and try").click()
        expect(page.get_by_role("heading", name="Compress a digit")).to_be_visible()
        expect(page.get_by_role("combobox", name="Model")).to_match_aria_snapshot(
            f'- combobox "Model": mine-{run.id[-6:]} (yours, promoted from a run)')  # selected, and marked as yours
        browser.close()
    finished = reg.get(run.id)
    assert finished.status == "done" and finished.promoted == f"mine-{run.id[-6:]}"
    point = next(e for e in runs.read_events(reg.run_dir(run.id) / "events.jsonl") if e["type"] == "test")
    assert point["digits"] == 1000 and 0 < point["bytes_per_digit"] < 40

"""End to end in Debian's chromium: start a tiny run from the Train page, watch its curve grow, cancel it."""


from playwright import sync_api

from tools import drive


def _points(page) -> int:
    """Points in the first trace of the step-loss chart, read from plotly's own data on the element."""
    return page.evaluate("() => { const g = document.querySelector('.js-plotly-plot');"
                         " return g && g.data && g.data.length ? g.data[0].x.length : 0 }")


def test_start_watch_and_cancel_from_the_browser(app):
    url, reg = app
    expect = sync_api.expect
    expect.set_options(timeout=60_000)  # Streamlit streams elements in; timing the estimate takes seconds here
    with sync_api.sync_playwright() as p:
        browser = drive.launch(p)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        # Long enough to watch and then cancel on an idle machine too, where one tiny epoch takes seconds.
        nav, start = drive.start_run(page, url, {"Step limit (0 = none)": "0", "Epochs": "200"})
        start.click()  # a second click after the first launch went through: the form's token makes it the same run
        page.wait_for_timeout(3000)
        expect(page.get_by_text("watch it on the Runs page")).to_be_visible()
        assert len(reg.runs()) == 1

        nav.get_by_text("Runs", exact=True).click()
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        page.wait_for_function("() => { const g = document.querySelector('.js-plotly-plot');"
                               " return g && g.data && g.data.length && g.data[0].x.length > 0 }")
        first = _points(page)
        page.wait_for_function("n => document.querySelector('.js-plotly-plot').data[0].x.length > n", arg=first)
        assert _points(page) > first

        page.get_by_role("button", name="Cancel").click()
        # The run's caption; a rerun may show it twice while the old element fades.
        expect(page.get_by_text("cancelled: stopped on request").first).to_be_visible()
        browser.close()
    (run,) = reg.runs()
    assert run.status == "cancelled" and (reg.run_dir(run.id) / "last.safetensors").exists()

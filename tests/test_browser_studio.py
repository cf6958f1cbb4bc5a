"""The studio in Debian's chromium as a visitor meets it: nothing fetched from elsewhere, state that stays across pages,
a digit opened from a link, the model in reach on a phone; and screenshots of the pages."""

from pathlib import Path

import numpy as np
from playwright.sync_api import expect

import bican
from bican import studio
from tools import drive

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path(__import__("os").environ.get("BICAN_SHOTS", ROOT / "out" / "screenshots"))
expect.set_options(timeout=drive.TIMEOUT_MS)


def open_app(browser, url: str, width: int = 1440, height: int = 900):
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(drive.TIMEOUT_MS)  # clicks too wait as long as a cold app may take
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    page.goto(url)
    expect(page.locator("[data-testid=stApp]")).to_have_attribute("data-test-script-state", "notRunning")
    return page, requests


def choose_model(page, name: str) -> None:
    page.get_by_role("combobox", name="Model").click()
    page.get_by_role("option", name=studio.model_words(name), exact=True).click()


def go(page, title: str) -> None:
    page.get_by_role("link", name=title).first.click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    expect(page.locator("[data-testid=stApp]")).to_have_attribute("data-test-script-state", "notRunning")


def test_nothing_is_fetched_from_elsewhere_and_the_favicon_is_the_apps(browser, server):
    page, requests = open_app(browser, server.url)
    for title in ("Explore", "Benchmark", "Compress"):
        go(page, title)
    outside = [url for url in requests if not url.startswith((server.url, "data:", "blob:"))]
    assert not outside
    icon = page.locator("link[rel*=icon]").first.get_attribute("href")
    served = page.request.get(server.url.rstrip("/") + "/" + icon.lstrip("/") if not icon.startswith("http") else icon)
    assert served.ok and served.body() == (ROOT / "static" / "favicon.png").read_bytes()
    page.context.close()


def test_model_and_picked_digit_stay_across_pages(browser, server, mnist_test):
    page, _ = open_app(browser, server.url)
    choose_model(page, "entropy-03b")
    page.get_by_text("Pick", exact=True).click()
    number = page.get_by_label("Test digit")
    number.fill("321")
    number.press("Enter")
    low = bican.load("entropy-03b")
    shown = studio.hex_text(low.encode(mnist_test.images[321])[0][0])
    expect(page.locator(drive.HEX)).to_have_text(shown)
    go(page, "Explore")
    expect(page.locator(".st-key-model input")).to_have_value(studio.model_words("entropy-03b"))
    go(page, "Compress")
    expect(page.locator(".st-key-model input")).to_have_value(studio.model_words("entropy-03b"))
    expect(page.locator(drive.HEX)).to_have_text(shown)
    page.context.close()


def test_a_drawing_stays_on_the_canvas_across_pages(browser, server):
    page = drive.open_page(browser, server.url)
    drive.stroke(page, 3)
    expect(page.locator(drive.HEX)).to_be_visible()
    drawn = page.locator(drive.HEX).inner_text()
    strokes = drive.drawn_pixels(page)
    go(page, "Explore")
    go(page, "Compress")
    expect(page.locator(drive.HEX)).to_have_text(drawn)
    expect(page.locator(drive.CANVAS).first).to_be_visible()
    page.wait_for_timeout(500)  # the canvas redraws its kept strokes asynchronously
    again = drive.drawn_pixels(page)
    assert (again[..., 0] > 127).sum() > 0.9 * (strokes[..., 0] > 127).sum()
    page.context.close()


def test_a_shared_link_opens_its_digit(browser, server, mnist_test):
    codec = bican.load(bican.DEFAULT_MODEL)
    stream = codec.encode(mnist_test.images[77])[0][0]
    page, _ = open_app(browser, f"{server.url}?model={codec.name}&code={stream.hex()}")
    expect(page.locator(drive.HEX)).to_have_text(studio.hex_text(stream))
    expect(page.get_by_text(f"Decoded from the link: {len(stream)} bytes of {codec.name}")).to_be_visible()
    # The result's own share link carries the same code back.
    href = page.locator(".bican-share").get_attribute("href")
    assert href == f"?model={codec.name}&code={stream.hex()}"
    page.context.close()
    page, _ = open_app(browser, f"{server.url}?model={codec.name}&code=not-hex")
    expect(page.get_by_text("This link's code cannot be shown")).to_be_visible()
    assert page.locator("[data-testid=stException]").count() == 0
    page.context.close()


def test_on_a_phone_the_model_is_in_reach(browser, server):
    page, _ = open_app(browser, server.url, 390, 844)
    expect(page.locator(".st-key-model")).to_be_in_viewport()
    choose_model(page, "entropy-05b")
    expect(page.locator(".st-key-model input")).to_have_value(studio.model_words("entropy-05b"))
    page.context.close()


def test_screenshots(browser, server):
    """The Compress page after a stroke, Explore and Benchmark, at 1440x900, for the docs and the record."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page, _ = open_app(browser, server.url)
    drive.stroke(page, 3)
    expect(page.locator(drive.HEX)).to_be_visible()
    page.screenshot(path=SHOTS / "compress.png")
    page.screenshot(path=SHOTS / "compress-full.png", full_page=True)
    go(page, "Explore")
    expect(page.get_by_text("left: the test digit")).to_be_visible()
    page.screenshot(path=SHOTS / "explore.png")
    go(page, "Benchmark")
    expect(page.locator(".js-plotly-plot")).to_be_visible()
    page.screenshot(path=SHOTS / "benchmark.png")
    for name in ("compress", "explore", "benchmark"):
        assert np.asarray(__import__("PIL.Image").Image.open(SHOTS / f"{name}.png")).shape[:2] == (900, 1440)
    page.context.close()

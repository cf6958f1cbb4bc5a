"""The studio in chromium: draw, pick, upload. Without a chromium these skip, except under CI=true, where they fail."""

from pathlib import Path

import pytest
from playwright.sync_api import expect

import bican
from bican import bitstream, studio
from tools import drive

SCREENSHOT = Path(__file__).resolve().parent.parent / "out" / "screenshots" / "compress.png"
expect.set_options(timeout=drive.TIMEOUT_MS)  # a cold app imports torch and loads a model first


@pytest.fixture
def page(browser, server):
    fresh = drive.open_page(browser, server.url)
    yield fresh
    fresh.context.close()


@pytest.fixture(scope="module")
def codec() -> bican.Codec:
    return bican.load(bican.DEFAULT_MODEL)


def test_drawing_shows_the_bytes_and_the_reconstruction(page, codec):
    drive.stroke(page, 1)
    expect(page.locator(drive.HEX)).to_be_visible()
    # The input, its reconstruction and their difference, then the ladder: each fast rung, JPEG and WebP.
    expect(page.locator(".st-key-result img")).to_have_count(3 + len(studio.ladder_names(slow=False)) + 2)
    expect(page.locator(".st-key-result").get_by_text("reconstruction", exact=True)).to_be_visible()
    # The bytes the app shows are the ones this process computes from the pixels the browser drew.
    expect(page.locator(drive.HEX)).to_have_text(drive.expected_hex(codec, drive.drawn_pixels(page)))
    # The download is the digit's own archive: it decodes to the bytes shown.
    with page.expect_download() as download:
        page.locator(drive.DOWNLOAD_LINK).click()
    archive = Path(download.value.path()).read_bytes()
    assert studio.hex_text(bitstream.unpack(archive).payload) == page.locator(drive.HEX).inner_text()
    assert bican.decode_archive(archive)[1].shape == (1, 28, 28)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOT, full_page=True)


def test_picking_a_digit(page, codec, mnist_test):
    page.get_by_text("Pick", exact=True).click()
    number = page.get_by_label("Test digit")
    number.fill("321")
    number.press("Enter")
    expect(page.locator(drive.HEX)).to_have_text(studio.hex_text(codec.encode(mnist_test.images[321])[0][0]))
    expect(page.get_by_text("Test digit 321, labelled")).to_be_visible()


def test_a_corrupt_upload_shows_an_error_and_the_app_stays_up(page, codec):
    upload = page.locator(".st-key-bican_upload input[type=file]")
    upload.set_input_files({"name": "bad.bican", "mimeType": "application/octet-stream", "buffer": b"BICN" + bytes(40)})
    expect(page.get_by_text("bad.bican could not be decoded")).to_be_visible()
    drive.stroke(page, 0)
    # The canvas draws the stroke's pixels asynchronously: read them once the app has shown a result.
    expect(page.locator(drive.HEX)).to_be_visible()
    expect(page.locator(drive.HEX)).to_have_text(drive.expected_hex(codec, drive.drawn_pixels(page)))

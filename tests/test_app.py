"""Each studio page driven through streamlit's AppTest: real models, real MNIST, no browser."""

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

import bican
from bican import studio
from pages._ui import HEX_CLASS

PAGES = Path(__file__).resolve().parent.parent / "pages"


def page(name: str) -> AppTest:
    return AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=120).run()


@pytest.fixture(scope="module")
def codec() -> bican.Codec:
    return bican.load(bican.DEFAULT_MODEL)


def results(at: AppTest) -> list[str]:
    """The compress page's result: the markdown holding the stream's hex (none before a digit is given)."""
    return [m.value for m in at.markdown if HEX_CLASS in m.value]


def shown_hex(at: AppTest) -> str:
    [html] = results(at)
    [lines] = re.findall(rf'<div class="{HEX_CLASS}">(.*?)</div>', html)
    return "\n".join(re.findall(r"<code>(.*?)</code>", lines))


def shown_images(at: AppTest) -> dict[str, np.ndarray]:
    """The result's inline PNGs by their alt text, decoded."""
    [html] = results(at)
    found = re.findall(r'<img src="data:image/png;base64,([^"]+)" alt="([^"]+)"', html)
    return {alt: np.asarray(Image.open(io.BytesIO(base64.b64decode(data)))) for data, alt in found}


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("name", ["compress", "explore", "benchmark"])
def test_page_renders(name, mnist_test):
    at = page(name)
    assert not at.exception
    assert not at.error


def test_picking_digit_n_shows_its_bytes(codec, mnist_test):
    at = page("compress")
    at.radio(key="source").set_value("Pick").run()
    at.number_input(key="pick_index").set_value(1234).run()
    assert not at.exception
    streams, _ = codec.encode(mnist_test.images[1234])
    assert shown_hex(at) == studio.hex_text(streams[0])
    expected = studio.analyse(codec, mnist_test.images[1234], bican.load_classifier())
    [html] = results(at)
    assert f"| **{len(streams[0])} B** ({len(streams[0]) - 784:+d} B vs raw) | {expected.ideal_bits / 8:.2f} B " in html
    assert f"| 784 B | {expected.png_bytes} B |" in html
    assert f"| {expected.psnr_db:.1f} dB | {expected.ssim:.3f} | {expected.predicted} → {expected.predicted_recon} | " in html
    assert ("| ✓ same bytes |" if expected.recompresses else "| ✗ other bytes |") in html
    images = shown_images(at)
    assert list(images) == ["input", "reconstruction", "|difference|"]
    for image, digit in zip(images.values(), [expected.digit, expected.recon, expected.difference]):
        assert np.array_equal(image, digit)


def test_choosing_another_model_recodes_the_digit(mnist_test):
    at = page("compress")
    at.radio(key="source").set_value("Pick").run()
    at.number_input(key="pick_index").set_value(5).run()
    other = next(name for name in bican.available() if name != bican.DEFAULT_MODEL)
    at.selectbox(key="model").set_value(other).run()
    assert not at.exception
    assert shown_hex(at) == studio.hex_text(bican.load(other).encode(mnist_test.images[5])[0][0])


def test_picking_by_class_gives_that_class(mnist_test):
    at = page("compress")
    at.radio(key="source").set_value("Pick").run()
    at.radio(key="pick_by").set_value("class").run()
    at.selectbox(key="pick_class").set_value(7).run()
    at.number_input(key="pick_nth").set_value(3).run()
    index = int(np.flatnonzero(mnist_test.labels == 7)[3])
    assert f"Test digit {index}, labelled 7" in [c.value for c in at.caption]


def test_without_mnist_the_page_offers_the_fetch_and_drawing_still_works(tmp_path, monkeypatch, codec, mnist_test):
    monkeypatch.setenv("BICAN_DATA", str(tmp_path))
    at = page("compress")
    at.radio(key="source").set_value("Pick").run()
    assert at.button(key="fetch_mnist") and "not on this machine" in at.info[0].value
    at.radio(key="source").set_value("Draw").run()
    at.session_state["canvas"] = canvas_state(studio.canvas_of(mnist_test.images[7]))
    at.run()
    assert shown_hex(at) == studio.hex_text(codec.encode(studio.from_canvas(studio.canvas_of(mnist_test.images[7])))[0][0])


def canvas_state(rgba: np.ndarray) -> dict:
    """The value st_canvas keeps in session_state after a drawing: the Fabric.js JSON and a PNG data URL."""
    url = "data:image/png;base64," + base64.b64encode(png(rgba)).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": url}, "backgroundFit": None}


def test_drawing_in_session_state_gives_a_reconstruction(codec, mnist_test):
    at = page("compress")
    assert not results(at)  # a blank canvas: nothing to compress yet
    canvas = studio.canvas_of(mnist_test.images[42])
    at.session_state["canvas"] = canvas_state(canvas)
    at.run()
    assert not at.exception
    streams, _ = codec.encode(studio.from_canvas(canvas))
    assert shown_hex(at) == studio.hex_text(streams[0])
    assert np.array_equal(shown_images(at)["reconstruction"], codec.decode(streams)[0])


def test_png_upload(codec, mnist_test):
    at = page("compress")
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="png_upload").set_value(("five.png", png(mnist_test.images[0]), "image/png")).run()
    assert shown_hex(at) == studio.hex_text(codec.encode(mnist_test.images[0])[0][0])
    at.file_uploader(key="png_upload").set_value(("bad.png", b"\x89PNG not really", "image/png")).run()
    assert not at.exception
    assert "bad.png: not a readable PNG" in at.error[0].value


def test_bican_upload_decodes_and_a_corrupt_one_errors(codec, mnist_test):
    at = page("compress")
    archive = codec.pack(codec.symbols(mnist_test.images[:3]))
    at.file_uploader(key="bican_upload").set_value(("three.bican", archive, "application/octet-stream")).run()
    assert "three.bican: 3 digit(s)" in at.success[0].value
    damaged = archive[:-5] + bytes([archive[-5] ^ 0xFF]) + archive[-4:]
    at.file_uploader(key="bican_upload").set_value(("bad.bican", damaged, "application/octet-stream")).run()
    assert not at.exception
    assert "bad.bican could not be decoded" in at.error[0].value
    assert "CRC32" in at.error[0].value


def test_explore_sliders_move_the_code(codec, mnist_test):
    at = page("explore")
    low, high = studio.symbol_range(codec)
    assert len(at.slider) == codec.latents + 1  # the latents, and the interpolation's steps
    code = codec.symbols(mnist_test.images[0])[0]
    assert [s.value for s in at.slider][:codec.latents] == code.tolist()
    moved = code.copy()
    moved[0] = high[0] if code[0] != high[0] else low[0]
    at.slider[0].set_value(int(moved[0])).run()
    bits, size = studio.code_cost(codec, moved)
    metric = at.metric[0]
    assert (metric.value, metric.proto.delta) == (f"{size} B actual", f"{bits:.1f} bits ideal")


def test_explore_interpolation_strip(codec, mnist_test):
    at = page("explore")
    at.slider(key="interp_steps").set_value(5).run()
    strip = at.image[-1]
    ends = codec.symbols(mnist_test.images[:2])
    assert strip.proto.imgs[0].caption.startswith("ideal bits: ")
    assert len(strip.proto.imgs[0].caption.split(",")) == 5
    assert strip.proto.imgs[0].caption.endswith(f"{codec.ideal_bits(ends[1:])[0]:.0f}")


BENCH = {
    "machine": "test machine", "date": "2026-01-01",
    "rate_distortion": [
        {"codec": "bican", "setting": "mid", "bytes_per_digit": 8.0, "psnr_db": 21.0},
        {"codec": "bican", "setting": "low", "bytes_per_digit": 5.0, "psnr_db": 19.0},
        {"codec": "PNG", "setting": "optimize", "bytes_per_digit": 250.0, "psnr_db": None},
    ],
    "file_sizes": [{"representation": "seed latents", "format": "raw", "bytes": 200}],
    "throughput": [{"what": "encode", "digits_per_s": 1000.0}],
}


def test_benchmark_reads_stored_results(tmp_path, monkeypatch):
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(BENCH))
    monkeypatch.setenv("BICAN_BENCH_JSON", str(path))
    at = page("benchmark")
    assert not at.exception
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    [curve] = figure["data"]
    assert (curve["name"], curve["x"], curve["y"]) == ("bican", [5.0, 8.0], [19.0, 21.0])
    assert "test machine" in at.caption[0].value
    assert len(at.dataframe) == 3  # lossless, file sizes, throughput


def test_benchmark_without_results_offers_to_compute(tmp_path, monkeypatch):
    monkeypatch.setenv("BICAN_BENCH_JSON", str(tmp_path / "missing.json"))
    at = page("benchmark")
    assert at.button(key="bench_compute")
    (tmp_path / "missing.json").write_text("{not json")
    at.run()
    assert "not readable JSON" in at.error[0].value

"""Each studio page driven through streamlit's AppTest: real models, real MNIST, no browser."""

import base64
import io
import json
import re
from html import unescape
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
    assert list(images)[:3] == ["input", "reconstruction", "|difference|"]
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
    caption = at.image[-1].proto.imgs[0].caption
    ends = codec.symbols(mnist_test.images[:2])
    assert caption.startswith("From test digit 0 to 1 in 5 steps: each frame decodes the code a fraction of the way")
    bits = caption.split("Ideal bits of each frame's code: ")[1].split(", ")
    assert len(bits) == 5 and bits[-1] == f"{codec.ideal_bits(ends[1:])[0]:.0f}"


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
    assert len(at.dataframe) == 4  # lossy, lossless, file sizes, throughput


def test_benchmark_without_results_offers_to_compute(tmp_path, monkeypatch):
    monkeypatch.setenv("BICAN_BENCH_JSON", str(tmp_path / "missing.json"))
    at = page("benchmark")
    assert at.button(key="bench_compute")
    (tmp_path / "missing.json").write_text("{not json")
    at.run()
    assert "not readable JSON" in at.error[0].value


# --- orientation, ladder, inside the code ---------------------------------------------------------
def picked(index: int) -> AppTest:
    at = page("compress")
    at.radio(key="source").set_value("Pick").run()
    at.number_input(key="pick_index").set_value(index).run()
    assert not at.exception
    return at


def result_html(at: AppTest) -> str:
    [html] = results(at)
    return html


@pytest.fixture
def promoted(tmp_path, monkeypatch):
    """A promoted model named `mine` (a copy of the default one), as a run's promote leaves it."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "mine.safetensors").write_bytes(bican.weights.available()[bican.DEFAULT_MODEL].read_bytes())
    monkeypatch.setenv("BICAN_RUNS", str(tmp_path))
    return models


def test_compress_page_explains_itself(promoted, mnist_test):
    at = picked(3)
    assert "learned compressor" in at.markdown[0].value and "real" in at.markdown[0].value
    chooser = at.selectbox(key="model")
    assert chooser.format_func(bican.DEFAULT_MODEL) == "entropy-08b (about 8 bytes per digit)"
    assert chooser.format_func("entropy-03b") == "entropy-03b (about 3 bytes per digit)"
    assert chooser.format_func("mine") == "mine (yours, promoted from a run)"
    assert "seed" in chooser.options[-1] or any("original fixed 8-bit code" in o for o in chooser.options)
    assert not at.sidebar.selectbox  # on the page, in reach on a phone
    assert chooser.help and "bytes" in chooser.help
    html = result_html(at)
    for term in ("<b>PSNR</b>: peak signal-to-noise ratio", "<b>SSIM</b>: structural similarity", "<b>Ideal</b>:",
                 "<b>Recompression</b>:", "<b>Class</b>:"):
        assert term in html


def test_ladder_shows_every_fast_rung_then_the_slow_ones_on_request(codec, mnist_test):
    at = picked(7)
    digit = mnist_test.images[7]
    fast = [n for n in bican.available() if studio.is_shipped(n) and not bican.codec.load_cached(n).invert]
    assert list(shown_images(at))[3:] == sorted(fast, key=lambda n: (n == "seed", n)) + ["JPEG", "WebP"]
    html = unescape(result_html(at))  # names may reach the page as entities; compare their text
    assert "entropy-12b" not in list(shown_images(at)) and "computed only when asked" in html
    classifier = bican.load_classifier()
    for name in fast:  # each rung's bytes, image and class, computed here through the codec's own round trip
        rung_codec = bican.codec.load_cached(name)
        [stream], _ = rung_codec.encode(digit)
        recon = rung_codec.decode([stream])[0]
        reads = int(studio.probabilities(classifier, recon[None])[0].argmax())
        assert f"<b>{name}</b><br><small>{len(stream):,} B · {bican.evaluate.psnr(digit, recon):.1f} dB · reads {reads}" in html
        assert np.array_equal(shown_images(at)[name], recon)
    jpeg = len(bican.images.encode(digit, "JPEG", quality=1))
    webp = len(bican.images.encode(digit, "WEBP", quality=0, method=6))
    assert f"<b>JPEG</b><br><small>{jpeg:,} B" in html and f"<b>WebP</b><br><small>{webp:,} B" in html
    assert jpeg > 100 > len(codec.encode(digit)[0][0])  # the contrast the ladder exists to show
    at.toggle(key="ladder_slow").set_value(True).run()
    names = list(shown_images(at))[3:]
    assert "entropy-12b" in names and "entropy-21b" in names and "computed only when asked" not in result_html(at)


def test_bits_per_latent_are_the_priors_and_sum_to_the_ideal(codec, mnist_test):
    at = picked(11)
    html = result_html(at)
    bars = [float(b) for b in re.findall(r'class="bican-bit" title="y\d+: ([\d.]+) bits"', html)]
    symbols = codec.symbols(mnist_test.images[11])
    per_latent, index = codec.tables.latent_bits(symbols)
    assert bars == [float(f"{b:.1f}") for b in per_latent[0]] and len(bars) == codec.latents
    assert per_latent.sum() + index[0] == pytest.approx(codec.ideal_bits(symbols)[0])
    assert f"choosing the mixture component takes {index[0]:.1f} bits more" in html


def test_classifier_top_three_and_warnings(codec, mnist_test):
    at = picked(0)
    probs = studio.probabilities(bican.load_classifier(), mnist_test.images[:1])[0]
    [(first, p1), (second, p2), (third, p3)] = studio.top(probs)
    assert f"reads the input as {first} ({p1:.0%}), {second} ({p2:.0%}), {third} ({p3:.0%})" in result_html(at)
    assert "⚠️" not in result_html(at)
    noise = (np.random.default_rng(0).random((28, 28)) > 0.7).astype(np.uint8) * 255
    assert studio.analyse(codec, noise, bican.load_classifier()).unsure
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="png_upload").set_value(("noise.png", png(noise), "image/png")).run()
    assert "This does not look much like a digit" in result_html(at)


LOST = 1112  # an MNIST test 4 that, drawn back onto the canvas, the default model turns into a digit read as a 6


def test_a_lost_digit_is_said_beside_the_reconstruction_with_the_rung_that_keeps_it(codec, mnist_test):
    classifier, canvas = bican.load_classifier(), studio.canvas_of(mnist_test.images[LOST])
    digit = studio.from_canvas(canvas)
    result = studio.analyse(codec, digit, classifier)
    assert result.predicted == mnist_test.labels[LOST] != result.predicted_recon  # the premise, with the real models
    keeper = studio.keeper(studio.ladder(digit, classifier))
    assert keeper is not None and keeper.name != codec.name
    at = page("compress")
    at.session_state["canvas"] = canvas_state(canvas)
    at.run()
    html = unescape(result_html(at))
    said = f"The reconstruction reads as {result.predicted_recon}; the input reads as {result.predicted}."
    assert said in html and html.index(said) < html.index("The stream")  # next to the reconstruction, not below
    assert f"<b>{keeper.name}</b> keeps it a {result.predicted} in {keeper.size} B" in html
    at.session_state["canvas"] = canvas_state(studio.canvas_of(mnist_test.images[42]))
    at.run()
    assert "⚠️" not in result_html(at) and "The reconstruction reads as" not in result_html(at)


# --- state, links, small things ---------------------------------------------------------------------
def test_the_drawing_and_the_upload_survive_switching_input(codec, mnist_test):
    at = page("compress")
    at.session_state["canvas"] = canvas_state(studio.canvas_of(mnist_test.images[42]))
    at.run()
    drawn = shown_hex(at)
    assert np.array_equal(at.session_state["drawn_digit"], studio.from_canvas(studio.canvas_of(mnist_test.images[42])))
    at.radio(key="source").set_value("Upload").run()
    at.file_uploader(key="png_upload").set_value(("five.png", png(mnist_test.images[0]), "image/png")).run()
    uploaded = shown_hex(at)
    at.radio(key="source").set_value("Draw").run()
    assert shown_hex(at) == drawn
    assert at.session_state["canvas_initial"] == {"objects": [{"type": "path"}]}  # the strokes go back to the canvas
    at.radio(key="source").set_value("Upload").run()
    assert shown_hex(at) == uploaded == studio.hex_text(codec.encode(mnist_test.images[0])[0][0])


def test_share_link_opens_the_digit(codec, mnist_test):
    at = picked(99)
    stream = codec.encode(mnist_test.images[99])[0][0]
    query = f"?model={codec.name}&amp;code={stream.hex()}"
    assert f'<a class="bican-share" href="{query}">' in result_html(at)
    opened = AppTest.from_file(str(PAGES / "compress.py"), default_timeout=120)
    opened.query_params.update(model=codec.name, code=stream.hex())
    opened.run()
    assert not opened.exception and opened.radio(key="source").value == "Link"
    assert shown_hex(opened) == studio.hex_text(stream)  # the decoded digit compresses to the same bytes
    assert np.array_equal(shown_images(opened)["input"], codec.decode([stream])[0])
    assert f"Decoded from the link: {len(stream)} bytes of {codec.name}" in [c.value for c in opened.caption]


@pytest.mark.parametrize("params, message", [
    ({"model": "entropy-08b", "code": "zz"}, "is not hex"),
    ({"model": "entropy-08b", "code": ""}, "holds 1 to 256 bytes"),
    ({"model": "entropy-08b", "code": "ff" * 300}, "holds 1 to 256 bytes"),
    ({"model": "nope", "code": "0102"}, "needs model 'nope', which is not installed"),
])
def test_a_bad_link_gives_one_clear_line(params, message):
    at = AppTest.from_file(str(PAGES / "compress.py"), default_timeout=120)
    at.query_params.update(params)
    at.run()
    assert not at.exception and len(at.error) == 1 and message in at.error[0].value


def test_a_foreign_code_gives_one_clear_line(mnist_test):
    seed_stream = bican.load("seed").encode(mnist_test.images[5])[0][0]  # 200 bytes: no entropy-03b stream
    at = AppTest.from_file(str(PAGES / "compress.py"), default_timeout=120)
    at.query_params.update(model="entropy-03b", code=seed_stream.hex())
    at.run()
    assert not at.exception and len(at.error) == 1 and "not a digit written by entropy-03b" in at.error[0].value


def test_download_says_its_size_and_why(codec, mnist_test):
    html = result_html(picked(5))
    [data] = re.findall(r'href="data:application/octet-stream;base64,([^"]+)"', html)
    archive = base64.b64decode(data)
    stream = codec.encode(mnist_test.images[5])[0][0]
    assert (f"({len(archive)} B: the {len(stream)}-byte stream plus {len(archive) - len(stream)} B that let any copy "
            "of bican check and decode it alone: magic, format version, model fingerprint, digit count and CRC32)") in html


def test_number_inputs_show_their_ranges(mnist_test):
    at = picked(0)
    assert at.number_input(key="pick_index").label == "Test digit (0–9,999)"
    at.radio(key="pick_by").set_value("class").run()
    members = int((mnist_test.labels == 0).sum())
    assert at.number_input(key="pick_nth").label == f"Which 0 (0–{members - 1:,})"


# --- photos of paper ----------------------------------------------------------------------------------
def test_a_photo_of_paper_becomes_its_digit(mnist_test):
    from test_images import photo

    at = page("compress")
    at.radio(key="source").set_value("Upload").run()
    index = int(np.flatnonzero(mnist_test.labels == 3)[0])
    at.file_uploader(key="png_upload").set_value(("photo.png", photo(mnist_test.images[index], 1), "image/png")).run()
    assert not at.exception
    assert "reads the input as 3 (" in result_html(at)
    blank = photo(np.zeros((28, 28), np.uint8), 2)
    at.file_uploader(key="png_upload").set_value(("paper.png", blank, "image/png")).run()
    assert "paper.png: no ink found" in at.error[0].value


# --- explore and benchmark ----------------------------------------------------------------------------
def test_explore_shows_each_latents_cost_the_original_and_resets(codec, mnist_test):
    at = page("explore")
    code = codec.symbols(mnist_test.images[0])[0]
    costs = [c.value for c in at.caption if c.value.endswith(" bits")]
    assert costs == [f"{b:.1f} bits" for b in studio.latent_bits(codec, code[None])[0]]
    assert at.image[0].proto.imgs[0].caption == "left: the test digit · right: what this code decodes to"
    moved = code.copy()
    moved[3] = codec.high[3] if code[3] != codec.high[3] else codec.low[3]
    at.slider[3].set_value(int(moved[3])).run()
    costs = [c.value for c in at.caption if c.value.endswith(" bits")]
    assert costs[3] == f"{studio.latent_bits(codec, moved[None])[0][3]:.1f} bits"
    at.button(key="explore_reset").click().run()
    assert [s.value for s in at.slider][:codec.latents] == code.tolist()


def test_benchmark_headline_labels_and_tables(monkeypatch):
    monkeypatch.delenv("BICAN_BENCH_JSON", raising=False)
    at = page("benchmark")
    rows = json.loads(Path(studio.__file__).parent.parent.joinpath("docs", "bench.json").read_text())["rate_distortion"]
    ours = next(r for r in rows if r["setting"] == bican.DEFAULT_MODEL)
    webp = min((r for r in rows if r["codec"] == "WebP"), key=lambda r: r["bytes_per_digit"])
    headline = at.subheader[0].value
    assert headline.startswith(f"{bican.DEFAULT_MODEL} stores a digit in {ours['bytes_per_digit']:.1f} B at "
                               f"{ours['psnr_db']:.1f} dB; WebP needs {webp['bytes_per_digit']:,.0f} B")
    assert "JPEG never gets that small" in headline
    figure = json.loads(at.get("plotly_chart")[0].proto.spec)
    ladder = next(t for t in figure["data"] if t["name"] == "BiCAN")
    assert "text" in ladder["mode"] and bican.DEFAULT_MODEL in ladder["text"]
    lossy = at.dataframe[0].value
    assert list(lossy.columns) == ["Codec", "Setting", "Bytes per digit", "PSNR (dB)", "SSIM", "Classifier accuracy",
                                   "Recompresses"]
    row = lossy[lossy["Setting"] == bican.DEFAULT_MODEL].iloc[0]
    assert row["SSIM"] == f"{ours['ssim']:.3f}" and row["Classifier accuracy"] == f"{ours['classifier_accuracy']:.1%}"
    sizes = at.dataframe[2].value
    assert all("_" not in column for frame in at.dataframe for column in frame.value.columns)
    assert sizes["Bytes"].iloc[0] == "18,269,443"


# --- runs ----------------------------------------------------------------------------------------------
@pytest.fixture
def finished(tmp_path, monkeypatch):
    """A registry under tmp_path holding one finished run with a best model (the default model's file)."""
    import dataclasses

    from conftest import Unstarted

    from bican.config import preset

    monkeypatch.setenv("BICAN_RUNS", str(tmp_path))
    reg = Unstarted(tmp_path)
    run = reg.launch(dataclasses.replace(preset("tiny"), max_steps=20), cuda=False)
    reg._update(run.id, status="done")
    (reg.run_dir(run.id) / "best.safetensors").write_bytes(bican.weights.available()[bican.DEFAULT_MODEL].read_bytes())
    return reg, run.id


def runs_page() -> AppTest:
    return AppTest.from_file(str(PAGES / "runs.py"), default_timeout=120).run()


def test_delete_asks_first_and_keep_keeps(finished):
    reg, run_id = finished
    at = runs_page()
    at.button(key="delete").click().run()
    assert reg.run_dir(run_id).exists() and f"Delete run {run_id}" in at.warning[0].value
    at.button(key="confirm-no").click().run()
    assert reg.run_dir(run_id).exists() and not at.warning
    at.button(key="delete").click().run()
    at.button(key="confirm-yes").click().run()
    assert not reg.run_dir(run_id).exists() and [r.id for r in reg.runs()] == []
    assert f"Deleted run {run_id}." in at.success[0].value


def test_impossible_actions_are_disabled_with_their_reason(finished):
    reg, run_id = finished
    at = runs_page()
    assert at.button(key="cancel").disabled and at.button(key="resume").disabled
    assert not at.button(key="delete").disabled and not at.button(key="promote").disabled
    captions = [c.value for c in at.caption]
    assert "Cancel is not available: only a queued or running run can stop; this one is done." in captions
    assert "Resume is not available: only a cancelled or interrupted run can resume; this one is done." in captions
    (reg.run_dir(run_id) / "best.safetensors").unlink()
    at.run()
    assert at.button(key="promote").disabled
    assert any("it has no best model yet" in c.value for c in at.caption)


def test_promoted_models_are_listed_renamed_and_removed(finished, mnist_test):
    reg, run_id = finished
    at = runs_page()
    at.text_input(key="promote-name").set_value("mine").run()
    at.button(key="promote").click().run()
    assert "Promoted as 'mine'" in at.success[0].value and "mine" in bican.available()
    table = at.dataframe[-1].value
    assert table["Model"].tolist() == ["mine"] and table["From run"].tolist() == [run_id]
    at.text_input(key="model-new-name").set_value("mine-v2").run()
    at.button(key="model-rename").click().run()
    assert "Renamed 'mine' to 'mine-v2'." in at.success[0].value
    assert "mine-v2" in bican.available() and "mine" not in bican.available()
    assert reg.get(run_id).promoted == "mine-v2"
    at.text_input(key="model-new-name").set_value("../evil").run()
    at.button(key="model-rename").click().run()
    assert "model names are" in at.error[0].value and "mine-v2" in bican.available()
    at.button(key="model-remove").click().run()
    assert "mine-v2" in bican.available()  # not before the confirmation
    at.button(key="confirm-yes").click().run()
    assert "mine-v2" not in bican.available() and reg.get(run_id).promoted == ""
    assert "Removed 'mine-v2'." in at.success[0].value

"""The studio's shared UI: cached models, inputs, result panels and plotly figures. Pages stay thin."""

from __future__ import annotations

import base64
import json
from html import escape

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

import bican
from bican import charts, paths, studio

HEX_CLASS = "bican-hex"  # the HTML class of the stream's hex on the compress page, for tests and tools/ to find


def one_thread() -> None:
    """Run torch on one thread from the calling thread on.

    One digit is too small to split across cores, and split work stalls (100x measured) when other sessions or a training
    job hold the cores. OpenMP keeps this setting per thread, and Streamlit runs each script run in a new thread, so a
    page calls this on every run.
    """
    torch.set_num_threads(1)
ARCHIVE_DIGITS = 10_000  # one uploaded archive's digits at most: decoding takes time in proportion


# --- cached resources ---------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the model…")
def load_codec(name: str) -> bican.Codec:
    codec = bican.codec.load_cached(name)  # the cache decode_archive reads too: each model is loaded once per process
    codec.encode(np.zeros((28, 28), np.uint8))  # torch's first call is slow; pay it here, not on the first drawing
    return codec


@st.cache_resource(show_spinner="Loading the classifier…")
def load_classifier():
    return bican.load_classifier()


@st.cache_resource(show_spinner="Reading the MNIST test set…")
def _test_set() -> bican.data.Split:
    return bican.data.load("test", fetch=False)


def _model_names() -> list[str]:
    one_thread()  # every page calls this first, on every run, in the run's own thread
    names = list(bican.available())
    if not names:
        st.error("No codec model is installed: `weights/` holds no *.safetensors file.")
        st.stop()
    return names


def _codec(name: str) -> bican.Codec:
    try:
        return load_codec(name)
    except bican.WeightsError as exc:
        st.error(f"Model {name} could not be loaded: {exc}")
        st.stop()


def _default(names: list[str]) -> str:
    return bican.DEFAULT_MODEL if bican.DEFAULT_MODEL in names else names[0]


def model_selector() -> bican.Codec:
    """Every installed model, shipped and promoted, in the sidebar; the default one preselected."""
    names = _model_names()
    name = st.sidebar.selectbox("Model", names, index=names.index(_default(names)), key="model")
    return _codec(name)


def selected_models() -> tuple[bican.Codec, object]:
    """The codec chosen in the sidebar (its widget may come later in the script) and the classifier.

    A fragment cannot draw into the sidebar, so the compress page's fragment reads the choice from session state.
    """
    names = _model_names()
    name = st.session_state.get("model")
    return _codec(name if name in names else _default(names)), load_classifier()


def progress_bar(text: str):
    """A progress bar, as the callable(stage, fraction) that bican's long jobs report to."""
    bar = st.progress(0.0, text=text)
    return lambda stage, fraction: bar.progress(min(max(fraction, 0.0), 1.0), text=stage)


def test_set() -> bican.data.Split | None:
    """The MNIST test set, or None after offering to fetch it (with a progress bar)."""
    if bican.data.is_present():
        return _test_set()
    st.info("The MNIST test set is not on this machine yet. Drawing works without it.")
    if st.button("Fetch MNIST", key="fetch_mnist"):
        try:
            bican.data.ensure(progress=progress_bar("Fetching MNIST…"))
        except bican.DataError as exc:
            st.error(str(exc))
            return None
        st.rerun()
    return None


# --- inputs -------------------------------------------------------------------------------------
def pick(split: bican.data.Split) -> np.ndarray:
    """A test digit by index, by class, or at random."""
    how = st.radio("Pick by", ["index", "class", "random"], horizontal=True, key="pick_by")
    if how == "index":
        index = st.number_input("Test digit", 0, len(split.images) - 1, 0, key="pick_index")
    elif how == "class":
        label = st.selectbox("Class", range(10), key="pick_class")
        members = np.flatnonzero(split.labels == label)
        index = members[st.number_input(f"Which {label} (of {len(members)})", 0, len(members) - 1, 0, key="pick_nth")]
    else:
        if st.button("Another", key="pick_another") or "pick_random" not in st.session_state:
            st.session_state.pick_random = int(np.random.default_rng().integers(len(split.images)))
        index = st.session_state.pick_random
    st.caption(f"Test digit {int(index)}, labelled {int(split.labels[index])}")
    return split.images[index]


def upload_png() -> np.ndarray | None:
    file = st.file_uploader("A PNG of a digit", type=["png"], key="png_upload")
    if file is None:
        return None
    try:
        return bican.images.png_digit(file.getvalue())
    except ValueError as exc:
        st.error(f"{file.name}: {exc}")
        return None


def input_digit(source: str, drawing: np.ndarray | None) -> np.ndarray | None:
    """The digit from whichever input the user chose: drawn (the canvas's pixels), picked or uploaded."""
    if source == "Draw":
        return studio.from_canvas(drawing)
    if source == "Pick":
        split = test_set()
        return None if split is None else pick(split)
    return upload_png()


# --- results ------------------------------------------------------------------------------------
def enlarge(digit: np.ndarray, scale: int = 8) -> np.ndarray:
    """Nearest-neighbour upscaling, so every pixel stays a crisp square."""
    return np.kron(digit, np.ones((scale, scale), np.uint8))


# Each element costs the browser a render, and the first of its kind a script to fetch and compile; on a starved CPU
# that outweighed the computing (measured in docs/BENCHMARKS.md). So the whole result is one markdown element.
CAPTIONS = ("input", "reconstruction", "|difference|")
DOWNLOAD = "Download as .bican"
NOTES = ("<small>Ideal: the code's information content under the prior; the stream is what is stored. "
         "PNG: the same 28x28 input as an optimized grayscale PNG. "
         "Recompression: encoding the reconstruction again gives the same stream.</small>")


def png_url(digit: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(bican.images.png(digit)).decode()


def panels(pairs: list[tuple[np.ndarray, str]]) -> str:
    """Digits side by side as HTML, each inline as its 28x28 PNG, in equal columns.

    The browser enlarges them, pixelated (nearest-neighbour: every pixel a crisp square), so a panel is a few hundred
    bytes in the page and no media file is fetched. Square from the start, they never shift the layout as they decode.
    """
    figures = "".join(f'<figure style="margin:0;text-align:center"><img src="{png_url(image)}" alt="{escape(caption)}" '
                      'style="width:100%;aspect-ratio:1;object-fit:fill;image-rendering:pixelated">'
                      f"<figcaption>{escape(caption)}</figcaption></figure>" for image, caption in pairs)
    return f'<div style="display:grid;grid-template-columns:repeat({len(pairs)},1fr);gap:1rem">{figures}</div>'


def hex_lines(text: str) -> str:
    """Inline code, line by line: a code block would load a syntax highlighter for plain hex."""
    return f'<div class="{HEX_CLASS}">' + "<br>".join(f"<code>{line}</code>" for line in text.splitlines()) + "</div>"


def measures(result: studio.Analysis) -> str:
    """Bytes, ideal bits and quality as a markdown table, labels above values."""
    size, bits = len(result.stream), result.ideal_bits
    check = "✓ same bytes" if result.recompresses else "✗ other bytes"
    return "\n".join([
        "| Stream | Ideal | Raw | PNG |", "|---|---|---|---|",
        f"| **{size} B** ({size - studio.RAW_BYTES:+d} B vs raw) | {bits / 8:.2f} B ({bits:.1f} bits) "
        f"| {studio.RAW_BYTES} B | {result.png_bytes} B |",
        "| **PSNR** | **SSIM** | **Class** (input → output) | **Recompression** |",
        f"| {result.psnr_db:.1f} dB | {result.ssim:.3f} | {result.predicted} → {result.predicted_recon} | {check} |",
    ])


def download_link(codec: bican.Codec, symbols: np.ndarray) -> str:
    """The digit as a .bican file, inline: a download button would be one more element per result (~40 ms measured)."""
    data = base64.b64encode(codec.pack(symbols[None])).decode()
    return f'<a href="data:application/octet-stream;base64,{data}" download="digit.bican">{DOWNLOAD}</a>'


def result_markdown(codec: bican.Codec, result: studio.Analysis) -> str:
    """Input, reconstruction and difference side by side, then the stream, every measure of it, and its download."""
    return "\n\n".join([
        panels(list(zip((result.digit, result.recon, result.difference), CAPTIONS))),
        f"**The stream: {len(result.stream)} bytes** with <code>{inert(codec.name)}</code> ({codec.fingerprint})",
        hex_lines(result.hex), measures(result), NOTES, download_link(codec, result.symbols),
    ])


def inert(text: str) -> str:
    """Text someone else chose (a model's file name), for markdown that allows HTML: every character but letters and
    digits as an HTML entity, so that it forms neither a tag nor markdown (a backtick would end a code span)."""
    return "".join(c if c.isalnum() else f"&#{ord(c)};" for c in text)


def show_empty_result() -> None:
    """The result's frame before there is a digit: blank panels. The page does not jump when the first result arrives,
    and the browser has loaded the code for markdown with HTML by then."""
    blank = np.zeros((28, 28), np.uint8)
    st.markdown(panels([(blank, caption) for caption in CAPTIONS]), unsafe_allow_html=True)


def show_analysis(codec: bican.Codec, classifier, digit: np.ndarray) -> None:
    st.markdown(result_markdown(codec, studio.analyse(codec, digit, classifier)), unsafe_allow_html=True)


def open_archive() -> None:
    """Decode an uploaded .bican archive (of one digit or many) with the model it names, and show it."""
    file = st.file_uploader("Decode a .bican file", type=["bican"], key="bican_upload")
    if file is None:
        return
    try:
        codec, digits = bican.decode_archive(file.getvalue(), ARCHIVE_DIGITS)
    except bican.BitstreamError as exc:
        st.error(f"{file.name} could not be decoded: {exc}")
        return
    st.success(f"{file.name}: {len(digits)} digit(s), {file.size} bytes, decoded with {codec.name}")
    st.image(enlarge(bican.images.grid(digits[:100]), 4), caption="decoded" if len(digits) <= 100 else "the first 100")


# --- explore --------------------------------------------------------------------------------------
def latent_sliders(codec: bican.Codec, split: bican.data.Split | None) -> np.ndarray:
    """One integer slider per latent over the prior's range, starting from a test digit's code."""
    low, high = studio.symbol_range(codec)
    base = None if split is None else int(st.number_input("Start from test digit", 0, len(split.images) - 1, 0,
                                                          key="explore_base"))
    keys = [f"latent_{codec.fingerprint}_{i}" for i in range(codec.latents)]
    if st.session_state.get("explore_loaded") != (codec.fingerprint, base):
        start = np.clip(0, low, high) if split is None else codec.symbols(split.images[base])[0]
        st.session_state.update({key: int(v) for key, v in zip(keys, start)})
        st.session_state.explore_loaded = (codec.fingerprint, base)
    values = []
    for row in range(0, len(keys), 8):  # rows of eight, so the sliders read in latent order
        for column, i in zip(st.columns(8), range(row, min(row + 8, len(keys)))):
            values.append(column.slider(f"y{i}", int(low[i]), int(high[i]), key=keys[i]))
    return np.array(values)


def show_code(codec: bican.Codec, symbols: np.ndarray) -> None:
    bits, size = studio.code_cost(codec, symbols)
    left, right = st.columns([1, 3])
    left.image(enlarge(codec.reconstruct(symbols[None])[0]), caption="reconstruction")
    right.metric("This code", f"{size} B actual", f"{bits:.1f} bits ideal", delta_color="off", delta_arrow="off")


def interpolation(codec: bican.Codec, split: bican.data.Split) -> None:
    """Two chosen test digits and the straight path between their codes, as a strip of reconstructions."""
    a, b, n = st.columns(3)
    first = a.number_input("From test digit", 0, len(split.images) - 1, 0, key="interp_from")
    last = b.number_input("To test digit", 0, len(split.images) - 1, 1, key="interp_to")
    steps = n.slider("Steps", 3, 16, 8, key="interp_steps")
    path, recon = studio.interpolate(codec, split.images[first], split.images[last], steps)
    bits = codec.ideal_bits(path)
    st.image(enlarge(bican.images.grid(recon, columns=steps), 4), caption="ideal bits: " + ", ".join(f"{b:.0f}" for b in bits))


# --- benchmark ----------------------------------------------------------------------------------
def bench_results() -> dict | None:
    """Stored bench results, or ones computed on demand (with a progress bar) and kept for this session."""
    path = paths.bench_json()
    if path.is_file():
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            st.error(f"{path} is not readable JSON ({exc}); compute the numbers again below.")
    if "bench" in st.session_state:
        return st.session_state.bench
    st.info(f"No stored results in {path}. Computing them runs every codec on the MNIST test set.")
    if st.button("Compute now", key="bench_compute"):
        from bican.bench import codec_bench  # imported only when asked for: most visits read the stored results

        st.session_state.bench = codec_bench(progress=progress_bar("Starting…"))
        st.rerun()
    return None


def rd_figure(rows: list[dict]) -> go.Figure:
    """The docs' rate–distortion chart; the page lists the lossless codecs in a table instead."""
    figure = go.Figure(charts.rd_figure(rows, lossless=False))
    figure.update_layout(title=None, margin={"t": 30}, height=480)
    return figure


def show_bench(result: dict) -> None:
    st.caption(f"Measured on {result.get('machine', 'an unnamed machine')}, {result.get('date', 'undated')}.")
    rows = result.get("rate_distortion", [])
    st.plotly_chart(rd_figure(rows), width="stretch")
    lossless = [r for r in rows if r["psnr_db"] is None]
    if lossless:
        st.subheader("Lossless")
        st.dataframe(lossless, column_order=["codec", "setting", "bytes_per_digit"], hide_index=True)
    st.subheader("The seed's file sizes")
    st.dataframe(result.get("file_sizes", []), hide_index=True)
    if result.get("throughput"):
        st.subheader("Throughput")
        st.dataframe(result["throughput"], hide_index=True)

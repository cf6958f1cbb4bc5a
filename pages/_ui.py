"""The studio's shared UI: cached models, inputs, result panels and plotly figures. Pages stay thin."""

from __future__ import annotations

import json

import numpy as np
import streamlit as st
import torch

import bican
from bican import paths, studio

HEX_CLASS = "bican-hex"  # the HTML class of the stream's hex on the compress page, for tests and tools/ to find


def one_thread() -> None:
    """Run torch on one thread from the calling thread on.

    One digit is too small to split across cores, and split work stalls (100x measured) when other visitors or a training
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


def model_selector(where=st) -> bican.Codec:
    """Every installed model, shipped and promoted, with its size in words; the default one preselected.

    On the page itself, not in the sidebar, so that it is in reach on a phone. Its value is kept across pages.
    """
    names = _model_names()
    if st.session_state.get("model") not in names:
        st.session_state.model = _default(names)
    name = where.selectbox("Model", names, format_func=studio.model_words, key="model",
                           help="The learned codec. Its name says about how many bytes a digit costs; the seed is "
                                "the original fixed code. Models you promote from a run are marked as yours.")
    return _codec(name)


def selected_models() -> tuple[bican.Codec, object]:
    """The codec chosen in the model selector (its widget may come later in the script) and the classifier.

    The compress page's fragment draws before the selector, so it reads the choice from st.session_state.
    """
    names = _model_names()
    name = st.session_state.get("model")
    return _codec(name if name in names else _default(names)), load_classifier()


def follow_link() -> None:
    """A shared link's model (`?model=`) becomes the chosen one, once per link, so the user can still change it."""
    name = st.query_params.get("model")
    if name is None or st.session_state.get("link_model_seen") == name:
        return
    st.session_state.link_model_seen = name
    if name in bican.available():
        st.session_state.model = name


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
def span(count: int) -> str:
    """A number input's range for its label: "0–9,999"."""
    return f"0–{count - 1:,}"


def pick(split: bican.data.Split) -> np.ndarray:
    """A test digit by index, by class, or at random."""
    how = st.radio("Pick by", ["index", "class", "random"], horizontal=True, key="pick_by")
    if how == "index":
        index = st.number_input(f"Test digit ({span(len(split.images))})", 0, len(split.images) - 1, key="pick_index")
    elif how == "class":
        label = st.selectbox("Class", range(10), key="pick_class")
        members = np.flatnonzero(split.labels == label)
        index = members[st.number_input(f"Which {label} ({span(len(members))})", 0, len(members) - 1, key="pick_nth")]
    else:
        if st.button("Another", key="pick_another") or "pick_random" not in st.session_state:
            st.session_state.pick_random = int(np.random.default_rng().integers(len(split.images)))
        index = st.session_state.pick_random
    st.caption(f"Test digit {int(index)}, labelled {int(split.labels[index])}")
    return split.images[index]


def _uploaded() -> None:
    """Decode a new upload once, when it changes; the digit then outlives the uploader (other inputs, other pages)."""
    file = st.session_state.get("png_upload")
    if file is None:
        st.session_state.pop("upload", None)
        return
    try:
        st.session_state.upload = (file.name, bican.images.png_digit(file.getvalue()), None)
    except ValueError as exc:
        st.session_state.upload = (file.name, None, str(exc))


def upload_png() -> np.ndarray | None:
    st.file_uploader("A PNG of a digit: a drawing, a scan or a photo of paper", type=["png"], key="png_upload",
                     on_change=_uploaded, help="Photos are cleaned first: the paper's shade and uneven light are "
                     "divided out and only the ink is kept, then the digit is centred as MNIST's are.")
    name, digit, error = st.session_state.get("upload", (None, None, None))
    if error:
        st.error(f"{name}: {error}")
    elif digit is not None and not digit.any():
        st.error(f"{name}: no ink found; the image looks like blank paper.")
    elif digit is not None:
        st.caption(f"{name}, cleaned and centred:")
        st.image(enlarge(digit, 4))
        return digit
    return None


def drawn(drawing: np.ndarray | None) -> np.ndarray | None:
    """The canvas's digit. The last one drawn stays in st.session_state (`drawn_digit`, uint8 28x28) for the Runs page,
    even once the canvas is cleared; `canvas_blank` says whether it is still on the canvas.

    A canvas drawn again from kept strokes sends no pixels until the next stroke: until then, the kept digit is it.
    """
    if drawing is not None:
        digit = studio.from_canvas(drawing)
        st.session_state.canvas_blank = digit is None
        if digit is not None:
            st.session_state.drawn_digit = digit
    return None if st.session_state.get("canvas_blank", True) else st.session_state.get("drawn_digit")


def linked(codec: bican.Codec) -> np.ndarray | None:
    """The digit a shared link carries, decoded with the model it names; one clear line when it cannot be."""
    name, code = st.query_params.get("model", bican.DEFAULT_MODEL), st.query_params.get("code", "")
    if name not in bican.available():
        st.error(f"This link needs model {name!r}, which is not installed here.")
        return None
    try:
        digit = studio.from_code(_codec(name), code)
    except ValueError as exc:
        st.error(f"This link's code cannot be shown: {exc}.")
        return None
    st.caption(f"Decoded from the link: {len(code) // 2} bytes of {name}" +
               ("" if name == codec.name else f", now compressed again with {codec.name}"))
    return digit


def input_digit(source: str, drawing: np.ndarray | None, codec: bican.Codec) -> np.ndarray | None:
    """The digit from whichever input the user chose: drawn (the canvas's pixels), picked, uploaded or linked."""
    if source == "Draw":
        return drawn(drawing)
    if source == "Pick":
        split = test_set()
        return None if split is None else pick(split)
    if source == "Upload":
        return upload_png()
    return linked(codec)


# --- results ------------------------------------------------------------------------------------
def enlarge(digit: np.ndarray, scale: int = 8) -> np.ndarray:
    """Nearest-neighbour upscaling, so every pixel stays a crisp square."""
    return np.kron(digit, np.ones((scale, scale), np.uint8))


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


# --- benchmark ----------------------------------------------------------------------------------
def bench_results() -> dict | None:
    """Stored bench results, or ones computed on demand (with a progress bar) and kept for this browser tab."""
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

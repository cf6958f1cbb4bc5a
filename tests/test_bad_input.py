"""Hostile files through the library, the CLI (real subprocesses) and the studio: one clear error, bounded cost."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.lib import format as npy_format
from streamlit.testing.v1 import AppTest

from bican import bitstream, codec, evaluate, images, weights
from bican.bitstream import BitstreamError
from bican.config import ModelConfig
from bican.model import BiCAN


def bican(*args, env=None):
    return subprocess.run([sys.executable, "-m", "bican", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})


def one_line_error(done):
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
    return done.stderr


def _broken_model(path):
    """A model file whose header names a fingerprint but whose metadata is not JSON: readable by find(), not load()."""
    torch.manual_seed(0)
    model = BiCAN(ModelConfig(width=4, hidden=32, latents=8))
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    return weights._write(path, tensors, {"kind": "codec", "config": "{not json", "info": "{}"})


@pytest.fixture
def damaged_models(tmp_path, monkeypatch):
    """Installed models beside the shipped ones: bytes that are no safetensors file, and a codec whose config is not
    JSON. Returns the folder and the damaged codec's fingerprint."""
    models = tmp_path / "models"
    models.mkdir()
    (models / "garbage.safetensors").write_bytes(b"\x80\x04 not a safetensors file")
    (models / "empty.safetensors").write_bytes(b"")
    fingerprint = _broken_model(models / "broken.safetensors")
    monkeypatch.setenv("BICAN_MODELS", str(models))
    return models, fingerprint


def test_damaged_models_never_hide_which_model_an_archive_needs(damaged_models):
    models, fingerprint = damaged_models
    foreign = bitstream.pack(b"\x01" * 8, 1, b"\x00" * 8)
    with pytest.raises(BitstreamError, match="needs model 0101010101010101, which is not installed"):
        codec.decode_archive(foreign)
    seed = codec.load("seed")
    with pytest.raises(BitstreamError, match=r"needs model 0101010101010101 \(not among the installed models\)"):
        seed.unpack(foreign)
    theirs = bitstream.pack(bytes.fromhex(fingerprint), 1, b"\x00" * 8)
    with pytest.raises(BitstreamError, match=r"\(broken\), which cannot be loaded: .*'config' metadata is not JSON"):
        codec.decode_archive(theirs)
    with pytest.raises(BitstreamError, match=r"needs model [0-9a-f]{16} \(broken\)"):
        seed.unpack(theirs)


def test_an_archive_claiming_more_digits_than_the_caller_allows_is_refused_at_once():
    """A random 1 MB payload claiming 919,396 digits for entropy-03b once cost 6.75 s and 1.2 GB before its refusal."""
    with weights.safe_open(str(weights.resolve("entropy-03b")), "pt") as f:
        fingerprint = bytes.fromhex(f.metadata()["fingerprint"])
    forged = bitstream.pack(fingerprint, 919_396, np.random.default_rng(0).bytes(1 << 20))
    started = time.perf_counter()
    with pytest.raises(BitstreamError, match="claims 919,396 digits; at most 10,000"):
        codec.decode_archive(forged, max_digits=10_000)
    assert time.perf_counter() - started < 0.5
    with pytest.raises(BitstreamError, match="claims 919,396 digits; at most 10,000"):
        codec.load_cached("entropy-03b").unpack(forged, max_digits=10_000)


def test_cli_turns_each_known_traceback_into_one_error_line(tmp_path, damaged_models):
    models, fingerprint = damaged_models
    np.save(tmp_path / "none.npy", np.zeros((0, 28, 28), np.uint8))
    assert "holds no digits" in one_line_error(bican("compress", tmp_path / "none.npy", "-o", tmp_path / "x.bican"))
    with open(tmp_path / "huge.npy", "wb") as f:  # a header claiming 784 GB, in 128 bytes
        npy_format.write_array_header_1_0(f, {"descr": "|u1", "fortran_order": False, "shape": (10**9, 28, 28)})
    assert "not a readable .npy" in one_line_error(bican("compress", tmp_path / "huge.npy", "-o", tmp_path / "x.bican"))
    np.save(tmp_path / "one.npy", np.zeros((1, 28, 28), np.uint8))
    assert "'config' metadata is not JSON" in one_line_error(
        bican("compress", tmp_path / "one.npy", "-o", tmp_path / "x.bican", "--model", models / "broken.safetensors"))
    (tmp_path / "big.bican").write_bytes(bitstream.pack(b"\x02" * 8, 919_396, b"\x00" * 1000))
    assert "more than --max-digits 100,000" in one_line_error(
        bican("decompress", tmp_path / "big.bican", "-o", tmp_path / "x.npy"))
    (tmp_path / "theirs.bican").write_bytes(bitstream.pack(bytes.fromhex(fingerprint), 1, b"\x00" * 8))
    assert "cannot be loaded" in one_line_error(bican("decompress", tmp_path / "theirs.bican", "-o", tmp_path / "x.npy",
                                                      env={"BICAN_MODELS": str(models)}))



def test_eval_refuses_labels_that_do_not_fit_their_digits(tmp_path):
    np.save(tmp_path / "mine.npy", np.zeros((3, 28, 28), np.uint8))
    bad = {"float.npy": np.array([1.0, 2.0, 3.0]), "short.npy": np.array([1, 2]), "ten.npy": np.array([1, 10, 2]),
           "grid.npy": np.zeros((3, 1), np.int64)}
    for name, classes in bad.items():
        np.save(tmp_path / name, classes)
    np.save(tmp_path / "pickled.npy", np.array([1, "2", 3], object), allow_pickle=True)
    expected = {"float.npy": "one integer class for each of the 3 digits, got float64 [3]", "short.npy": "got int64 [2]",
                "ten.npy": "classes must be 0 to 9, not 1 to 10", "grid.npy": "got int64 [3, 1]",
                "pickled.npy": "not a readable .npy file"}
    for name, message in expected.items():
        with pytest.raises(ValueError, match=re.escape(message)):
            evaluate.digit_set(str(tmp_path / "mine.npy"), labels=tmp_path / name)
    with pytest.raises(ValueError, match="labels go with a file of digits: the drawn set has its own"):
        evaluate.digit_set("drawn", labels=tmp_path / "ten.npy")
    assert "classes must be 0 to 9" in one_line_error(
        bican("eval", "--set", tmp_path / "mine.npy", "--labels", tmp_path / "ten.npy"))


def test_a_png_with_a_broken_chunk_is_a_value_error():
    """Found by tools/fuzz.py: an IDAT cut short, then garbage read as a chunk, made PIL raise SyntaxError."""
    with pytest.raises(ValueError, match="not a readable PNG"):
        images.png_digit((Path(__file__).parent / "data" / "broken-chunk.png").read_bytes())


# --- the studio -----------------------------------------------------------------------------------
PAGES = Path(__file__).resolve().parent.parent / "pages"


def compress_page() -> AppTest:
    return AppTest.from_file(str(PAGES / "compress.py"), default_timeout=120).run()


def test_studio_shows_a_damaged_model_as_unusable_with_its_reason(damaged_models):
    models, fingerprint = damaged_models
    at = compress_page()
    at.selectbox(key="model").set_value("broken").run()
    assert not at.exception
    assert any("broken could not be loaded" in e.value and "'config' metadata is not JSON" in e.value for e in at.error)
    at = compress_page()
    theirs = bitstream.pack(bytes.fromhex(fingerprint), 1, b"\x00" * 8)
    at.file_uploader(key="bican_upload").set_value(("theirs.bican", theirs, "application/octet-stream")).run()
    assert not at.exception
    assert any("theirs.bican could not be decoded" in e.value and "cannot be loaded" in e.value for e in at.error)


def test_a_model_name_cannot_put_html_into_the_result(tmp_path, monkeypatch):
    """A file name is text a stranger chose; in the result panel, HTML is allowed, so the name must stay inert."""
    hostile = "x`<img src=x onerror=alert(1)>`[link](javascript:alert(1))"
    models = tmp_path / "models"
    torch.manual_seed(0)
    weights.save(models / f"{hostile}.safetensors", BiCAN(ModelConfig(width=4, hidden=32, latents=8)))
    monkeypatch.setenv("BICAN_MODELS", str(models))
    at = compress_page()
    at.selectbox(key="model").set_value(hostile).run()
    at.radio(key="source").set_value("Pick").run()
    assert not at.exception
    [html] = [m.value for m in at.markdown if "The stream:" in m.value]
    assert "<img src=x" not in html and "](javascript" not in html and "`" not in html
    assert "&#60;img" in html  # the name is still shown, as text


@pytest.mark.parametrize("name", ["runs", "train"])
def test_pages_with_a_corrupt_registry_say_so_and_keep_working(tmp_path, monkeypatch, name):
    monkeypatch.setenv("BICAN_RUNS", str(tmp_path))
    (tmp_path / "registry.sqlite").write_bytes(b"this is not an SQLite database" * 100)
    at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=120).run()
    if name == "train":  # the form works; only starting a run needs the registry
        at.button[0].click().run()
    assert not at.exception
    assert any("run registry" in e.value and "runs reindex" in e.value for e in at.error), [e.value for e in at.error]

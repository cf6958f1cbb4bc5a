import numpy as np
import pytest

import bican
from bican import studio


@pytest.fixture(scope="module")
def codec() -> bican.Codec:
    return bican.load(bican.DEFAULT_MODEL)


@pytest.fixture(scope="module")
def classifier():
    return bican.load_classifier()


def test_analysis_matches_the_codec(codec, classifier, mnist_test):
    digits = mnist_test.images[:20]
    streams, bits = codec.encode(digits)
    results = [studio.analyse(codec, d, classifier) for d in digits]
    assert [r.stream for r in results] == streams
    assert np.allclose([r.ideal_bits for r in results], bits)
    assert np.array_equal(np.stack([r.recon for r in results]), codec.decode(streams))
    assert all(len(r.stream) < r.png_bytes < studio.RAW_BYTES for r in results)
    assert 15 <= np.mean([r.psnr_db for r in results]) < 40
    assert 0.5 <= np.mean([r.ssim for r in results]) <= 1
    assert np.mean([r.predicted == label for r, label in zip(results, mnist_test.labels[:20])]) >= 0.9
    assert np.mean([r.recompresses for r in results]) >= 0.8


def test_difference_and_hex():
    digit = np.zeros((28, 28), np.uint8)
    digit[3, 4] = 200
    result = studio.Analysis(digit, np.zeros(2), b"\x00\xab" * 9, 1.0, np.zeros(2), np.full((28, 28), 50, np.uint8), 0, 0,
                             0, np.full((2, 10), 0.1), True)
    assert result.difference[3, 4] == 150 and result.difference[0, 0] == 50
    assert result.hex == "00 ab " * 7 + "00 ab\n00 ab"


def test_blank_canvas_is_no_digit(mnist_test):
    blank = studio.canvas_of(np.zeros((28, 28), np.uint8))
    assert blank.shape == (280, 280, 4) and (blank[..., 3] == 255).all()
    assert studio.from_canvas(blank) is None
    assert studio.from_canvas(None) is None
    again = studio.from_canvas(studio.canvas_of(mnist_test.images[0]))
    assert np.abs(again.astype(int) - mnist_test.images[0]).mean() < 20


def test_interpolation_ends_at_both_codes(codec, mnist_test):
    a, b = mnist_test.images[:2]
    path, recon = studio.interpolate(codec, a, b, 6)
    assert path.shape == (6, codec.latents) and recon.shape == (6, 28, 28)
    assert np.array_equal(path[[0, -1]], codec.symbols(np.stack([a, b])))
    low, high = studio.symbol_range(codec)
    assert ((path >= low) & (path <= high)).all()
    with pytest.raises(ValueError, match="at least 2"):
        studio.interpolate(codec, a, b, 1)


def test_code_cost(codec, mnist_test):
    symbols = codec.symbols(mnist_test.images[:1])
    bits, size = studio.code_cost(codec, symbols[0])
    assert bits == pytest.approx(codec.ideal_bits(symbols)[0])
    assert size == len(codec.encode_symbols(symbols)[0])


def test_model_words_say_the_size():
    assert studio.model_words("entropy-08b") == "entropy-08b (about 8 bytes per digit)"
    assert studio.model_words("entropy-21b") == "entropy-21b (about 21 bytes per digit)"
    assert studio.model_words("seed").startswith("seed (200 bytes per digit")


def test_the_ladder_leaves_the_inverting_rungs_for_later():
    fast, every = studio.ladder_names(slow=False), studio.ladder_names(slow=True)
    assert set(every) - set(fast) == {n for n in every if bican.codec.load_cached(n).invert} == {"entropy-12b", "entropy-21b"}
    assert every[-1] == "seed" and every[0] == "entropy-03b"


def test_a_code_decodes_and_a_foreign_one_is_refused(mnist_test):
    codec = bican.load(bican.DEFAULT_MODEL)
    [stream], _ = codec.encode(mnist_test.images[4])
    assert np.array_equal(studio.from_code(codec, stream.hex()), codec.decode([stream])[0])
    assert studio.share_query(codec, stream) == f"?model={codec.name}&code={stream.hex()}"
    with pytest.raises(ValueError, match="not a digit written by"):
        studio.from_code(codec, bican.load("seed").encode(mnist_test.images[4])[0][0].hex())


def test_the_ladder_says_which_rungs_keep_the_digit_and_the_fewest_bytes_that_do(codec, mnist_test):
    classifier = bican.load_classifier()
    digit = studio.from_canvas(studio.canvas_of(mnist_test.images[1112]))  # a 4 the default model turns into a 6
    rungs = studio.ladder(digit, classifier)
    reads = int(studio.probabilities(classifier, digit[None])[0].argmax())
    assert [r.agrees for r in rungs] == [r.predicted == reads for r in rungs]
    assert [r.learned for r in rungs] == [r.name not in ("JPEG", "WebP") for r in rungs]
    keeping = [r for r in rungs if r.learned and r.agrees]
    assert keeping and studio.keeper(rungs) is min(keeping, key=lambda r: r.size)
    assert not next(r for r in rungs if r.name == codec.name).agrees
    assert studio.keeper([r for r in rungs if not r.agrees]) is None

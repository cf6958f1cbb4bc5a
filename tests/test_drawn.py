import numpy as np
import pytest

from bican import drawn
from bican.classifier import classify
from bican.classifier import load as load_classifier


@pytest.fixture(scope="module")
def drawn_set():
    return drawn.load(300)


def test_render_is_deterministic_and_the_seed_matters(digits):
    first = drawn.render(digits[:40], seed=3)
    assert first.dtype == np.uint8 and first.shape == (40, 28, 28)
    assert np.array_equal(first, drawn.render(digits[:40], seed=3))
    assert np.mean(first != drawn.render(digits[:40], seed=4)) > 0.05


def test_a_digit_is_drawn_the_same_whatever_is_drawn_with_it(digits):
    assert np.array_equal(drawn.render(digits[:30], 1)[:10], drawn.render(digits[:10], 1))


def test_drawings_are_new_pixels_centred_like_mnist(digits):
    drawings = drawn.render(digits[:50], 0)
    assert np.mean(np.abs(drawings.astype(int) - digits[:50])) > 10  # not the source pixels again
    for d in drawings:  # to_digit's frame: the ink within 20x20 (one more for resampling), its mass at the centre
        rows, cols = np.nonzero(d > 10)
        assert max(np.ptp(rows), np.ptp(cols)) <= 20
        centre = (np.indices(d.shape) * d.astype(float)).reshape(2, -1).sum(1) / d.sum()
        assert np.all(np.abs(centre - 14) <= 1), centre


def test_a_blank_digit_stays_blank():
    assert not drawn.render(np.zeros((2, 28, 28), np.uint8), 0).any()


def test_stroke_width_varies_like_peoples(digits):
    # One digit drawn 40 times: the brush and the letter size vary, so its share of ink does.
    ink = (drawn.render(np.repeat(digits[:1], 40, axis=0), 0) > 127).mean(axis=(1, 2))
    assert ink.max() > 2 * ink.min()
    assert np.std(ink) > 0.02


def test_load_is_balanced_labelled_and_a_prefix_of_a_larger_set(drawn_set):
    d, labels = drawn_set
    assert d.shape == (300, 28, 28) and d.dtype == np.uint8 and labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels, minlength=10), np.full(10, 30))
    small, small_labels = drawn.load(50)
    assert np.array_equal(small, d[:50]) and np.array_equal(small_labels, labels[:50])
    small[0] = 0  # the caller's copy: the cached set stays whole
    assert drawn.load(50)[0][0].any()


def test_the_classifier_reads_the_drawn_digits(drawn_set):
    d, labels = drawn_set
    accuracy = np.mean(classify(load_classifier(), d) == labels)
    assert 0.93 <= accuracy <= 0.995, accuracy


@pytest.mark.parametrize("bad", [np.zeros((2, 28, 28), np.float32), np.zeros((28, 28), np.uint8),
                                 np.zeros((2, 32, 32), np.uint8)])
def test_render_refuses_what_is_not_digits(bad):
    with pytest.raises(ValueError, match="expected uint8"):
        drawn.render(bad, 0)


def test_load_refuses_a_size_it_cannot_balance():
    with pytest.raises(ValueError, match="the drawn set has"):
        drawn.load(0)
    with pytest.raises(ValueError, match="the drawn set has"):
        drawn.load(9000)

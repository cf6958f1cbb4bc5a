import io

import numpy as np
import pytest
from PIL import Image

from bican.images import png_digit, read_digits, to_digit


def test_drawing_is_centred_like_mnist():
    canvas = np.zeros((280, 280, 4), np.uint8)
    canvas[..., 3] = 255
    canvas[20:120, 200:230, :3] = 255  # a stroke in the top-right corner
    digit = to_digit(canvas)
    assert digit.shape == (28, 28) and digit.dtype == np.uint8
    ys, xs = np.nonzero(digit > 10)
    assert ys.max() - ys.min() + 1 <= 20 and ys.max() - ys.min() + 1 >= 18
    mass = digit.astype(float)
    cy, cx = (np.indices(digit.shape) * mass).reshape(2, -1).sum(1) / mass.sum()
    assert abs(cy - 14) <= 1 and abs(cx - 14) <= 1


def test_dark_ink_on_white_is_inverted():
    page = np.full((100, 60), 255, np.uint8)
    page[30:70, 25:35] = 0
    assert to_digit(page).max() > 200 and to_digit(page)[0, 0] == 0


def test_blank_gives_blank():
    assert not to_digit(np.zeros((50, 50), np.uint8)).any()


@pytest.mark.parametrize("shape", [(0, 5), (3, 4, 2), (2,)])
def test_odd_images_are_clear_errors(shape):
    with pytest.raises(ValueError, match="image"):
        to_digit(np.zeros(shape, np.uint8))


def test_bad_npy_is_clear_error(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 27, 28), np.float32))
    with pytest.raises(ValueError, match="expected uint8"):
        read_digits(tmp_path / "x.npy")


def test_png_digit_reads_bytes_and_refuses_what_is_not_a_digit(digits):
    buffer = io.BytesIO()
    Image.fromarray(digits[0]).save(buffer, format="PNG")
    assert np.array_equal(png_digit(buffer.getvalue()), digits[0])
    with pytest.raises(ValueError, match="not a readable PNG"):
        png_digit(b"\x89PNG\r\n\x1a\n truncated")
    buffer = io.BytesIO()
    Image.new("L", (5000, 5000)).save(buffer, format="PNG")
    with pytest.raises(ValueError, match="too large"):
        png_digit(buffer.getvalue())

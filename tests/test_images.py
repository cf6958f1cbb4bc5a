import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter

import bican
from bican import evaluate
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


def test_a_folder_is_every_png_under_it_in_path_order(tmp_path, digits):
    for name, digit in zip(["b/1.png", "a.PNG", "b/0.png"], digits):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.fromarray(digit).save(tmp_path / name, format="PNG")
    (tmp_path / "b" / "0.txt").write_text("not a digit")
    assert np.array_equal(read_digits(tmp_path), digits[[1, 2, 0]])
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "digit.jpg").write_bytes(b"not a PNG, so not read")
    with pytest.raises(ValueError, match="holds no digits"):
        read_digits(tmp_path / "c")
    (tmp_path / "b" / "2.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    with pytest.raises(ValueError, match=r"2\.png: not a readable PNG"):
        read_digits(tmp_path)


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


# One keyword per way a photo of paper differs from a scan; the tests vary one at a time.
def photo(digit: np.ndarray, seed: int, paper: float = 0.62, light: tuple[float, float] = (0.35, 1.0),  # noqa: PLR0913
          noise: float = 6.0, blur: float = 1.5, size: tuple[int, int] = (480, 360)) -> bytes:
    """A deterministic photo of `digit` written in dark ink on grey paper, lit unevenly, blurred and noisy, as PNG."""
    rng = np.random.default_rng(seed)
    w, h = size
    strokes = np.zeros((h, w))
    big = np.asarray(Image.fromarray(digit).resize((220, 220), Image.Resampling.BILINEAR), np.float64) / 255
    top, left = (h - 220) // 2 + 10, (w - 220) // 2 - 30  # off centre, as a hand-held photo is
    strokes[top:top + 220, left:left + 220] = big
    reflectance = paper * (1 - strokes) + 0.12 * strokes
    yy, xx = np.mgrid[0:h, 0:w]
    lit = light[0] + (light[1] - light[0]) * (0.6 * xx / w + 0.4 * yy / h)  # a lamp at the bottom right
    gray = np.clip(255 * reflectance * lit + rng.normal(0, noise, (h, w)), 0, 255).astype(np.uint8)
    gray = Image.fromarray(gray).filter(ImageFilter.GaussianBlur(blur))
    rgb = Image.merge("RGB", [gray, gray.point(lambda v: v * 0.97), gray.point(lambda v: v * 0.9)])  # warm light
    buffer = io.BytesIO()
    rgb.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def classifier():
    return bican.load_classifier()


@pytest.mark.parametrize("conditions", [
    {"light": (0.3, 1.0), "noise": 0.0, "blur": 0.0},  # uneven light alone
    {"paper": 0.45, "light": (1.0, 1.0)},  # dark grey paper, even light
    {"noise": 12.0},  # a noisy sensor
    {"blur": 2.5},  # out of focus
    {},  # all of it at once
])
def test_photos_of_paper_become_their_digits(mnist_test, classifier, conditions):
    digits, labels = mnist_test.images[:30], mnist_test.labels[:30]
    got = np.stack([png_digit(photo(d, i, **conditions)) for i, d in enumerate(digits)])
    # Ink only: a digit covers about a fifth of MNIST's 28x28; the paper counted as ink would cover all of it.
    assert ((got > 10).mean(axis=(1, 2)) < 0.35).all()
    assert (evaluate.classify(classifier, got) == labels).mean() >= 0.9
    assert np.median([evaluate.psnr(to_digit(d), g) for d, g in zip(digits, got)]) >= 15


def test_blank_paper_gives_no_ink():
    assert not png_digit(photo(np.zeros((28, 28), np.uint8), 3)).any()


def test_a_clean_drawing_keeps_its_shape():
    page = np.zeros((300, 200), np.uint8)
    page[60:240, 90:110] = 255  # a white "1" on black, as the canvas draws
    digit = png_digit(png_bytes(page))
    # Only the 3x3 median that clears sensor noise touches it: the bar's four corner pixels, by a grey level or so.
    assert np.abs(digit.astype(int) - to_digit(page)).max() <= 2


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


COST = """
import resource, sys, time
from bican import images
content = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.process_time()
digit = images.png_digit(content)
print(time.process_time() - start, (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024, digit.max())
"""


def big_png(path) -> int:
    """A 4096x4096 RGBA PNG under 1 MB (a large digit on transparent black): the largest an upload may decode to."""
    image = np.zeros((4096, 4096, 4), np.uint8)
    image[800:3300, 1800:2300] = 255  # a thick white "1", opaque
    Image.fromarray(image).save(path, optimize=True)
    return path.stat().st_size


def test_a_large_upload_costs_little_time_and_memory(tmp_path):
    size = big_png(tmp_path / "big.png")
    assert size < 1 << 20
    out = subprocess.run([sys.executable, "-c", COST, str(tmp_path / "big.png")], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent).stdout.split()
    cpu_seconds, extra_mb, ink = float(out[0]), float(out[1]), int(out[2])
    assert ink > 200  # the digit is found
    # CPU time, not wall time: on a shared machine the wait for a core is not the upload's cost.
    assert extra_mb < 300 and cpu_seconds < 2.0, (cpu_seconds, extra_mb)

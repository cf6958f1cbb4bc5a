import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from bican import data, evaluate


def bican(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bican", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def test_compress_decompress_smoke(tmp_path, digits):
    np.save(tmp_path / "d.npy", digits[:5])
    done = bican("compress", tmp_path / "d.npy", "-o", tmp_path / "d.bican")
    assert done.returncode == 0, done.stderr
    assert "5 digit(s)" in done.stdout
    assert bican("decompress", tmp_path / "d.bican", "-o", tmp_path / "r.npy").returncode == 0
    recon = np.load(tmp_path / "r.npy")
    assert recon.shape == (5, 28, 28) and recon.dtype == np.uint8
    assert np.mean((recon.astype(float) - digits[:5]) ** 2) < 0.03 * 255**2
    assert bican("decompress", tmp_path / "d.bican", "-o", tmp_path / "r.png").returncode == 0
    assert Image.open(tmp_path / "r.png").size == (140, 28)


def test_png_input(tmp_path, digits):
    Image.fromarray(digits[0]).save(tmp_path / "one.png")
    assert bican("compress", tmp_path / "one.png", "-o", tmp_path / "one.bican").returncode == 0


def test_eval_measures_a_file_of_your_own_digits(tmp_path, mnist_test):
    """The same digits as a file give the same numbers as the named set; labels come from .npy or idx alike."""
    np.save(tmp_path / "mine.npy", mnist_test.images[:80])
    data.write_idx(tmp_path / "classes.idx", mnist_test.labels[:80])
    runs = [bican("eval", "--set", "mnist", "--limit", "40", "--json"),
            bican("eval", "--set", tmp_path / "mine.npy", "--labels", tmp_path / "classes.idx", "--limit", "40", "--json"),
            bican("eval", "--set", tmp_path / "mine.npy", "--limit", "40", "--json")]
    named, labelled, unlabelled = (json.loads(done.stdout) for done in runs)
    assert labelled.pop("set") == str(tmp_path / "mine.npy") and named.pop("set") == "mnist"
    assert labelled == named and labelled["n"] == 40
    assert "classifier_accuracy" not in unlabelled and unlabelled["agreement"] == named["agreement"]


def test_eval_reads_a_folder_of_pngs_and_its_class_subfolders(tmp_path, mnist_test):
    """Every PNG under the folder, in path order; subfolders named 0 to 9 label them, any PNG outside one unlabels."""
    digits, labels = mnist_test.images[:30], mnist_test.labels[:30]
    for i, (digit, label) in enumerate(zip(digits, labels)):
        (tmp_path / "mine" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(digit).save(tmp_path / "mine" / str(label) / f"{i:02d}.png")
    (tmp_path / "mine" / "notes.txt").write_text("not a digit")
    order = sorted(range(30), key=lambda i: (labels[i], i))
    read, classes = evaluate.digit_set(str(tmp_path / "mine"), limit=25)
    assert np.array_equal(read, digits[order][:25]) and np.array_equal(classes, labels[order][:25])
    Image.fromarray(digits[0]).save(tmp_path / "mine" / "loose.png")
    done = bican("eval", "--set", tmp_path / "mine", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] == 31 and "classifier_accuracy" not in result and result["agreement"] > 0.9


def test_eval_json_has_the_contract_keys():
    done = bican("eval", "--limit", "200", "--json")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    for key in ("model", "n", "bytes_per_digit", "ideal_bytes_per_digit", "psnr_db", "ssim",
                "idempotent_fraction", "classifier_accuracy", "agreement"):
        assert key in result
    assert result["n"] == 200


@pytest.mark.parametrize("make, args", [
    (lambda p: p.write_bytes(b"GIF89a nope"), ["decompress", "{f}", "-o", "{d}/x.npy"]),
    (lambda p: p.write_bytes(b"\x00" * 100), ["compress", "{f}", "-o", "{d}/x.bican"]),
    (lambda p: p.write_text("{}"), ["compress", "{f}", "-o", "{d}/x.bican", "--model", "nope"]),
    (lambda p: p.write_text("[1]"), ["train", "--config", "{f}", "--out", "{d}/run"]),
    (lambda p: p.write_text('{"grad_clip": Infinity}'), ["train", "--config", "{f}", "--out", "{d}/run"]),
    (lambda p: p.write_text('{"diverge_db": NaN}'), ["train", "--config", "{f}", "--out", "{d}/run"]),
    (lambda p: np.save(p, np.zeros((1, 28, 28), np.uint8)), ["compress", "{f}", "-o", "{d}/x.bican", "--refine", "99"]),
    (lambda p: p.write_text("{}"), ["train", "--config", "{f}", "--init", "nosuch", "--out", "{d}/run"]),
    (lambda p: p.write_text('{"model": {"latents": 40}}'), ["train", "--config", "{f}", "--init", "entropy-08b"]),
    (lambda p: p.write_text('{"augment": 1.5}'), ["train", "--config", "{f}", "--out", "{d}/run"]),
])
def test_bad_input_is_one_line_error(tmp_path, make, args):
    f = tmp_path / "input.npy"
    make(f)
    done = bican(*[a.format(f=f, d=tmp_path) for a in args])
    assert done.returncode != 0
    assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_train_init_fine_tunes_a_shipped_rung_with_its_recipe(tmp_path):
    (tmp_path / "short.json").write_text('{"max_steps": 2, "val_size": 100, "val_coded": 0}')
    done = bican("train", "--preset", "handwriting", "--init", "entropy-05b", "--config", tmp_path / "short.json",
                 "--out", tmp_path / "run")
    assert done.returncode == 0, done.stderr
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    # entropy-05b's model and objective, the fine-tune's own step size and augmentation, the config file's limits
    assert stored["init"] == "entropy-05b" and stored["model"]["hidden"] == 256 and stored["lam"] == 1.5e-3
    assert (stored["fixed_point_rounds"], stored["lr"], stored["augment"], stored["max_steps"]) == (2, 3e-4, 0.25, 2)
    assert json.loads(done.stdout.splitlines()[-1])["status"] == "done"

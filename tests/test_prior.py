import dataclasses

import numpy as np
import pytest
import torch

from bican import codec, data, weights
from bican.cli import main
from bican.codec import EncoderSettings
from bican.config import ModelConfig
from bican.fit_prior import fit_prior
from bican.model import BiCAN
from bican.prior import PRECISION, fit_mixture


def _clustered_codes(n: int, seed: int) -> tuple[BiCAN, np.ndarray]:
    """A small model, and codes from two clusters that a factorized prior cannot tell apart."""
    torch.manual_seed(seed)
    model = BiCAN(ModelConfig(width=4, hidden=32, latents=6))
    tables = model.prior.tables()
    rng = np.random.default_rng(seed)
    cluster = rng.integers(0, 2, n)[:, None]
    codes = np.where(cluster, tables.high - 1, tables.low + 1) + rng.integers(0, 2, (n, 6))
    return model, codes


def test_mixture_tables_are_valid_and_cheaper():
    model, codes = _clustered_codes(2000, 0)
    factorized = model.prior.tables()
    mixture = fit_mixture(factorized, codes, 4)
    assert mixture.cdf.shape[:2] == (4, 6) and mixture.mix[-1] == 1 << PRECISION
    freq = np.diff(mixture.cdf, axis=2)
    for i, size in enumerate(mixture.sizes):  # every symbol in range stays codable
        assert (freq[:, i, :size] >= 1).all() and (freq[:, i, size:] == 0).all()
    assert np.array_equal(mixture.low, factorized.low) and np.array_equal(mixture.sizes, factorized.sizes)
    # Two clusters of 6 latents with 1 bit each: about 6 bits plus the 1-bit component.
    assert mixture.bits(codes).mean() < 7.5 < factorized.bits(codes).mean()
    assert (mixture.bits(codes) == mixture.component_bits(codes)[np.arange(len(codes)), mixture.components(codes)]).all()


def test_mixture_codec_round_trips_and_saves(tmp_path):
    model, codes = _clustered_codes(500, 1)
    path = tmp_path / "mix.safetensors"
    fingerprint = weights.save(path, model, {"note": "x"}, fit_mixture(model.prior.tables(), codes, 3))
    c = codec.load(str(path))
    assert c.fingerprint == fingerprint and len(c.tables.cdf) == 3
    assert np.array_equal(c.unpack(c.pack(codes)), codes)
    streams = c.encode_symbols(codes[:50])
    assert np.array_equal(c.decode_symbols(streams), codes[:50])
    # Each stream holds about its ideal bits, the component's index included.
    assert np.mean([len(s) for s in streams]) <= c.ideal_bits(codes[:50]).mean() / 8 + 1
    # A damaged mixture stream is caught, as a factorized one is.
    with pytest.raises(codec.BitstreamError):
        c.decode_symbols([streams[0] + b"\x00\x01"])


def test_fit_prior_command(tmp_path, capsys):
    torch.manual_seed(2)
    source, out = tmp_path / "m.safetensors", tmp_path / "m-mix.safetensors"
    weights.save(source, BiCAN(ModelConfig(width=4, hidden=32, latents=6)))
    assert main(["fit-prior", "--model", str(source), "-o", str(out), "--components", "4"]) == 0
    fitted = weights.load(str(out))
    assert len(fitted.tables.cdf) == 4 and fitted.info["prior"]["components"] == 4
    after = fitted.info["prior"]["train_ideal_bytes"]
    assert after["after"] <= after["before"]
    assert "encode training digits" in capsys.readouterr().err
    assert main(["fit-prior", "--model", "seed", "-o", str(tmp_path / "s.safetensors")]) == 2
    err = capsys.readouterr().err
    assert "no prior to fit" in err and "encode training digits" not in err  # the error alone, no empty bar


def test_fit_prior_fits_the_codes_of_the_encoder_it_sets(tmp_path, monkeypatch):
    # Inversion is slow on a CPU: a cheap one, over the first 3,000 training digits, still gives codes of its own.
    cheap = EncoderSettings(invert_steps=2)
    load = data.load

    def first_digits(split: str, *args) -> data.Split:
        full = load(split, *args)
        return data.Split(full.images[:3000], full.labels[:3000])

    monkeypatch.setattr(data, "load", first_digits)
    torch.manual_seed(3)
    source, out = tmp_path / "m.safetensors", tmp_path / "m-inv.safetensors"
    weights.save(source, BiCAN(ModelConfig(width=4, hidden=32, latents=6)))
    fit_prior(str(source), out, 2, encoder="invert", rate_weight=2, settings=cheap)
    fitted = weights.load(str(out))
    assert fitted.model.cfg.encoder == "invert" and fitted.model.cfg.rate_weight == 2
    # The encoder it fitted to: the source's networks and tables, with the new settings.
    src = weights.load(str(source))
    src.model.cfg = fitted.model.cfg
    train = data.load("train").images
    inverted = codec.Codec(src.model, src.tables, src.fingerprint, settings=cheap).symbols(train)
    settled = codec.Codec(src.model, src.tables, src.fingerprint,
                          settings=dataclasses.replace(cheap, invert=False)).symbols(train)
    assert (inverted != settled).any(1).mean() > 0.05
    # The reported training bytes are those of the inverted codes under the new tables.
    after = fitted.info["prior"]["train_ideal_bytes"]["after"]
    assert after == pytest.approx(fitted.tables.bits(inverted).mean() / 8, rel=1e-9)
    assert after != pytest.approx(fitted.tables.bits(settled).mean() / 8, rel=1e-6)

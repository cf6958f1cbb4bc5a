import dataclasses
import hashlib
import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from packaging.requirements import Requirement

from bican import bitstream, codec, weights
from bican.bitstream import BitstreamError
from bican.classifier import load as load_classifier
from bican.codec import EncoderSettings
from bican.config import ModelConfig
from bican.evaluate import evaluate
from bican.model import BiCAN


def _random_codec(tmp_path, name: str, seed: int, **cfg) -> codec.Codec:
    torch.manual_seed(seed)
    path = tmp_path / f"{name}.safetensors"
    weights.save(path, BiCAN(ModelConfig(width=4, hidden=32, latents=12, **cfg)))
    return codec.load(str(path))


@pytest.fixture(scope="module")
def shipped() -> codec.Codec:
    return codec.load(weights.DEFAULT_MODEL)


def test_latents_round_trip_exactly(shipped, digits):
    symbols = shipped.symbols(digits)
    streams = shipped.encode_symbols(symbols)
    assert np.array_equal(shipped.decode_symbols(streams), symbols)
    assert np.array_equal(shipped.decode(streams), shipped.reconstruct(symbols))


def test_archive_round_trip_is_byte_exact(shipped, digits):
    symbols = shipped.symbols(digits)
    archive = shipped.pack(symbols)
    assert np.array_equal(shipped.unpack(archive), symbols)
    used, decoded = codec.decode_archive(archive)
    assert used.fingerprint == shipped.fingerprint
    assert np.array_equal(decoded, shipped.reconstruct(symbols))
    assert shipped.pack(shipped.unpack(archive)) == archive


def test_archive_is_one_stream_smaller_than_per_digit_streams(shipped, digits):
    symbols = shipped.symbols(digits)
    streams = shipped.encode_symbols(symbols)
    payload = bitstream.unpack(shipped.pack(symbols)).payload
    # No lengths, and one flush for all: about the ideal size, well under the per-digit streams' total.
    ideal = shipped.ideal_bits(symbols).sum() / 8
    # The coder codes under the model's own integer tables, so it cannot beat their information content.
    assert ideal - 1 <= len(payload) <= ideal + 8
    assert len(payload) < sum(len(s) for s in streams) - len(digits) / 4
    # One digit's archive holds exactly its per-digit stream, so the two never disagree.
    assert bitstream.unpack(shipped.pack(symbols[:1])).payload == streams[0]


def test_streams_end_where_decoding_stops(shipped, digits):
    """A per-digit stream is the shortest that decodes to its code: no shorter prefix of it does, nor that prefix
    plus one in its last byte."""
    symbols = shipped.symbols(digits[:60])
    streams = shipped.encode_symbols(symbols)
    for row, stream in zip(symbols, streams):
        component = int(shipped.tables.components(row[None])[0])
        assert shipped.coder._reads_as(stream, component, row)
        for n in range(len(stream)):
            above = int.from_bytes(stream[:n], "big") + 1
            shorter = [stream[:n]] + ([above.to_bytes(n, "big")] if n and above < 1 << 8 * n else [])
            assert not any(shipped.coder._reads_as(s, component, row) for s in shorter)


def test_archive_codes_must_fit_their_payload(shipped, digits):
    archive = bitstream.unpack(shipped.pack(shipped.symbols(digits)))
    forged = bitstream.pack(archive.fingerprint, archive.count * 50, archive.payload)
    with pytest.raises(BitstreamError, match="cannot hold"):
        shipped.unpack(forged)
    shifted = bitstream.pack(archive.fingerprint, archive.count + 1, archive.payload)
    with pytest.raises(BitstreamError, match="corrupt"):
        shipped.unpack(shifted)


def test_search_keeps_the_nearest_fixed_point(digits):
    searching, plain = codec.load(weights.DEFAULT_MODEL), codec.load(weights.DEFAULT_MODEL, search=0)
    assert searching.search == codec.SEARCH > 0
    found, first = searching.symbols(digits), plain.symbols(digits)

    def error(symbols):
        return ((searching.reconstruct(symbols).astype(float) - digits) ** 2).mean((1, 2))

    # The plain fixed point is one of the candidates, so no digit can end further from its input...
    assert (error(found) <= error(first)).all()
    # ...and on real digits the search finds closer codes for many of them.
    assert (error(found) < error(first)).mean() > 0.2
    # What it keeps are codes that encode to themselves: compressing a decoded digit gives its code back.
    recon = searching.reconstruct(found)
    assert (searching.symbols(recon) == found).all(1).mean() >= 0.99


def test_refinement_trades_error_and_bits_and_stays_idempotent(digits):
    searching, refining = codec.load(weights.DEFAULT_MODEL), codec.load(weights.DEFAULT_MODEL, refine=2)
    digits = digits[:100]
    found, first = refining.symbols(digits), searching.symbols(digits)

    def score(symbols):
        error = ((refining.reconstruct(symbols).astype(float) - digits) ** 2).mean((1, 2))
        return error + refining.model.cfg.rate_weight * refining.ideal_bits(symbols)

    # It starts from the search's code and moves only to a code that scores better...
    assert (score(found) <= score(first) + 1e-6).all()
    assert (score(found) < score(first)).mean() > 0.2
    # ...that is a fixed point, while a decoded digit (its own code at distance 0) stays where it is.
    assert (refining.symbols(refining.reconstruct(found)) == found).all(1).mean() >= 0.99
    # Decoding does not depend on it: the plain codec reads the refined archive.
    assert np.array_equal(searching.unpack(refining.pack(found)), found)


def test_inversion_is_closer_than_the_fixed_point_and_recognizes_its_own_codes(digits):
    searching, inverting = codec.load(weights.DEFAULT_MODEL), codec.load(weights.DEFAULT_MODEL, refine=2, invert=True)
    digits = digits[:100]
    found, settled = inverting.symbols(digits), searching.symbols(digits)

    def error(symbols):
        return ((inverting.reconstruct(symbols).astype(float) - digits) ** 2).mean()

    assert error(found) < 0.9 * error(settled)
    assert inverting.ideal_bits(found).mean() < 1.1 * searching.ideal_bits(settled).mean()
    # Most of its codes are not fixed points, so the plain encoder would not give them back...
    recon = inverting.reconstruct(found)
    assert (searching.nets.encode(torch.from_numpy(recon)).numpy() != found).any(1).mean() > 0.3
    # ...yet compressing a decoded digit gives its code back, and the plain codec reads the archive.
    assert (inverting.symbols(recon) == found).all(1).mean() >= 0.99
    assert np.array_equal(searching.unpack(inverting.pack(found)), found)


def test_an_unrecognized_inversion_falls_back_to_the_fixed_point(digits):
    """Two steps of inversion recognize fewer decoded digits, so, checked once, more codes fall back to fixed points;
    every code is still idempotent. At a low rate weight, so that the inversion scores better than the fixed point
    for most digits: at the model's own, the encoder keeps the fixed point's code for three quarters of them."""
    plain, digits = codec.load(weights.DEFAULT_MODEL, search=0), digits[:100]
    once = EncoderSettings(invert=True, recognize_rounds=1)

    def fixed_and_idempotent(steps: int) -> tuple[float, float]:
        loaded = weights.load(weights.DEFAULT_MODEL)
        loaded.model.cfg = dataclasses.replace(loaded.model.cfg, rate_weight=2.0)
        inverting = codec.Codec(loaded.model, loaded.tables, loaded.fingerprint,
                                settings=dataclasses.replace(once, invert_steps=steps))
        found = inverting.symbols(digits)
        recon = inverting.reconstruct(found)
        fixed = (plain.nets.encode(torch.from_numpy(recon)).numpy() == found).all(1).mean()
        return fixed, (inverting.symbols(recon) == found).all(1).mean()

    (few_fixed, idempotent), (more_fixed, still_idempotent) = fixed_and_idempotent(100), fixed_and_idempotent(2)
    assert more_fixed > few_fixed + 0.1
    assert idempotent >= 0.99 and still_idempotent >= 0.99


def test_a_code_read_as_another_moves_there_instead_of_falling_back(digits):
    """At a low rate weight the encoder often starts from the rounded inversion, whose decoding another code
    reconstructs as closely. Checking once sends such digits to the fixed point; further rounds move them to the
    code their decoding reads as, which stays near the digit. Either way every code is idempotent."""
    loaded, digits = weights.load("entropy-12b"), digits[:100]
    loaded.model.cfg = dataclasses.replace(loaded.model.cfg, rate_weight=2.0)
    settled = codec.Codec(loaded.model, loaded.tables, loaded.fingerprint,
                          settings=EncoderSettings(invert=False)).symbols(digits)

    def encode(rounds: int) -> tuple[float, float, float]:
        settings = dataclasses.replace(EncoderSettings(), recognize_rounds=rounds)
        inverting = codec.Codec(loaded.model, loaded.tables, loaded.fingerprint, settings=settings)
        found = inverting.symbols(digits)
        recon = inverting.reconstruct(found)
        error = ((recon.astype(float) - digits) ** 2).mean()
        return (found == settled).all(1).mean(), error, (inverting.symbols(recon) == found).all(1).mean()

    rounds = EncoderSettings().recognize_rounds
    (fell_once, error_once, idempotent_once), (fell, error, idempotent) = encode(1), encode(rounds)
    assert fell_once > fell + 0.05 and error < error_once
    assert idempotent_once >= 0.99 and idempotent >= 0.99


def test_a_model_names_its_default_encoder(tmp_path, digits):
    inverting = _random_codec(tmp_path, "inverting", 0, encoder="invert")
    assert inverting.invert and not _random_codec(tmp_path, "settling", 0).invert
    assert not codec.load(str(tmp_path / "inverting.safetensors"), invert=False).invert
    found = inverting.symbols(digits[:20])
    assert (inverting.symbols(inverting.reconstruct(found)) == found).all(1).mean() >= 0.95
    with pytest.raises(ValueError, match="encoder must be 'settle' or 'invert'"):
        ModelConfig(encoder="guess").validate()


def test_precisions_share_the_code(digits):
    """bfloat16 and float32 networks may pick different codes, but either reads the other's archive exactly."""
    loaded = weights.load(weights.DEFAULT_MODEL)
    half = codec.Codec(loaded.model, loaded.tables, loaded.fingerprint, dtype=torch.bfloat16)
    # The codec converts a copy: a model still in training keeps its float32 weights.
    assert next(loaded.model.parameters()).dtype == torch.float32
    full = codec.load(weights.DEFAULT_MODEL, dtype=torch.float32)
    symbols = half.symbols(digits)
    assert np.array_equal(full.unpack(half.pack(symbols)), symbols)
    gap = np.abs(half.reconstruct(symbols).astype(int) - full.reconstruct(symbols))
    assert gap.max() <= 3 and (gap > 0).mean() < 0.2


def test_settings_are_frozen_and_filled_in_per_model(shipped):
    with pytest.raises(dataclasses.FrozenInstanceError):
        shipped.settings.refine = 3
    assert isinstance(shipped.coder, codec.TableCoder)
    assert EncoderSettings().search is None and shipped.search == min(codec.SEARCH, shipped.latents)
    assert shipped.invert == (shipped.model.cfg.encoder == "invert")


def test_search_must_fit_the_latents():
    with pytest.raises(ValueError, match="search must be 0 to"):
        codec.load(weights.DEFAULT_MODEL, search=1000)
    with pytest.raises(ValueError, match="refine must be 0 to 16"):
        codec.load(weights.DEFAULT_MODEL, refine=17)


def test_actual_bytes_within_one_byte_of_ideal(shipped, digits):
    streams, bits = shipped.encode(digits)
    assert np.mean([len(s) for s in streams]) <= bits.mean() / 8 + 1.0


def test_wrong_model_names_the_model_it_needs(tmp_path, digits):
    a = _random_codec(tmp_path, "a", 1)
    b = _random_codec(tmp_path, "b", 2)
    archive = a.pack(a.symbols(digits[:3]))
    with pytest.raises(BitstreamError, match=f"needs model {a.fingerprint}"):
        b.unpack(archive)


def test_seed_family_is_fixed_length(tmp_path, digits):
    torch.manual_seed(0)
    path = tmp_path / "seed.safetensors"
    weights.save(path, BiCAN(ModelConfig(family="seed", width=4, hidden=32, latents=200)))
    seed = codec.load(str(path), search=3, refine=2, invert=True)  # the seed keeps its plain code whatever is asked
    assert isinstance(seed.coder, codec.ByteCoder) and (seed.search, seed.refine, seed.invert) == (0, 0, False)
    streams, bits = seed.encode(digits[:5])
    assert {len(s) for s in streams} == {200} and set(bits) == {1600.0}
    assert np.array_equal(seed.decode_symbols(streams), seed.symbols(digits[:5]))
    with pytest.raises(BitstreamError, match="writes exactly 200 bytes"):
        seed.decode([streams[0][:-1]])


def test_fuzz_streams_raise_only_bitstream_error(shipped, digits):
    """Mutated per-digit streams either decode to in-range symbols or raise BitstreamError."""
    rng = random.Random(7)
    streams, _ = shipped.encode(digits)
    errors = 0
    for _ in range(10000):
        s = bytearray(rng.choice(streams))
        op = rng.randrange(3)
        if op == 0:
            s[rng.randrange(len(s))] ^= 1 << rng.randrange(8)
        elif op == 1:
            s = s[: rng.randrange(len(s))]
        else:
            s += rng.randbytes(rng.randint(1, 3))
        try:
            symbols = shipped.decode_symbols([bytes(s)])
            assert (symbols >= shipped.tables.low).all() and (symbols <= shipped.tables.high).all()
        except BitstreamError:
            errors += 1
    assert errors > 1000


def test_fuzz_archives_through_the_model_raise_only_bitstream_error(shipped, digits):
    """Mutated payloads and counts behind a valid header and CRC: the model's own checks must catch them."""
    rng = random.Random(11)
    archive = bitstream.unpack(shipped.pack(shipped.symbols(digits[:20])))
    errors = 0
    for _ in range(400):
        payload, count = bytearray(archive.payload), archive.count
        op = rng.randrange(4)
        if op == 0:
            payload[rng.randrange(len(payload))] ^= 1 << rng.randrange(8)
        elif op == 1:
            payload = payload[: rng.randrange(len(payload))]
        elif op == 2:
            payload += rng.randbytes(rng.randint(1, 3))
        else:
            count = rng.choice([0, count - 1, count + 1, 2 * count, 1000])
        try:
            symbols = shipped.unpack(bitstream.pack(archive.fingerprint, count, bytes(payload)))
            assert symbols.shape == (count, shipped.latents)
        except BitstreamError:
            errors += 1
    assert errors > 300


def test_bad_digits_are_clear_errors(shipped):
    with pytest.raises(ValueError, match="uint8"):
        shipped.encode(np.zeros((2, 28, 28), np.float32))
    with pytest.raises(ValueError, match="shape"):
        shipped.encode(np.zeros((2, 32, 32), np.uint8))


def test_default_model_quality_bands(shipped, mnist_test):
    result = evaluate(shipped, mnist_test.images, mnist_test.labels, load_classifier())
    assert result["n"] == 10000
    assert 21.5 <= result["psnr_db"] < 40
    assert result["bytes_per_digit"] <= 10
    assert result["ideal_bytes_per_digit"] <= result["bytes_per_digit"] <= result["ideal_bytes_per_digit"] + 1
    assert result["idempotent_fraction"] >= 0.90
    assert result["classifier_accuracy"] >= 0.97
    assert 0.5 < result["ssim"] <= 1


@pytest.mark.gpu
def test_gpu_encoded_streams_decode_on_the_cpu(digits):
    """The transform may run on a GPU; the integer tables make the streams decode identically on the CPU."""
    gpu = codec.load(weights.DEFAULT_MODEL, device="cuda")
    cpu = codec.load(weights.DEFAULT_MODEL, device="cpu")
    symbols = gpu.symbols(digits)
    streams = gpu.encode_symbols(symbols)
    assert np.array_equal(cpu.decode_symbols(streams), symbols)
    assert np.array_equal(cpu.unpack(gpu.pack(symbols)), symbols)


V3 = Path(__file__).parent / "expected" / "entropy-08b-v3.bican"  # written by the range-coder build (format 3)
# Where the legacy extra installs range-coder (its only wheels), format 3 must decode; elsewhere it cannot be installed.
LEGACY = Requirement((Path(__file__).parent.parent / "requirements" / "legacy.txt").read_text().splitlines()[-1])


@pytest.mark.skipif(not LEGACY.marker.evaluate(), reason=f"range-coder has no wheel here ({LEGACY.marker})")
def test_a_version_3_archive_still_decodes():
    """The archive holds the golden codes of entropy-08b's settling encoder for the first 32 test digits."""
    data = V3.read_bytes()
    assert bitstream.unpack(data).version == 3
    used, decoded = codec.decode_archive(data)
    codes = used.unpack(data)
    golden = json.loads((V3.parent / "entropy-08b.json").read_text())["settle"]
    assert used.name == "entropy-08b" and hashlib.sha256(codes.astype("<i8").tobytes()).hexdigest() == golden["codes"]
    assert np.array_equal(decoded, used.reconstruct(codes))
    # Written again, it is a version 4 archive of the same codes.
    again = used.pack(codes)
    assert bitstream.unpack(again).version == bitstream.VERSION == 4 and np.array_equal(used.unpack(again), codes)


def test_without_range_coder_a_version_3_archive_says_what_to_install(tmp_path):
    script = ("import sys; sys.modules['range_coder'] = None; from bican.cli import main; "
              f"sys.exit(main(['decompress', {str(V3)!r}, '-o', {str(tmp_path / 'out.npy')!r}]))")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2 and not (tmp_path / "out.npy").exists()
    assert done.stderr == ("error: this archive is .bican format version 3, written with range-coder; to read it, "
                           "pip install 'range-coder==1.1' (or pip install 'bican[legacy]')\n")

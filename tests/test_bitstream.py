import random
import struct
import zlib

import pytest

from bican import bitstream
from bican.bitstream import BitstreamError

FP = bytes(range(8))


def _archive(rng: random.Random) -> bytes:
    return bitstream.pack(FP, rng.choice([0, 1, 5, 127, 128, 10_000]), rng.randbytes(rng.choice([0, 1, 9, 200, 3000])))


def test_round_trip_exact():
    rng = random.Random(1)
    for count in (0, 1, 2, 130, 1000, bitstream.MAX_DIGITS):
        payload = rng.randbytes(rng.randint(0, 300))
        archive = bitstream.unpack(bitstream.pack(FP, count, payload))
        assert (archive.fingerprint, archive.count, archive.version, archive.payload) == (FP, count, 4, payload)


def test_layout_is_as_documented():
    blob = bitstream.pack(FP, 300, b"\x01\x02\x03")
    assert blob[:4] == b"BICN" and blob[4] == bitstream.VERSION == 4 and blob[5:13] == FP
    assert blob[13:15] == bytes([0xAC, 0x02]) and blob[15:18] == b"\x01\x02\x03" and len(blob) == 22
    assert struct.unpack(">I", blob[-4:])[0] == zlib.crc32(blob[:-4])


def test_pack_refuses_what_unpack_would():
    with pytest.raises(ValueError, match="digits"):
        bitstream.pack(FP, bitstream.MAX_DIGITS + 1, b"")
    with pytest.raises(ValueError, match="fingerprint"):
        bitstream.pack(FP[:7], 1, b"")


@pytest.mark.parametrize("blob, message", [
    (b"", "shorter"),
    (b"GIF89a" + bytes(40), "does not start with 'BICN'"),
    (b"BICN\x07" + bytes(40), "version 7"),
    (b"BICN\x01" + bytes(40), "version 1; this build reads versions 3 and 4"),
    (b"BICN\x02" + bytes(40), "version 2; this build reads versions 3 and 4"),
])
def test_foreign_files(blob, message):
    with pytest.raises(BitstreamError, match=message):
        bitstream.unpack(blob)


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack(">I", zlib.crc32(body))


def test_fuzz_archives_raise_only_bitstream_error():
    """10,000+ mutated archives, half with their CRC repaired so the parser behind it is reached."""
    rng = random.Random(2024)
    seeds = [_archive(rng) for _ in range(20)]
    outcomes = {"ok": 0, "error": 0}
    for i in range(12000):
        blob = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(4)
            pos = rng.randrange(len(blob) + 1)
            if op == 0 and blob:
                blob[min(pos, len(blob) - 1)] = rng.randrange(256)
            elif op == 1:
                del blob[pos:pos + rng.randint(1, 8)]
            elif op == 2:
                blob[pos:pos] = rng.randbytes(rng.randint(1, 8))
            else:
                blob = blob[:pos]
        if i % 2 and len(blob) > 4:
            blob = bytearray(_with_crc(bytes(blob[:-4])))
        try:
            bitstream.unpack(bytes(blob))
            outcomes["ok"] += 1
        except BitstreamError:
            outcomes["error"] += 1
    assert outcomes["error"] > 5000 and sum(outcomes.values()) == 12000


def test_huge_count_is_rejected_without_allocating():
    body = b"BICN" + bytes([bitstream.VERSION]) + FP + b"\xff\xff\xff\xff\x0f"
    with pytest.raises(BitstreamError, match="claims"):
        bitstream.unpack(_with_crc(body))

"""The .bican archive container: magic, version, model fingerprint, varint count, the codes' one stream, CRC32."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"BICN"
# 1 stored each digit's stream with its length; 2 one stream, digit after digit; 3 latent after latent (range-coder);
# 4 the same with constriction's range coder.
VERSION = 4
READABLE = (3, 4)  # version 3's entropy-coded payloads need the optional range-coder (codec.legacy)
FINGERPRINT_BYTES = 8
_HEAD = struct.Struct(f">4sB{FINGERPRINT_BYTES}s")
MAX_DIGITS = 1 << 20  # MNIST has 70,000; the bound keeps a forged count from reserving memory


class BitstreamError(ValueError):
    """A stream or archive is corrupt, truncated, foreign or needs another model."""


@dataclass(frozen=True)
class Archive:
    fingerprint: bytes
    count: int  # digits
    version: int  # the format the payload was written in
    payload: bytes  # their codes, as the model's coder wrote them


def pack(fingerprint: bytes, count: int, payload: bytes) -> bytes:
    """Serialize `count` digits' codes, written as one payload, for the model with this fingerprint."""
    if len(fingerprint) != FINGERPRINT_BYTES:
        raise ValueError(f"fingerprint must be {FINGERPRINT_BYTES} bytes, not {len(fingerprint)}")
    if not 0 <= count <= MAX_DIGITS:
        raise ValueError(f"an archive holds 0 to {MAX_DIGITS:,} digits, not {count:,}")
    body = _HEAD.pack(MAGIC, VERSION, fingerprint) + _varint(count) + payload
    return body + struct.pack(">I", zlib.crc32(body))


def unpack(data: bytes, max_count: int = MAX_DIGITS) -> Archive:
    """Parse an archive; any defect, or a count above `max_count`, raises BitstreamError saying what is wrong.

    Whether the payload really holds `count` codes only the model can tell (Codec.unpack); decoding costs time in
    proportion to the count, so a caller that must answer quickly passes its own `max_count`.
    """
    data = bytes(data)
    if len(data) < _HEAD.size + 5:
        raise BitstreamError(f"not a .bican archive: {len(data)} bytes is shorter than the smallest archive")
    magic, version, fingerprint = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise BitstreamError("not a .bican archive: the file does not start with 'BICN'")
    if version not in READABLE:
        raise BitstreamError(f"unsupported .bican format version {version}; this build reads versions "
                             f"{' and '.join(map(str, READABLE))}")
    body, (crc,) = data[:-4], struct.unpack(">I", data[-4:])
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupt .bican archive: CRC32 mismatch (truncated or damaged)")
    count, pos = _read_varint(body, _HEAD.size)
    if count > MAX_DIGITS:
        raise BitstreamError(f"corrupt .bican archive: it claims {count:,} digits; an archive holds at most "
                             f"{MAX_DIGITS:,}")
    if count > max_count:
        raise BitstreamError(f"the archive claims {count:,} digits; at most {max_count:,} are decoded here")
    return Archive(fingerprint, count, version, body[pos:])


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = 0
    for shift in range(0, 35, 7):
        if pos >= len(data):
            raise BitstreamError("corrupt .bican archive: it ends inside its digit count")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise BitstreamError("corrupt .bican archive: its digit count is longer than 5 bytes")

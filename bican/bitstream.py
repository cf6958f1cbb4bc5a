"""The .bican archive container: magic, version, model fingerprint, count, varint lengths, payloads, CRC32."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

MAGIC = b"BICN"
VERSION = 1
FINGERPRINT_BYTES = 8
_HEAD = struct.Struct(f">4sB{FINGERPRINT_BYTES}s")


class BitstreamError(ValueError):
    """A stream or archive is corrupt, truncated, foreign or needs another model."""


@dataclass(frozen=True)
class Archive:
    fingerprint: bytes
    payloads: list[bytes]


def pack(fingerprint: bytes, payloads: list[bytes]) -> bytes:
    """Serialize per-digit payloads into one archive for the model with this fingerprint."""
    if len(fingerprint) != FINGERPRINT_BYTES:
        raise ValueError(f"fingerprint must be {FINGERPRINT_BYTES} bytes, not {len(fingerprint)}")
    body = bytearray(_HEAD.pack(MAGIC, VERSION, fingerprint))
    body += _varint(len(payloads))
    for payload in payloads:
        body += _varint(len(payload))
    for payload in payloads:
        body += payload
    return bytes(body) + struct.pack(">I", zlib.crc32(body))


def unpack(data: bytes) -> Archive:
    """Parse an archive; any defect raises BitstreamError saying what is wrong."""
    data = bytes(data)
    if len(data) < _HEAD.size + 5:
        raise BitstreamError(f"not a .bican archive: {len(data)} bytes is shorter than the smallest archive")
    magic, version, fingerprint = _HEAD.unpack_from(data)
    if magic != MAGIC:
        raise BitstreamError("not a .bican archive: the file does not start with 'BICN'")
    if version != VERSION:
        raise BitstreamError(f"unsupported .bican format version {version}; this build reads version {VERSION}")
    body, (crc,) = data[:-4], struct.unpack(">I", data[-4:])
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupt .bican archive: CRC32 mismatch (truncated or damaged)")
    pos = _HEAD.size
    count, pos = _read_varint(body, pos)
    if count > len(body) - pos:
        raise BitstreamError(f"corrupt .bican archive: it claims {count} digits in {len(body)} bytes")
    lengths = []
    for _ in range(count):
        length, pos = _read_varint(body, pos)
        lengths.append(length)
    if pos + sum(lengths) != len(body):
        raise BitstreamError("corrupt .bican archive: payload lengths do not add up to the file size")
    payloads = []
    for length in lengths:
        payloads.append(body[pos:pos + length])
        pos += length
    return Archive(fingerprint, payloads)


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
            raise BitstreamError("corrupt .bican archive: it ends inside a length field")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
    raise BitstreamError("corrupt .bican archive: a length field is longer than 5 bytes")

"""The chunk format: one series, one time window, compressed.

A row per sample costs SQLite 20-30 bytes; a chunk of a few hundred samples
costs 1-3 bytes per sample.  The layout follows the idea of Gorilla /
Prometheus chunks, but leans on zstd instead of bit-packing so that it stays
short and fast in pure Python:

* timestamps in integer milliseconds, stored as delta-of-delta (zig-zag, int32)
  — a steady scrape interval turns into a run of near-zero words;
* values that are decimals with at most 6 places (millidegrees, bytes,
  counts — most of what sysfs reports) as scaled integers, delta-encoded;
  any other values as IEEE-754 doubles XOR-ed with their predecessor, so
  that an unchanged value becomes eight zero bytes;
* both columns byte-shuffled (all first bytes, then all second bytes, ...)
  so that zstd sees long runs, then compressed together.

Header: ``magic(1) n(uint32) scale(int8)`` then the zstd frame; ``scale``
is the number of decimal places, or -1 for XOR-ed doubles.
"""

from __future__ import annotations

import struct
from array import array

import zstandard

__all__ = ["decode_chunk", "encode_chunk"]

_MAGIC = 1
_HEADER = struct.Struct("<BIb")
_ZC = zstandard.ZstdCompressor(level=6)
_ZD = zstandard.ZstdDecompressor()


def _shuffle(data: bytes, width: int) -> bytes:
    return b"".join(data[i::width] for i in range(width))


def _unshuffle(data: bytes, width: int) -> bytes:
    n = len(data) // width
    out = bytearray(len(data))
    for i in range(width):
        out[i::width] = data[i * n : (i + 1) * n]
    return bytes(out)


def encode_chunk(ts_ms: list[int], values: list[float]) -> bytes:
    """Compress parallel lists of millisecond timestamps and values."""
    n = len(ts_ms)
    if n != len(values):
        raise ValueError("timestamps and values differ in length")
    dod = array("q", [0] * n)
    prev_t, prev_d = 0, 0
    for i, t in enumerate(ts_ms):
        d = t - prev_t
        dd = d - prev_d
        dod[i] = (dd << 1) ^ (dd >> 63)
        prev_t, prev_d = t, d
    scale = _decimal_places(values)
    if scale >= 0:
        f = 10**scale
        col = array("q", [0] * n)
        prev_i = 0
        for i, v in enumerate(values):
            iv = round(v * f)
            d = iv - prev_i
            col[i] = (d << 1) ^ (d >> 63)
            prev_i = iv
    else:
        raw = array("Q")
        raw.frombytes(array("d", values).tobytes())
        col = array("Q", [0] * n)  # type: ignore[assignment]
        prev = 0
        for i, v in enumerate(raw):
            col[i] = v ^ prev
            prev = v
    body = _shuffle(dod.tobytes(), 8) + _shuffle(col.tobytes(), 8)
    return _HEADER.pack(_MAGIC, n, scale) + _ZC.compress(body)


_LIMIT = 2**62


def _decimal_places(values: list[float]) -> int:
    """The fewest decimal places (0-6) that represent every value exactly, or -1."""
    for scale in range(7):
        f = 10**scale
        for v in values:
            if v != v or abs(v) * f >= _LIMIT:  # NaN or too large for int64 arithmetic
                return -1
            if round(v * f) / f != v:
                break
        else:
            return scale
    return -1


def decode_chunk(blob: bytes) -> tuple[list[int], list[float]]:
    """The inverse of :func:`encode_chunk`."""
    magic, n, scale = _HEADER.unpack_from(blob)
    if magic != _MAGIC:
        raise ValueError(f"unknown chunk format {magic}")
    body = _ZD.decompress(blob[_HEADER.size :], max_output_size=16 * n)
    dod = array("q")
    dod.frombytes(_unshuffle(body[: 8 * n], 8))
    ts: list[int] = []
    t, d = 0, 0
    for z in dod:
        dd = (z >> 1) ^ -(z & 1)
        d += dd
        t += d
        ts.append(t)
    values_bytes = _unshuffle(body[8 * n :], 8)
    if scale >= 0:
        deltas = array("q")
        deltas.frombytes(values_bytes)
        f = 10**scale
        out: list[float] = []
        acc = 0
        for z in deltas:
            acc += (z >> 1) ^ -(z & 1)
            out.append(acc / f)
        return ts, out
    xored = array("Q")
    xored.frombytes(values_bytes)
    raw = array("Q", [0] * n)
    prev = 0
    for i, x in enumerate(xored):
        prev ^= x
        raw[i] = prev
    vals = array("d")
    vals.frombytes(raw.tobytes())
    return ts, vals.tolist()

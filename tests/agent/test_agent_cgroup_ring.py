"""The ring's packed rows: every value back bit for bit, in less memory than plain arrays."""

from __future__ import annotations

import math
import random
import struct
import sys

from microrack.agent import RingBuffer
from microrack.agent._ring import KEYFRAME_EVERY
from microrack.sample import Point, Sample, SeriesKey


def _bits(v: float) -> bytes:
    return struct.pack("<d", v)


def test_rows_come_back_bit_for_bit_across_keyframes_layouts_and_wraparound() -> None:
    rnd = random.Random(3)
    narrow = [SeriesKey.of(f"m{i}") for i in range(40)]
    wide = [*narrow, SeriesKey.of("extra", type="counter")]
    odd = [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308]
    capacity = 3 * KEYFRAME_EVERY + 5
    ring = RingBuffer(capacity)
    sent: list[tuple[list[SeriesKey], list[float]]] = []
    values = [rnd.uniform(0, 1e6) for _ in wide]
    for seq in range(1, 5 * KEYFRAME_EVERY):
        keys = wide if (seq // 17) % 2 else narrow  # the set of series changes now and then
        for i in range(len(values)):
            r = rnd.random()
            if r < 0.3:
                values[i] += rnd.uniform(0, 100)  # a counter moving on
            elif r < 0.35:
                values[i] = rnd.choice(odd)
        row = values[: len(keys)]
        ring.append(
            Sample(seq, float(seq), tuple(Point(k, v) for k, v in zip(keys, row, strict=True)))
        )
        sent.append((keys, list(row)))
    got = ring.since(0)
    assert len(got) == capacity
    for sample, (keys, row) in zip(got, sent[-capacity:], strict=True):
        assert [p.key for p in sample.points] == keys
        assert [_bits(p.value) for p in sample.points] == [_bits(v) for v in row]
    # a window is read row by row, by index, by slice and by iteration alike
    first, last, rows = ring.window(len(sent) - 10)
    assert (first, last, len(rows)) == (len(sent) - capacity + 1, len(sent), 10)
    assert [r[0] for r in rows] == [r[0] for r in list(rows)] == [r[0] for r in rows[0:10]]
    assert [_bits(v) for v in rows[-1][3]] == [_bits(v) for v in sent[-1][1]]


def test_slowly_moving_counters_take_a_fraction_of_eight_bytes_a_value() -> None:
    keys = [SeriesKey.of("c", type="counter", id=str(i)) for i in range(1000)]
    values = [1e6 + i * 1000.5 for i in range(len(keys))]
    ring = RingBuffer(4 * KEYFRAME_EVERY)
    for seq in range(1, 4 * KEYFRAME_EVERY + 1):
        values = [v + (i % 7) * 0.25 for i, v in enumerate(values)]
        ring.append(
            Sample(seq, float(seq), tuple(Point(k, v) for k, v in zip(keys, values, strict=True)))
        )
    held = 0
    for _, _, _, stored in ring._rows:  # what the ring keeps between pulls
        held += sys.getsizeof(getattr(stored, "data", stored))
    plain = len(ring) * len(keys) * 8
    assert held < plain / 2, (held, plain)
    assert [p.value for p in ring.since(0)[-1].points] == values

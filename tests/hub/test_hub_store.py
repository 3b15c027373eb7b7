"""The store on its own: chunk codec, head -> chunks, retention with downsampling."""

from __future__ import annotations

import math
import sqlite3
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microrack.hub import Retention, Store
from microrack.hub._codec import decode_chunk, encode_chunk
from microrack.hub._query import downsample, rate
from microrack.hub._store import Batch

# every double: NaN (with payloads), +-inf, -0.0, subnormals, and decimals with 0-9 places,
# small and huge, so that both the scaled-integer and the XOR-ed-double paths are exercised
floats = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, allow_subnormal=True, width=64),
    st.integers(-(2**64), 2**64).map(float),
    st.integers(0, 9).flatmap(
        lambda p: st.integers(-(10**15), 10**15).map(lambda i: round(i / 10**p, p))
    ),
    st.integers(0, 2**64 - 1).map(lambda b: struct.unpack("<d", struct.pack("<Q", b))[0]),
    st.sampled_from([-0.0, 0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1.7976931348623157e308]),
)


def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**42), floats), min_size=1, max_size=300))
def test_codec_round_trips_any_values(points: list[tuple[int, float]]) -> None:
    ts = sorted(t for t, _ in points)
    vs = [v for _, v in points]
    got_t, got_v = decode_chunk(encode_chunk(ts, vs))
    assert got_t == ts
    # bit for bit: -0.0 stays -0.0, a NaN keeps its payload, a decimal its last digit
    assert _bits(got_v) == _bits(vs)


@pytest.mark.parametrize(
    "value",
    [math.nan, math.inf, -math.inf, -0.0, 5e-324, -2.5e-320, 1e-300, 1e300, 0.1, 21.375, 4.6e12],
)
def test_codec_round_trips_runs_of_one_special_value(value: float) -> None:
    ts = [1_700_000_000_000 + 5000 * i for i in range(50)]
    vs = [value] * 49 + [-0.0]
    assert _bits(decode_chunk(encode_chunk(ts, vs))[1]) == _bits(vs)


def test_codec_compresses_regular_series_below_two_bytes_per_sample() -> None:
    ts = [1_700_000_000_000 + i * 5000 + (i * 7) % 3 for i in range(720)]
    counter = [float(i * 4096) for i in range(720)]
    temp = [45 + (i % 40) * 0.125 for i in range(720)]
    assert len(encode_chunk(ts, counter)) / 720 < 2
    assert len(encode_chunk(ts, temp)) / 720 < 2


def _batch(node: str, seqs: range, t0: float, interval: float = 5.0) -> Batch:
    series = [("m_total", {"k": "a"}, "counter"), ("g", {}, "gauge")]
    samples = [
        (s, t0 + (s - 1) * interval, [float(s * 10), None if s % 4 == 0 else s / 8]) for s in seqs
    ]
    return Batch(node, "rpi-4b", "127.0.0.1", 9101, "boot", interval, seqs[-1], series, samples)


def test_head_closes_into_chunks_and_reads_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.db", Retention(chunk_seconds=60))
    t0 = 1_000_000.0
    store.write([_batch("n1", range(1, 51), t0)])
    store.write([_batch("n1", range(51, 101), t0)])
    series = store.find_series("g", "n1")
    before = store.read(series, 0, 2e9)
    assert store.close_heads(now=t0 + 10_000) >= 2
    assert store.stats()["head_blobs"] == 0
    after = store.read(series, 0, 2e9)
    assert before == after
    ts, vs = after[series[0].id]
    assert len(ts) == 75  # every 4th sample had no value for "g"
    assert vs[:3] == [1 / 8, 2 / 8, 3 / 8]
    assert [n.last_seq for n in store.nodes()] == [100]
    conn = sqlite3.connect(tmp_path / "s.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_retention_downsamples_then_drops(tmp_path: Path) -> None:
    r = Retention(raw_seconds=3600, rollup_step=60, rollup_seconds=7200, chunk_seconds=60)
    store = Store(tmp_path / "s.db", r)
    t0 = 1_000_040.0  # 20 s into a minute: 12 samples per minute at 5 s
    store.write([_batch("n1", range(1, 121), t0)])  # 10 minutes
    store.close_heads(force=True)
    m = store.find_series("m_total", "n1")
    raw_ts, raw_vs = store.read(m, 0, 2e9)[m[0].id]
    rolled, dropped = store.apply_retention(now=t0 + 600 + 3600 + 1)
    assert rolled == 2 and dropped == 0
    ts, vs = store.read(m, 0, 2e9)[m[0].id]
    assert len(ts) == 11  # ten minutes of 5 s samples, starting mid-minute, in 1-minute buckets
    assert all(t % 60_000 == 0 for t in ts)
    for t, v in zip(ts, vs, strict=True):
        bucket = [x for tt, x in zip(raw_ts, raw_vs, strict=True) if t <= tt < t + 60_000]
        assert v == sum(bucket) / len(bucket)
    assert store.apply_retention(now=t0 + 600 + 7200 + 1) == (0, 2 * 1)
    assert store.read(m, 0, 2e9)[m[0].id] == ([], [])


def test_downsample_never_exceeds_points_and_keeps_the_mean() -> None:
    ts = [i * 1000 for i in range(10_000)]
    vs = [float(i % 100) for i in range(10_000)]
    for points in (1, 7, 100, 999, 1000):
        out = downsample(ts, vs, 0, 10_000, points)
        assert 0 < len(out) <= points
    out = downsample(ts, vs, 0, 10_000, 100)
    assert all(v == 49.5 for _, v in out)
    assert downsample(ts[:5], vs[:5], 0, 10, 1000) == [(i, float(i)) for i in range(5)]


def test_rate_handles_counter_reset() -> None:
    assert rate([0, 1000, 2000, 3000], [10.0, 20.0, 5.0, 15.0]) == (
        [1000, 2000, 3000],
        [10.0, 5.0, 10.0],
    )


def test_energy_meter_seeds_from_store_then_adds_samples(tmp_path: Path) -> None:
    from microrack.hub._energy import EnergyMeter

    store = Store(tmp_path / "s.db")
    day = 1_700_006_400.0  # a UTC midnight
    series = [("microrack_power_watts", {"source": "estimate"}, "gauge")]
    samples = [(s, day + 3600 + s * 10.0, [5.0]) for s in range(1, 361)]  # 1 h at 5 W
    store.write([Batch("n1", None, "h", 1, "b", 10.0, 360, series, samples)])
    meter = EnergyMeter()
    meter.seed(store, now=day + 3 * 3600)
    assert meter.kwh_today(day + 3 * 3600) == pytest.approx(5 * 3590 / 3.6e6)
    meter.add("n1", day + 3600 + 3610.0, 7.0)  # the next sample: 10 s at 6 W on average
    assert meter.kwh_today(day + 3 * 3600) == pytest.approx((5 * 3590 + 60) / 3.6e6)
    meter.add("n1", day + 3600 + 5000.0, 7.0)  # after a long gap: not bridged
    assert meter.kwh_today(day + 3 * 3600) == pytest.approx((5 * 3590 + 60) / 3.6e6)
    meter.add("n1", day + 86400 + 1.0, 7.0)  # the next day starts from zero
    assert meter.kwh_today(day + 86400 + 2.0) == 0.0

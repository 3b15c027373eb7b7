"""Property tests of the validation boundary and of the store's write path."""

from __future__ import annotations

import contextlib
import math
import re
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microrack.hub._store import Batch, SeriesInfo, Store
from microrack.hub._validate import (
    MAX_SEQ,
    MIN_TS,
    REASONS,
    Answer,
    Limits,
    Rejected,
    check_answer,
    parse_answer,
)

NOW = 1.8e9
LIMITS = Limits(max_series=50, max_labels=4)
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda kids: (
        st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4)
    ),
    max_leaves=20,
)
metric_names = st.from_regex(_METRIC, fullmatch=True).filter(lambda s: len(s) <= 40)
label_names = st.from_regex(_LABEL, fullmatch=True).filter(
    lambda s: len(s) <= 20 and not s.startswith("__")
)
good_series = st.tuples(
    metric_names,
    st.dictionaries(label_names, st.text(max_size=12), max_size=3),
    st.sampled_from(["counter", "gauge", "untyped"]),
).map(list)
any_series = st.one_of(good_series, json_values)
values = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**1100), max_value=2**1100),
    st.booleans(),
    st.text(max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
timestamps = st.one_of(
    st.floats(min_value=MIN_TS, max_value=NOW),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=4),
)
seqs = st.one_of(
    st.integers(min_value=-5, max_value=400),
    st.integers(min_value=2**52, max_value=2**66),
    st.floats(),
    st.booleans(),
    st.text(max_size=3),
)


@st.composite
def answers(draw: Any) -> dict[str, Any]:
    series = draw(st.lists(any_series, max_size=6))
    samples = draw(
        st.lists(
            st.one_of(
                st.fixed_dictionaries(
                    {
                        "seq": seqs,
                        "ts": timestamps,
                        "values": st.lists(values, max_size=len(series) + 2),
                    }
                ),
                json_values,
            ),
            max_size=12,
        )
    )
    ident = draw(
        st.one_of(
            st.fixed_dictionaries(
                {
                    "name": st.one_of(st.text(min_size=1, max_size=10), json_scalars),
                    "board": st.one_of(st.none(), st.text(max_size=6)),
                    "boot_id": st.one_of(st.text(min_size=1, max_size=10), json_scalars),
                    "interval": st.one_of(st.floats(), st.integers(), st.text(max_size=3)),
                }
            ),
            json_values,
        )
    )
    return {
        "node": ident,
        "last_seq": draw(st.one_of(st.integers(min_value=-3, max_value=500), seqs)),
        "series": series,
        "samples": samples,
    }


def _assert_sound(ans: Answer, since: int) -> None:
    width = len(ans.series.series)
    prev = since
    for seq, ts, vals in ans.samples:
        assert type(seq) is int and prev < seq <= ans.last_seq <= MAX_SEQ
        prev = seq
        assert type(ts) is float and MIN_TS <= ts <= NOW + LIMITS.future_seconds
        assert type(vals) is list and len(vals) == width
        assert all(v is None or type(v) is float for v in vals)
    seen = set()
    for name, labels, mtype in ans.series.series:
        assert _METRIC.fullmatch(name) and mtype in ("counter", "gauge", "untyped")
        assert all(_LABEL.fullmatch(k) and not k.startswith("__") for k in labels)
        assert all(type(v) is str for v in labels.values())
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen
        seen.add(key)
    assert set(ans.rejected) <= set(REASONS) and all(n > 0 for n in ans.rejected.values())
    assert ans.name.isprintable() and 0 < len(ans.name) <= 128
    assert LIMITS.min_interval <= ans.interval <= LIMITS.max_interval


@settings(max_examples=400, deadline=None)
@given(body=st.one_of(answers(), json_values), since=st.integers(min_value=0, max_value=300))
def test_whatever_an_agent_sends_is_refused_or_sound(body: Any, since: int) -> None:
    try:
        ans = check_answer(body, since, LIMITS, now=NOW)
    except Rejected as exc:
        assert exc.reason in REASONS and exc.values >= 1
        return
    _assert_sound(ans, since)


@settings(max_examples=200, deadline=None)
@given(
    series=st.lists(good_series, min_size=1, max_size=5, unique_by=lambda s: (s[0], str(s[1]))),
    rows=st.lists(
        st.tuples(st.floats(min_value=MIN_TS, max_value=NOW), st.booleans(), st.integers(0, 4)),
        max_size=20,
    ),
    data=st.data(),
)
def test_good_samples_survive_beside_bad_ones(
    series: list[Any], rows: list[tuple[float, bool, int]], data: Any
) -> None:
    """Every good sample is kept exactly; each bad value is left out and counted once."""
    samples = []
    want = []
    bad_values = 0
    for seq, (ts, poison_ts, poison_n) in enumerate(rows, start=1):
        vals: list[Any] = [data.draw(st.floats(allow_nan=False)) for _ in series]
        for i in range(min(poison_n, len(series))):
            vals[i] = data.draw(st.sampled_from(["1", {"a": 1}, True, [1.0]]))
        if poison_ts:
            samples.append({"seq": seq, "ts": float("nan"), "values": vals})
            continue
        bad_values += min(poison_n, len(series))
        samples.append({"seq": seq, "ts": ts, "values": vals})
        want.append((seq, ts, [v if type(v) is float else None for v in vals]))
    body = {
        "node": {"name": "n", "boot_id": "b", "interval": 1.0, "board": None},
        "last_seq": len(rows),
        "series": series,
        "samples": samples,
    }
    ans = check_answer(body, 0, LIMITS, now=NOW)
    assert ans.samples == want
    assert ans.rejected.get("bad_value", 0) == bad_values
    assert ans.rejected.get("bad_timestamp", 0) == len(series) * sum(p for _, p, _ in rows)


def test_not_json_is_rejected_without_echo() -> None:
    for raw in (b"SSH-2.0-OpenSSH SECRET", b"\xff\xfe", b"[" * 100_000):
        with pytest.raises(Rejected) as exc:
            parse_answer(raw)
        assert exc.value.reason == "not_json" and "SECRET" not in str(exc.value)


# -- the store's write path -------------------------------------------------------------

valid_rows = st.lists(
    st.tuples(
        st.floats(min_value=MIN_TS, max_value=NOW),
        st.lists(st.one_of(st.none(), st.floats(width=64)), min_size=3, max_size=3),
    ),
    min_size=1,
    max_size=60,
    unique_by=lambda r: round(r[0] * 1000),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(all_rows=valid_rows, size=st.integers(min_value=1, max_value=25))
def test_store_keeps_every_checked_value_bit_for_bit(
    tmp_path: Path, all_rows: Any, size: int
) -> None:
    """Whatever passes the validator is written, read back and cut into chunks unchanged."""
    batches = [all_rows[i : i + size] for i in range(0, len(all_rows), size)]
    db = tmp_path / f"s{time.monotonic_ns()}.db"
    store = Store(db)
    series = [("m_a", {"k": "v"}, "gauge"), ("m_b", {}, "counter"), ("m_c", {"x": '\n"}'}, "gauge")]
    want: dict[int, dict[int, float]] = {0: {}, 1: {}, 2: {}}
    seq = 0
    seen_ms: set[int] = set()
    written = []
    for rows in batches:
        body = {
            "node": {"name": "p", "boot_id": "b", "interval": 1.0},
            "last_seq": seq + len(rows),
            "series": [list(s) for s in series],
            "samples": [
                {"seq": seq + i + 1, "ts": ts, "values": vals} for i, (ts, vals) in enumerate(rows)
            ],
        }
        ans = check_answer(body, seq, LIMITS, now=NOW)
        assert len(ans.samples) == len(rows) and not ans.rejected
        for _seq, ts, vals in ans.samples:
            ms = round(ts * 1000)
            assert ms not in seen_ms
            seen_ms.add(ms)
            for i, v in enumerate(vals):
                if v is not None:
                    want[i][ms] = v
        seq += len(rows)
        written.append(
            Batch("p", None, "127.0.0.1", 1, "b", 1.0, seq, ans.series.series, ans.samples)
        )
    for b in written:
        store.write([b])

    def read() -> dict[int, dict[int, float]]:
        found = {s.name: s for s in store.series_of("p")}
        infos = [found[name] for name, _, _ in series if name in found]
        data = store.read(infos, 0, NOW + 10)
        out: dict[int, dict[int, float]] = {0: {}, 1: {}, 2: {}}
        for i, (name, _, _) in enumerate(series):
            info: SeriesInfo | None = found.get(name)
            if info is None:
                continue
            ts, vs = data[info.id]
            for t, v in zip(ts, vs, strict=True):
                out[i].setdefault(t, v)
        return out

    def same(a: dict[int, dict[int, float]], b: dict[int, dict[int, float]]) -> bool:
        for i in a:
            if a[i].keys() != b[i].keys():
                return False
            for t in a[i]:
                x, y = a[i][t], b[i][t]
                if not (x == y or (math.isnan(x) and math.isnan(y))):
                    return False
        return True

    assert same(read(), want)
    store.close_heads(force=True)
    assert same(read(), want) and not store.skipped
    store.close()


garbage = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.text(max_size=3),
    st.none(),
    st.booleans(),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bad_rows=st.lists(
        st.tuples(garbage, garbage, st.lists(garbage, max_size=4)), min_size=1, max_size=5
    ),
    last_seq=garbage,
)
def test_an_unchecked_batch_never_poisons_the_store_for_others(
    tmp_path: Path, bad_rows: Any, last_seq: Any
) -> None:
    """Even a batch that skipped the validator (a store written by an older hub) either
    fails alone or is stored; the good node's samples are written, read and chunked."""
    store = Store(tmp_path / f"p{time.monotonic_ns()}.db")
    series = [("m", {}, "gauge"), ("n", {"a": "b"}, "gauge")]
    bad = Batch("bad", None, "127.0.0.1", 1, "b", 1.0, last_seq, series, bad_rows)  # type: ignore[arg-type]
    good_rows = [(i, 1.5e9 + i, [float(i), None]) for i in range(1, 6)]
    good = Batch("good", None, "127.0.0.1", 2, "b", 1.0, 5, series, good_rows)  # type: ignore[arg-type]
    with contextlib.suppress(Exception):  # refused alone: the hub counts it as store_error
        store.write([bad])
    store.write([good])
    store.close_heads(force=True)  # must not raise, whatever the bad head holds
    info = {s.name: s for s in store.series_of("good")}
    ts, vs = store.read([info["m"]], 0, 2e9)[info["m"].id]
    assert vs == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert ts == [round((1.5e9 + i) * 1000) for i in range(1, 6)]
    store.close()

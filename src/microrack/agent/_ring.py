"""A bounded ring of samples, stored compactly.

A Raspberry Pi exports a few hundred series; an hour of them at 5 s as
Python objects would cost tens of megabytes.  Each entry here keeps its
values in an ``array('d')`` and shares its tuple of series keys with the
previous entry whenever the set of series did not change (the usual case).
Between two keyframes (every ``KEYFRAME_EVERY`` rows, and wherever the set of
series changes) a row is kept as its values XOR the keyframe's, deflated: a
value that did not change is eight zero bytes and one that moved a little
shares its sign, exponent and leading mantissa bits with the keyframe's, so
a row costs a fraction of its 8 bytes per value (a 200-pod node's 1 400
values: 8 MB for an hour at 5 s as plain arrays, 3-4x less so) and comes back
bit for bit.  Rows are unpacked one at a time as a reader walks them.
"""

from __future__ import annotations

import threading
import zlib
from array import array
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from itertools import islice
from typing import overload

from microrack.sample import Point, Sample, SeriesKey

__all__ = ["KEYFRAME_EVERY", "RingBuffer", "Row"]

# (seq, ts, series keys, values): one kept sample; the keys tuple is shared between rows
Row = tuple[int, float, tuple[SeriesKey, ...], array]

KEYFRAME_EVERY = 32


class _Delta:
    """A row's values as XOR against its keyframe's, deflated."""

    __slots__ = ("base", "data")

    def __init__(self, base: array, data: bytes) -> None:
        self.base = base
        self.data = data

    def values(self) -> array:
        raw = self.base.tobytes()
        x = int.from_bytes(zlib.decompress(self.data), "little") ^ int.from_bytes(raw, "little")
        return array("d", x.to_bytes(len(raw), "little"))


_Stored = tuple[int, float, tuple[SeriesKey, ...], "array | _Delta"]


def _row(stored: _Stored) -> Row:
    seq, ts, keys, values = stored
    return (seq, ts, keys, values.values() if isinstance(values, _Delta) else values)


class _Rows(Sequence[Row]):
    """Stored rows that unpack as they are read (a whole-ring pull never holds them all)."""

    __slots__ = ("_stored",)

    def __init__(self, stored: list[_Stored]) -> None:
        self._stored = stored

    def __len__(self) -> int:
        return len(self._stored)

    @overload
    def __getitem__(self, i: int) -> Row: ...
    @overload
    def __getitem__(self, i: slice) -> list[Row]: ...
    def __getitem__(self, i: int | slice) -> Row | list[Row]:
        if isinstance(i, slice):
            return [_row(r) for r in self._stored[i]]
        return _row(self._stored[i])

    def __iter__(self) -> Iterator[Row]:
        return map(_row, self._stored)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


class RingBuffer:
    """The last ``capacity`` samples, with strictly increasing sequence numbers."""

    def __init__(self, capacity: int, keep: Callable[[SeriesKey], bool] | None = None) -> None:
        """``keep(key)`` False leaves a series out of the ring (served on /metrics only)."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._keep = keep
        self._rows: deque[_Stored] = deque(maxlen=capacity)
        self._layout: tuple[SeriesKey, ...] = ()
        self._seen: tuple[SeriesKey, ...] = ()  # the sample's own keys behind _layout
        self._index: list[int] | None = None  # positions kept when a filter drops some
        self._lock = threading.Lock()
        # the keyframe later rows are kept against: (its keys, its values, them as one int)
        self._key: tuple[tuple[SeriesKey, ...], array, int] | None = None
        self._since_key = 0

    def __len__(self) -> int:
        return len(self._rows)

    def append(self, sample: Sample) -> None:
        points = sample.points
        keys = tuple(p.key for p in points)
        if keys != self._seen:
            # The set of series changed (rarely): work out again which ones the ring keeps.
            self._seen = keys
            keep = self._keep
            index = None if keep is None else [i for i, k in enumerate(keys) if keep(k)]
            if index is not None and len(index) == len(keys):
                index = None
            self._index = index
            self._layout = keys if index is None else tuple(keys[i] for i in index)
        if self._index is None:
            values = array("d", (p.value for p in points))
        else:
            values = array("d", (points[i].value for i in self._index))
        with self._lock:
            if self._rows and sample.seq <= self._rows[-1][0]:
                raise ValueError(f"sequence {sample.seq} is not after {self._rows[-1][0]}")
            key = self._key
            stored: array | _Delta
            if key is None or key[0] is not self._layout or self._since_key >= KEYFRAME_EVERY - 1:
                self._key = (self._layout, values, int.from_bytes(values.tobytes(), "little"))
                self._since_key = 0
                stored = values
            else:
                raw = values.tobytes()
                x = int.from_bytes(raw, "little") ^ key[2]
                stored = _Delta(key[1], zlib.compress(x.to_bytes(len(raw), "little"), 1))
                self._since_key += 1
            self._rows.append((sample.seq, sample.ts, self._layout, stored))

    @property
    def first_seq(self) -> int:
        with self._lock:
            return self._rows[0][0] if self._rows else 0

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._rows[-1][0] if self._rows else 0

    def window(self, seq: int) -> tuple[int, int, Sequence[Row]]:
        """``(first_seq, last_seq, rows after seq)``, read under one lock, unpacked as read."""
        with self._lock:
            if not self._rows:
                return 0, 0, _Rows([])
            first, last = self._rows[0][0], self._rows[-1][0]
            skip = max(0, seq - first + 1)  # exact when sequence numbers are contiguous
            rows = list(islice(self._rows, skip, None)) if skip < len(self._rows) else []
            if (rows and rows[0][0] != max(seq + 1, first)) or (
                not rows and last > seq
            ):  # a gap: fall back to a scan
                rows = [r for r in self._rows if r[0] > seq]
        return first, last, _Rows(rows)

    def since(self, seq: int) -> list[Sample]:
        """Every kept sample with a sequence number greater than ``seq``, oldest first."""
        rows: Sequence[Row] = self.window(seq)[2]
        return [
            Sample(s, ts, tuple(Point(k, v) for k, v in zip(keys, values, strict=True)))
            for s, ts, keys, values in rows
        ]

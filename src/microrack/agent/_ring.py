"""A bounded ring of samples, stored compactly.

A Raspberry Pi exports a few hundred series; an hour of them at 5 s as
Python objects would cost tens of megabytes.  Each entry here keeps its
values in an ``array('d')`` and shares its tuple of series keys with the
previous entry whenever the set of series did not change (the usual case),
so an hour costs about 8 bytes per value.
"""

from __future__ import annotations

import threading
from array import array
from collections import deque
from collections.abc import Callable, Sequence
from itertools import islice

from microrack.sample import Point, Sample, SeriesKey

__all__ = ["RingBuffer", "Row"]

# (seq, ts, series keys, values): one kept sample; the keys tuple is shared between rows
Row = tuple[int, float, tuple[SeriesKey, ...], array]


class RingBuffer:
    """The last ``capacity`` samples, with strictly increasing sequence numbers."""

    def __init__(self, capacity: int, keep: Callable[[SeriesKey], bool] | None = None) -> None:
        """``keep(key)`` False leaves a series out of the ring (served on /metrics only)."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._keep = keep
        self._rows: deque[Row] = deque(maxlen=capacity)
        self._layout: tuple[SeriesKey, ...] = ()
        self._seen: tuple[SeriesKey, ...] = ()  # the sample's own keys behind _layout
        self._index: list[int] | None = None  # positions kept when a filter drops some
        self._lock = threading.Lock()

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
            self._rows.append((sample.seq, sample.ts, self._layout, values))

    @property
    def first_seq(self) -> int:
        with self._lock:
            return self._rows[0][0] if self._rows else 0

    @property
    def last_seq(self) -> int:
        with self._lock:
            return self._rows[-1][0] if self._rows else 0

    def window(self, seq: int) -> tuple[int, int, list[Row]]:
        """``(first_seq, last_seq, rows after seq)``, read under one lock."""
        with self._lock:
            if not self._rows:
                return 0, 0, []
            first, last = self._rows[0][0], self._rows[-1][0]
            skip = max(0, seq - first + 1)  # exact when sequence numbers are contiguous
            rows = list(islice(self._rows, skip, None)) if skip < len(self._rows) else []
            if (rows and rows[0][0] != max(seq + 1, first)) or (
                    not rows and last > seq):  # a gap: fall back to a scan
                rows = [r for r in self._rows if r[0] > seq]
        return first, last, rows

    def since(self, seq: int) -> list[Sample]:
        """Every kept sample with a sequence number greater than ``seq``, oldest first."""
        rows: Sequence[Row] = self.window(seq)[2]
        return [
            Sample(s, ts, tuple(Point(k, v) for k, v in zip(keys, values, strict=True)))
            for s, ts, keys, values in rows
        ]

"""Energy used today: integrated once from the store at start, then from every pulled sample.

Integrating a whole day from the store on each dashboard refresh would decode
every power sample of every node again and again; instead the meter keeps
joules since UTC midnight per node and adds each new sample's trapezoid.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from microrack.hub._store import SeriesInfo, Store

__all__ = ["POWER_METRIC", "EnergyMeter"]

POWER_METRIC = "microrack_power_watts"
MAX_GAP = 600.0  # seconds: a longer gap is not bridged (the node was off or unreachable)


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


class EnergyMeter:
    def __init__(self) -> None:
        self.day = ""
        self.joules: dict[str, float] = {}
        self.last: dict[str, tuple[float, float]] = {}  # node -> (ts, watts)
        self.since: float | None = None  # the first sample counted today

    def seed(self, store: Store, now: float) -> None:
        """Integrate today's stored power samples (one power series per node)."""
        self.day = _day(now)
        midnight = (
            datetime.fromtimestamp(now, UTC)
            .replace(hour=0, minute=0, second=0, microsecond=0)
            .timestamp()
        )
        chosen: dict[str, SeriesInfo] = {}
        for s in store.find_series(POWER_METRIC):
            chosen.setdefault(s.node, s)
        data = store.read(chosen.values(), midnight, now)
        for node, s in chosen.items():
            ts, vs = data.get(s.id, ([], []))
            for t, v in zip(ts, vs, strict=True):
                self.add(node, t / 1000, v)

    def add(self, node: str, ts: float, watts: float) -> None:
        if not math.isfinite(watts):
            return  # a broken reading (NaN, inf) would spoil the whole day's sum
        day = _day(ts)
        if day != self.day:
            if day < self.day:
                return  # a late sample of yesterday
            self.day, self.joules, self.since = day, {}, None
        if self.since is None or ts < self.since:
            self.since = ts
        prev = self.last.get(node)
        if prev is not None and 0 < ts - prev[0] <= MAX_GAP:
            self.joules[node] = self.joules.get(node, 0.0) + (watts + prev[1]) / 2 * (ts - prev[0])
        if prev is None or ts > prev[0]:
            self.last[node] = (ts, watts)

    def kwh_today(self, now: float) -> float:
        if _day(now) != self.day:
            return 0.0
        return sum(self.joules.values()) / 3.6e6

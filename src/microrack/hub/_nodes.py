"""What the hub knows about each node right now: status, latest values, headline."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["LabelSet", "NodeState", "Status", "status_for"]

Status = Literal["unknown", "up", "stale", "down"]
LabelSet = tuple[tuple[str, str], ...]

# A node is stale after this many missed intervals, and down after DOWN_AFTER.
STALE_AFTER = 2.0
DOWN_AFTER = 3.0


def status_for(age: float | None, interval: float) -> Status:
    """``up`` / ``stale`` (two intervals without an answer) / ``down`` (three)."""
    if age is None:
        return "unknown"
    if age > DOWN_AFTER * interval:
        return "down"
    if age > STALE_AFTER * interval:
        return "stale"
    return "up"


@dataclass
class NodeState:
    """One agent as the collector sees it (mutable, owned by the event loop)."""

    host: str
    port: int
    source: str
    name: str | None = None
    board: str | None = None
    boot_id: str | None = None
    interval: float = 5.0
    since: int = 0  # last sequence number handed to the writer
    stored_seq: int = 0  # last sequence number committed to the store
    status: Status = "unknown"
    last_ok: float | None = None  # monotonic time of the last good pull
    last_seen: float | None = None  # wall time of the newest sample
    last_error: str | None = None
    restarts: int = 0
    lost: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # values refused, by reason
    unstored: int = 0  # values handed to the writer and not yet committed
    epoch: int = 0  # bumped when the hub rewinds ``since``: a pull in flight is then void
    beacon_seen: float | None = None  # monotonic time of the last beacon naming this target
    latest: dict[tuple[str, LabelSet], float | None] = field(default_factory=dict)
    beacon_headline: dict[str, float] = field(default_factory=dict)
    _index: dict[str, list[tuple[dict[str, str], tuple[str, LabelSet]]]] | None = field(
        default=None, repr=False
    )
    _index_len: int = 0
    _index_src: list[tuple[str, LabelSet]] | None = field(default=None, repr=False)
    _keys_ref: list[tuple[str, LabelSet]] | None = field(default=None, repr=False)
    # the last series list seen on the wire and its check (series change rarely)
    series_check: tuple[Any, Any] | None = field(default=None, repr=False)
    parsed_series: list[Any] = field(default_factory=list, repr=False)
    series_keys: list[tuple[str, LabelSet]] = field(default_factory=list, repr=False)
    # every series this node has brought since the hub started (bounded by Limits)
    all_series: set[tuple[str, LabelSet]] = field(default_factory=set, repr=False)

    @property
    def key(self) -> str:
        return self.name or f"{self.host}:{self.port}"

    def age(self, now: float | None = None) -> float | None:
        if self.last_ok is None:
            return None
        return (time.monotonic() if now is None else now) - self.last_ok

    def values(self, metric: str, **match: str) -> list[tuple[dict[str, str], float]]:
        """Latest values of ``metric`` whose labels include ``match``."""
        latest = self.latest
        out = []
        for lab, key in self._by_name().get(metric, ()):
            v = latest.get(key)
            if v is not None and all(lab.get(k) == w for k, w in match.items()):
                out.append((lab, v))
        return out

    def set_latest(self, keys: list[tuple[str, LabelSet]], values: list[float | None]) -> None:
        """Newest values of one pull; ``keys`` is reused between pulls of unchanged series."""
        self.latest = dict(zip(keys, values, strict=False))  # type: ignore[arg-type]
        self._keys_ref = keys

    def _by_name(self) -> dict[str, list[tuple[dict[str, str], tuple[str, LabelSet]]]]:
        # Rules and cards look values up by name many times per pull: index the series
        # once, and again only when the set of series changes.
        keys = self.latest.keys()
        if (
            self._index is None
            or self._index_len != len(keys)
            or self._index_src is not self._keys_ref
        ):
            index: dict[str, list[tuple[dict[str, str], tuple[str, LabelSet]]]] = {}
            for key in keys:
                index.setdefault(key[0], []).append((dict(key[1]), key))
            self._index, self._index_len, self._index_src = index, len(keys), self._keys_ref
        return self._index

    def first(self, metric: str, **match: str) -> float | None:
        vals = self.values(metric, **match)
        return vals[0][1] if vals else None

    def soc_temperatures(self) -> list[tuple[dict[str, str], float]]:
        """Thermal zones and hwmon sensors, without NVMe drives (they have their own limit)."""
        temps = [
            (lab, v)
            for lab, v in self.values("node_hwmon_temp_celsius")
            if "nvme" not in lab.get("chip", "")
        ]
        return temps + self.values("node_thermal_zone_temp")

    def headline(self) -> dict[str, Any]:
        """The few numbers a card shows; falls back to the beacon's headline."""
        b = self.beacon_headline
        temps = [v for _, v in self.soc_temperatures()]
        mem_total = self.first("node_memory_MemTotal_bytes")
        mem_avail = self.first("node_memory_MemAvailable_bytes")
        mem = 1 - mem_avail / mem_total if mem_total and mem_avail is not None else None
        fans = [v for _, v in self.values("microrack_fan_rpm")]
        power = self.first("microrack_power_watts")
        throttled_flags = sorted(
            lab.get("flag", "?")
            for lab, v in self.values("microrack_throttled", when="now")
            if v >= 1
        )
        disk = None
        for lab, size in self.values("node_filesystem_size_bytes"):
            avail = [
                v
                for lab2, v in self.values("node_filesystem_avail_bytes")
                if lab2.get("mountpoint") == lab.get("mountpoint")
            ]
            if size > 0 and avail:
                used = 1 - avail[0] / size
                disk = used if disk is None else max(disk, used)
        limit = self.first("microrack_throttle_limit_celsius", kind="soft")
        # counters: the dashboard turns two successive values into a rate
        rx = [
            v
            for lab, v in self.values("node_network_receive_bytes_total")
            if lab.get("device") != "lo"
        ]
        tx = [
            v
            for lab, v in self.values("node_network_transmit_bytes_total")
            if lab.get("device") != "lo"
        ]
        return {
            "cpu_busy_ratio": _pick(
                self.first("microrack_cpu_busy_ratio"), b.get("cpu_busy_ratio")
            ),
            "mem_used_ratio": _pick(mem, b.get("mem_used_ratio")),
            "temp_max_celsius": _pick(max(temps) if temps else None, b.get("temp_max_celsius")),
            "throttle_limit_celsius": limit,
            "fan_rpm": _pick(max(fans) if fans else None, b.get("fan_rpm")),
            "power_watts": _pick(power, b.get("power_watts")),
            "throttled": throttled_flags,
            "disk_used_ratio": disk,
            "net_rx_bytes_total": sum(rx) if rx else None,
            "net_tx_bytes_total": sum(tx) if tx else None,
            "boot_time_seconds": self.first("node_boot_time_seconds"),
        }

    def describe(self, now: float | None = None) -> dict[str, Any]:
        return {
            "name": self.key,
            "board": self.board,
            "address": self.host,
            "port": self.port,
            "source": self.source,
            "status": self.status,
            "last_seen": self.last_seen,
            "boot_id": self.boot_id,
            "last_seq": self.since,
            "stored_seq": self.stored_seq,
            "interval": self.interval,
            "restarts": self.restarts,
            "samples_lost": self.lost,
            "samples_rejected": sum(self.rejected.values()),
            "rejected": dict(self.rejected),
            "error": self.last_error,
            "headline": self.headline(),
        }


def _pick(first: float | None, second: float | None) -> float | None:
    return first if first is not None else second

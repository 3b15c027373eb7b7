"""Shared vocabulary: a node's identity, a metric series and a sample.

Every package may import this module; it imports nothing from microrack.
The wire format of ``/api/v1/samples`` (agent -> hub) lives here too, so that
both ends read it from one place.

Wire format (JSON) of ``GET /api/v1/samples?since=SEQ``::

    {
      "node": {"name": "pi-1", "board": "rpi-4b", "address": "127.0.0.1",
               "port": 9101, "boot_id": "…", "interval": 5.0},
      "first_seq": 1,            # oldest sequence number still in the ring
      "last_seq": 720,           # newest sequence number
      "series": [["node_load1", {}, "gauge"], ...],   # union over the samples below
      "samples": [{"seq": 12, "ts": 1732.5, "values": [0.3, null, ...]}, ...]
    }

``values[i]`` belongs to ``series[i]``; ``null`` means the series was absent
in that collection.  Samples are in increasing ``seq`` order with no gaps
unless the ring buffer already dropped them (then ``first_seq > since + 1``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = [
    "MetricType",
    "NodeIdentity",
    "Point",
    "Sample",
    "SampleBatch",
    "SeriesKey",
    "decode_batch",
    "encode_batch",
]

MetricType = Literal["counter", "gauge", "untyped"]


@dataclass(frozen=True, slots=True)
class SeriesKey:
    """A metric name with its labels (sorted), and its Prometheus type."""

    name: str
    labels: tuple[tuple[str, str], ...] = ()
    type: MetricType = "gauge"

    @classmethod
    def of(cls, name: str, type: MetricType = "gauge", **labels: str) -> SeriesKey:
        return cls(name, tuple(sorted(labels.items())), type)

    def label(self, key: str, default: str | None = None) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return default


@dataclass(frozen=True, slots=True)
class Point:
    """One value of one series."""

    key: SeriesKey
    value: float


@dataclass(frozen=True, slots=True)
class NodeIdentity:
    """Who a node is and where its agent listens."""

    name: str
    board: str | None
    address: str
    port: int
    boot_id: str
    interval: float


@dataclass(frozen=True, slots=True)
class Sample:
    """One collection of one node: a sequence number, a time and its points."""

    seq: int
    ts: float
    points: tuple[Point, ...]


@dataclass(frozen=True, slots=True)
class SampleBatch:
    """What one pull of ``/api/v1/samples`` returns."""

    node: NodeIdentity
    first_seq: int
    last_seq: int
    samples: tuple[Sample, ...]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def encode_batch(
    node: NodeIdentity,
    first_seq: int,
    last_seq: int,
    samples: Iterable[Sample],
) -> dict[str, Any]:
    """Build the JSON-ready body of ``/api/v1/samples``."""
    index: dict[SeriesKey, int] = {}
    rows: list[tuple[int, float, dict[int, float]]] = []
    for sample in samples:
        row: dict[int, float] = {}
        for point in sample.points:
            i = index.setdefault(point.key, len(index))
            row[i] = point.value
        rows.append((sample.seq, sample.ts, row))
    width = len(index)
    return {
        "node": {
            "name": node.name,
            "board": node.board,
            "address": node.address,
            "port": node.port,
            "boot_id": node.boot_id,
            "interval": node.interval,
        },
        "first_seq": first_seq,
        "last_seq": last_seq,
        "series": [[k.name, dict(k.labels), k.type] for k in index],
        "samples": [
            {
                "seq": seq,
                "ts": ts,
                "values": [_finite(row[i]) if i in row else None for i in range(width)],
            }
            for seq, ts, row in rows
        ],
    }


def decode_batch(body: Mapping[str, Any]) -> SampleBatch:
    """Parse the body of ``/api/v1/samples``; raises ``ValueError`` if malformed."""
    try:
        n = body["node"]
        node = NodeIdentity(
            name=str(n["name"]),
            board=None if n.get("board") is None else str(n["board"]),
            address=str(n["address"]),
            port=int(n["port"]),
            boot_id=str(n["boot_id"]),
            interval=float(n["interval"]),
        )
        keys: list[SeriesKey] = []
        for entry in body["series"]:
            name, labels, mtype = entry
            keys.append(
                SeriesKey(
                    str(name), tuple(sorted((str(k), str(v)) for k, v in labels.items())), mtype
                )
            )
        samples: list[Sample] = []
        for s in body["samples"]:
            values: Sequence[float | None] = s["values"]
            if len(values) != len(keys):
                raise ValueError(
                    f"sample {s.get('seq')} has {len(values)} values for {len(keys)} series"
                )
            points = tuple(
                Point(k, float(v)) for k, v in zip(keys, values, strict=True) if v is not None
            )
            samples.append(Sample(int(s["seq"]), float(s["ts"]), points))
        return SampleBatch(node, int(body["first_seq"]), int(body["last_seq"]), tuple(samples))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"malformed samples body: {exc!r}") from exc

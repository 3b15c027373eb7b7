"""The hub's own ``/metrics``, written by the one text writer, :mod:`microrack.exposition`.

Node names and reasons come from agents and beacons: every label value goes
through :func:`microrack.exposition.escape_label`, so a name with a quote or a
line feed cannot break the page or inject a line.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from microrack import __version__
from microrack.exposition import render
from microrack.sample import MetricType, Point, SeriesKey

if TYPE_CHECKING:
    from microrack.hub._service import Hub

__all__ = ["hub_metrics"]


class _Page:
    def __init__(self) -> None:
        self.points: list[Point] = []
        self.help: dict[str, str] = {}

    def add(
        self,
        name: str,
        mtype: MetricType,
        help_text: str,
        samples: list[tuple[dict[str, str], float]],
    ) -> None:
        self.help[name] = help_text
        for labels, v in samples:
            key = SeriesKey(name, tuple(sorted(labels.items())), mtype)
            self.points.append(Point(key, float(v)))


def hub_metrics(hub: Hub) -> str:
    """The Prometheus text page of the hub's health."""
    m = _Page()
    m.add("microrack_hub_info", "gauge", "Hub version.", [({"version": __version__}, 1.0)])
    m.add(
        "microrack_hub_pulls_total",
        "counter",
        "Pulls of agents' samples by result.",
        [({"result": k}, float(v)) for k, v in hub.pulls.items()],
    )
    m.add(
        "microrack_hub_pull_seconds_total",
        "counter",
        "Total time spent pulling.",
        [({}, hub.pull_seconds_sum)],
    )
    m.add(
        "microrack_hub_pull_duration_max_seconds",
        "gauge",
        "Longest pull so far.",
        [({}, hub.pull_seconds_max)],
    )
    m.add(
        "microrack_hub_write_seconds_total",
        "counter",
        "Total time in store writes.",
        [({}, hub.write_seconds_sum)],
    )
    m.add(
        "microrack_hub_store_write_failures_total",
        "counter",
        "Store writes that failed (their samples are kept and written with the next one).",
        [({}, float(hub.write_failures))],
    )
    m.add(
        "microrack_hub_samples_stored_total",
        "counter",
        "Samples written to the store.",
        [({}, float(hub.store.samples_stored))],
    )
    m.add(
        "microrack_hub_samples_lost_total",
        "counter",
        "Samples an agent's ring buffer dropped before the hub could pull them.",
        [({"node": n.key}, float(n.lost)) for n in hub.nodes.values()],
    )
    m.add(
        "microrack_hub_rejected_samples_total",
        "counter",
        "Values from agents the hub refused, by node and reason (see docs/hub.md, Trust).",
        [
            ({"node": node, "reason": reason}, float(v))
            for (node, reason), v in hub.rejected.items()
        ],
    )
    m.add(
        "microrack_hub_maintenance_skipped",
        "gauge",
        "Head blobs, series or nodes that store maintenance had to leave out.",
        [({}, float(len(hub.store.skipped)))],
    )
    m.add(
        "microrack_hub_store_bytes",
        "gauge",
        "Size of the database files.",
        [({}, float(hub.store.file_bytes()))],
    )
    st = hub.store.light_stats()
    m.add(
        "microrack_hub_store_samples",
        "gauge",
        "Samples in the store, by where they sit (head: recent, chunk: compressed).",
        [
            ({"part": "head"}, float(st["head_samples"])),
            ({"part": "chunk"}, float(st["chunk_samples"])),
        ],
    )
    m.add(
        "microrack_hub_beacons_dropped_total",
        "counter",
        "Beacons rejected, by reason.",
        [({"reason": k}, float(v)) for k, v in hub.beacons_dropped.items()],
    )
    m.add(
        "microrack_hub_beacons_accepted_total",
        "counter",
        "Valid beacons received.",
        [({}, float(hub.beacons_accepted))],
    )
    counts: dict[str, int] = {"up": 0, "stale": 0, "down": 0, "unknown": 0}
    for n in hub.nodes.values():
        counts[n.status] += 1
    m.add(
        "microrack_hub_nodes",
        "gauge",
        "Nodes by status.",
        [({"status": k}, float(v)) for k, v in counts.items()],
    )
    m.add(
        "microrack_hub_alerts_firing",
        "gauge",
        "Alerts firing now.",
        [({}, float(len(hub.alerts.firing())))],
    )
    if hub.remote is not None:
        m.add(
            "microrack_hub_remote_write_samples_total",
            "counter",
            "Samples forwarded.",
            [({}, float(hub.remote.sent_samples))],
        )
        m.add(
            "microrack_hub_remote_write_pending_batches",
            "gauge",
            "Batches waiting to be sent.",
            [({}, float(hub.remote.pending))],
        )
    m.add(
        "microrack_hub_uptime_seconds",
        "gauge",
        "Seconds since the hub started.",
        [({}, time.time() - hub.started)],
    )
    return render(m.points, m.help)

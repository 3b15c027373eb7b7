"""The measured side of a chaos run, read back from the hub's HTTP API.

Per node, over the run's window: the peak of its temperature series
(``node_thermal_zone_temp``, else ``node_hwmon_temp_celsius``), the time its
``microrack_throttled{when="now"}`` flags ``throttled`` or ``freq_capped``
were set, the energy under ``microrack_power_watts`` (trapezoids) and the
delay from the node's first fault to the hub's ``NodeDown`` alert.  A series
the hub does not hold is ``None`` ("not measured"), never 0.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from typing import Any

from microrack.chaos._run import ChaosError

__all__ = ["HubReadError", "measured_for", "read_measured", "summarise"]

_TEMP = ("node_thermal_zone_temp", "node_hwmon_temp_celsius")
_THROTTLE_FLAGS = ("throttled", "freq_capped")
_MAX_POINTS = 100_000  # the hub's own limit: below it the hub returns raw points


class HubReadError(ChaosError):
    """The hub did not answer a query; the message names the URL and the answer."""


def _series(client: Any, base: str, metric: str, node: str, t0: float, t1: float) -> list[Any]:
    params = {
        "metric": metric,
        "node": node,
        "from": f"{t0:.3f}",
        "to": f"{t1:.3f}",
        "points": str(_MAX_POINTS),
    }
    r = client.get(f"{base}/api/v1/query", params=params)
    if r.status_code == 404:  # the hub never stored this node
        return []
    if r.status_code != 200:
        raise HubReadError(f"{base}/api/v1/query?metric={metric}: HTTP {r.status_code}")
    doc = r.json()
    series = doc.get("series") if isinstance(doc, dict) else None
    if not isinstance(series, list):
        raise HubReadError(f"{base}/api/v1/query?metric={metric}: no series list in the answer")
    return [s for s in series if isinstance(s, dict)]


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        return None
    return float(v)


def _points(series: list[Any]) -> list[tuple[float, float]]:
    """Every well-formed finite ``[t, v]`` of the series (anything else is skipped)."""
    pts = []
    for s in series:
        raw = s.get("points", []) if isinstance(s, dict) else []
        for p in raw if isinstance(raw, list) else []:
            if isinstance(p, list) and len(p) == 2:
                t, v = _number(p[0]), _number(p[1])
                if t is not None and v is not None:
                    pts.append((t, v))
    return sorted(pts)


def _labels(s: Any) -> dict[str, Any]:
    labels = s.get("labels") if isinstance(s, dict) else None
    return labels if isinstance(labels, dict) else {}


def _time_set(pts: list[tuple[float, float]], t1: float) -> float:
    """Seconds during which the flag read 1 (each reading holds until the next)."""
    total = 0.0
    for (t, v), (t_next, _v) in zip(pts, [*pts[1:], (t1, 0.0)], strict=True):
        if v > 0:
            total += max(0.0, min(t_next, t1) - t)
    return total


def _energy_wh(pts: list[tuple[float, float]]) -> float | None:
    if len(pts) < 2:
        return None
    joules = sum((b[0] - a[0]) * (a[1] + b[1]) / 2 for a, b in itertools.pairwise(pts))
    return joules / 3600.0


def summarise(
    series: Mapping[str, list[Any]], t1: float, fault_start: float | None, alerts: list[Any]
) -> dict[str, Any]:
    """The figures of one node from its series (``{metric: hub series}``) and the hub's alerts."""
    temp = next((p for m in _TEMP if (p := _points(series.get(m, [])))), [])
    flags = [
        s
        for s in series.get("microrack_throttled", [])
        if _labels(s).get("when") == "now" and _labels(s).get("flag") in _THROTTLE_FLAGS
    ]
    throttled: float | None = None
    if flags:
        # any flag set: merge the flags' readings, one value per time
        merged: dict[float, float] = {}
        for s in flags:
            for t, v in _points([s]):
                merged[t] = max(merged.get(t, 0.0), v)
        throttled = _time_set(sorted(merged.items()), t1)
    delay = None
    if fault_start is not None:
        fired = [
            at
            for a in alerts
            if isinstance(a, dict) and a.get("name") == "NodeDown"
            if (at := _number(a.get("fired_at"))) is not None and at >= fault_start
        ]
        delay = min(fired) - fault_start if fired else None
    return {
        "peak_temp_c": max(v for _t, v in temp) if temp else None,
        "throttled_s": throttled,
        "energy_wh": _energy_wh(_points(series.get("microrack_power_watts", []))),
        "nodedown_delay_s": delay,
        "samples": len(temp),
    }


def _list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else []


def read_measured(
    hub_url: str,
    nodes: list[str],
    t0: float,
    t1: float,
    fault_starts: Mapping[str, float],
    timeout: float = 10.0,
) -> dict[str, dict[str, Any]]:
    """Each node's measured figures between ``t0`` and ``t1`` (unix seconds) from the hub."""
    import httpx

    base = hub_url.rstrip("/")
    out: dict[str, dict[str, Any]] = {}
    with httpx.Client(timeout=timeout) as client:
        try:
            r = client.get(f"{base}/api/v1/alerts")
            if r.status_code != 200:
                raise HubReadError(f"{base}/api/v1/alerts: HTTP {r.status_code}")
            doc = r.json()
            if not isinstance(doc, dict):
                raise HubReadError(f"{base}/api/v1/alerts: not a JSON object")
            metrics = (*_TEMP, "microrack_throttled", "microrack_power_watts")
            for node in nodes:
                alerts = [
                    a
                    for a in [*_list(doc.get("alerts")), *_list(doc.get("resolved"))]
                    if isinstance(a, dict) and a.get("node") == node
                ]
                series = {m: _series(client, base, m, node, t0, t1) for m in metrics}
                out[node] = summarise(series, t1, fault_starts.get(node), alerts)
        except httpx.HTTPError as exc:
            raise HubReadError(f"{base}: {type(exc).__name__}: {exc}") from None
        except ValueError as exc:
            raise HubReadError(f"{base}: not JSON: {exc}") from None
    return out


def measured_for(hub_url: str, record: Any, nodes: list[str]) -> dict[str, dict[str, Any]]:
    """``read_measured`` over a ``RunRecord``'s window, faults timed by their requests."""
    starts: dict[str, float] = {}
    for f in record.faults:
        starts[f.node] = min(starts.get(f.node, f.start_unix), f.start_unix)
    t0 = record.t0_unix or record.start_unix
    return read_measured(hub_url, nodes, t0, record.end_unix, starts)

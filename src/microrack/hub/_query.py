"""``/api/v1/query`` parameters and server-side downsampling (pure functions)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["BadParameter", "QueryParams", "downsample", "parse_query", "rate"]

_REL = re.compile(r"^(?:now)?\s*-\s*(\d+(?:\.\d+)?)\s*(s|m|h|d|w)?$")
_STEP = re.compile(r"^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}
MAX_POINTS = 100_000


class BadParameter(ValueError):
    """A query parameter is wrong; ``parameter`` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class QueryParams:
    metric: str
    node: str | None
    labels: dict[str, str]
    t_from: float
    t_to: float
    step: float
    points: int
    rate: bool


def _time(name: str, text: str, now: float) -> float:
    text = text.strip()
    if text == "now":
        return now
    m = _REL.match(text)
    if m:
        value = now - float(m.group(1)) * _UNITS[m.group(2)]
        if not math.isfinite(value) or value < 0:
            raise BadParameter(name, f"{name}={text[:64]!r} is before 1970")
        return value
    try:
        value = float(text)
    except ValueError:
        raise BadParameter(
            name, f"{name}={text[:64]!r} is not a UNIX time, 'now' or 'now-1h'"
        ) from None
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise BadParameter(name, f"{name}={text[:64]!r} is not a valid time")
    return value


def parse_query(args: Mapping[str, str], now: float | None = None) -> QueryParams:
    """Validate ``metric, node, labels, from, to, step, points, rate``."""
    now = time.time() if now is None else now
    metric = args.get("metric", "").strip()
    if not metric:
        raise BadParameter("metric", "metric is required (e.g. metric=microrack_cpu_busy_ratio)")
    if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", metric):
        raise BadParameter("metric", f"metric={metric!r} is not a metric name")
    labels: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in args.get("labels", "").split(","))):
        k, sep, v = part.partition("=")
        if not sep or not k.strip():
            raise BadParameter("labels", f"labels: {part!r} is not name=value")
        labels[k.strip()] = v.strip().strip('"')
    t_from = _time("from", args.get("from", "now-1h"), now)
    t_to = _time("to", args.get("to", "now"), now)
    if t_to <= t_from:
        raise BadParameter("to", f"to ({t_to}) must be after from ({t_from})")
    step = 0.0
    if "step" in args:
        m = _STEP.match(args["step"].strip())
        if not m or float(m.group(1)) <= 0:
            raise BadParameter("step", f"step={args['step']!r} is not a positive duration like 30s")
        step = float(m.group(1)) * _UNITS[m.group(2)]
        if not math.isfinite(step) or step > 10 * 365 * 86400:
            raise BadParameter("step", f"step={args['step'][:64]!r} is longer than ten years")
    try:
        points = int(args.get("points", "1000"))
    except ValueError:
        raise BadParameter("points", f"points={args.get('points')!r} is not an integer") from None
    if not 1 <= points <= MAX_POINTS:
        raise BadParameter("points", f"points must be between 1 and {MAX_POINTS}")
    rate_arg = args.get("rate", "0").lower()
    if rate_arg not in ("0", "1", "true", "false"):
        raise BadParameter("rate", "rate must be 0 or 1")
    return QueryParams(
        metric,
        args.get("node") or None,
        labels,
        t_from,
        t_to,
        step,
        points,
        rate_arg in ("1", "true"),
    )


def rate(ts_ms: list[int], values: list[float]) -> tuple[list[int], list[float]]:
    """Per-second increase of a counter; a drop (agent restart) counts from zero."""
    out_t: list[int] = []
    out_v: list[float] = []
    for i in range(1, len(ts_ms)):
        dt = (ts_ms[i] - ts_ms[i - 1]) / 1000
        if dt <= 0:
            continue
        inc = values[i] - values[i - 1]
        if inc < 0:
            inc = values[i]
        out_t.append(ts_ms[i])
        out_v.append(inc / dt)
    return out_t, out_v


def downsample(
    ts_ms: list[int],
    values: list[float],
    t_from: float,
    t_to: float,
    points: int,
    step: float = 0.0,
) -> list[tuple[float, float]]:
    """Average into buckets of ``max(step, span/points)``: never more than ``points`` results."""
    span = t_to - t_from
    width = max(step, span / points)
    if len(ts_ms) <= points and step <= 0:
        return [(t / 1000, v) for t, v in zip(ts_ms, values, strict=True)]
    nb = min(points, max(1, math.ceil(span / width)))
    sums = [0.0] * nb
    counts = [0] * nb
    start = t_from * 1000
    wms = width * 1000
    for t, v in zip(ts_ms, values, strict=True):
        b = int((t - start) // wms)
        if b >= nb:
            b = nb - 1
        elif b < 0:
            continue
        sums[b] += v
        counts[b] += 1
    return [(t_from + (i + 0.5) * width, sums[i] / counts[i]) for i in range(nb) if counts[i]]

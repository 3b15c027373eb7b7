"""The hub's built-in alert rules, evaluated on the twin's arrays.

These are the documented defaults of ``microrack hub`` (``microrack.rules``,
``defaults:`` in a rules file): NodeDown, NearThrottleLimit (hottest sensor
within 5 degC of the soft limit), Throttling (any ``get_throttled``-style
flag now), FilesystemFull (> 90 % used), NvmeHot (> 70 degC), FanStalled
(0 rpm while the duty is above 0.2, held 10 s).  The sim evaluates them vectorised at the
hub's cadence instead of through the hub's per-node engine, so that a scenario
of many nodes runs without the hub's dependencies.  Names, severities and
thresholds come from ``microrack.rules``, which the hub reads too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from microrack.rules import SEVERITY, DefaultsSpec

__all__ = ["AlertEpisode", "AlertTracker", "Thresholds", "thresholds"]


@dataclass(frozen=True, slots=True)
class Thresholds:
    near_throttle_margin_c: float = 5.0
    filesystem_used_ratio: float = 0.9
    nvme_c: float = 70.0
    fan_start_duty: float = 0.2
    fan_stalled_for_s: float = 10.0  # FanStalled must hold this long before it fires


def thresholds() -> Thresholds:
    """The default thresholds (``microrack.rules.DefaultsSpec``, shared with the hub)."""
    d = DefaultsSpec()
    return Thresholds(
        d.near_throttle_margin_celsius,
        d.filesystem_used_ratio,
        d.nvme_celsius,
        d.fan_start_duty_ratio,
        d.fan_stalled_for_seconds,
    )


@dataclass(slots=True)
class AlertEpisode:
    """One alert on one node, from firing to resolved (``end`` None: still firing)."""

    rule: str
    node: str
    severity: str
    start: float
    end: float | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "node": self.node,
            "severity": self.severity,
            "start_s": round(self.start, 1),
            "end_s": None if self.end is None else round(self.end, 1),
        }


# the node-level rules the twin evaluates (containers are not modelled), in the hub's order
_TWIN_RULES = (
    "NodeDown",
    "NearThrottleLimit",
    "Throttling",
    "FilesystemFull",
    "NvmeHot",
    "FanStalled",
)
RULES = tuple((name, SEVERITY[name]) for name in _TWIN_RULES)


class AlertTracker:
    """Turns per-step rule conditions into firing/resolved episodes."""

    def __init__(self, names: list[str], th: Thresholds | None = None) -> None:
        self.names = names
        self.th = th or thresholds()
        self._active = np.zeros((len(RULES), len(names)), bool)
        # how long each condition must hold before the alert fires (the hub's ``for``)
        self._hold = np.array(
            [self.th.fan_stalled_for_s if r == "FanStalled" else 0.0 for r, _ in RULES]
        )[:, None]
        self._since = np.full((len(RULES), len(names)), np.inf)  # condition true since
        self._open: dict[tuple[int, int], AlertEpisode] = {}
        self.episodes: list[AlertEpisode] = []

    def evaluate(
        self,
        t: float,
        *,
        up: np.ndarray,
        sensor_ok: np.ndarray,
        temp: np.ndarray,
        soft_c: np.ndarray,
        flags: np.ndarray,
        disk_ratio: np.ndarray,
        nvme_temp: np.ndarray,
        has_nvme: np.ndarray,
        duty: np.ndarray,
        rpm_zero: np.ndarray,
        has_fan: np.ndarray,
    ) -> None:
        th = self.th
        alive = up > 0
        cond = np.stack(
            [
                ~alive,
                alive & sensor_ok & (temp >= soft_c - th.near_throttle_margin_c),
                alive & (flags != 0),
                alive & (disk_ratio > th.filesystem_used_ratio),
                alive & (has_nvme > 0) & (nvme_temp > th.nvme_c),
                alive & (has_fan > 0) & rpm_zero & (duty > th.fan_start_duty),
            ]
        )
        self._since = np.where(cond, np.minimum(self._since, t), np.inf)
        cond = cond & (t - self._since >= self._hold)
        started = cond & ~self._active
        ended = ~cond & self._active
        for r, i in zip(*np.nonzero(started), strict=True):
            ep = AlertEpisode(RULES[r][0], self.names[i], RULES[r][1], t)
            self._open[(int(r), int(i))] = ep
            self.episodes.append(ep)
        for r, i in zip(*np.nonzero(ended), strict=True):
            closing = self._open.pop((int(r), int(i)), None)
            if closing is not None:
                closing.end = t
        self._active = cond

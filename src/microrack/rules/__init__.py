"""The default alert rules, shared by the hub and the twin (no hub dependency).

``DefaultsSpec`` is the ``defaults:`` section of a hub rules file: which
built-in rules are on and their thresholds.  ``DEFAULT_RULES`` names every
built-in rule with its severity, in the order the hub evaluates them.  The hub
(``microrack.hub``) evaluates them on scraped nodes, the twin
(``microrack.sim``) on its arrays; both read the thresholds from here, so the
two cannot drift apart.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DEFAULT_RULES", "SEVERITY", "DefaultsSpec", "Severity"]

Severity = Literal["info", "warning", "critical"]

#: (rule name, severity) of every built-in rule, in evaluation order
DEFAULT_RULES: tuple[tuple[str, Severity], ...] = (
    ("NodeDown", "critical"),
    ("NearThrottleLimit", "warning"),
    ("Throttling", "warning"),
    ("FilesystemFull", "warning"),
    ("NvmeHot", "warning"),
    ("FanStalled", "critical"),
    ("ContainerOOMKilled", "warning"),
    ("ContainerCPUThrottled", "warning"),
)
SEVERITY: dict[str, Severity] = dict(DEFAULT_RULES)


class DefaultsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    node_down: bool = True
    near_throttle: bool = True
    near_throttle_margin_celsius: float = 5.0
    throttling: bool = True
    filesystem_full: bool = True
    filesystem_used_ratio: float = Field(default=0.9, gt=0, le=1)
    nvme_hot: bool = True
    nvme_celsius: float = 70.0
    fan_stalled: bool = True
    fan_start_duty_ratio: float = Field(default=0.2, ge=0, le=1)
    # A fan needs a moment to spin up after it is switched on, and a controller
    # reads the tach before it writes the new duty: 0 rpm must last to count.
    fan_stalled_for_seconds: float = Field(default=10.0, ge=0)
    # Containers (the agent's cgroup collector): a process OOM-killed in the last window,
    # and a container throttled for more than a share of its CFS periods for a while.
    container_oom_killed: bool = True
    container_oom_window_seconds: float = Field(default=600.0, gt=0)
    container_throttled: bool = True
    container_throttled_ratio: float = Field(default=0.25, gt=0, le=1)
    container_throttled_for_seconds: float = Field(default=600.0, ge=0)

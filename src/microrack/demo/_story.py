"""The demo's default story: load ramps, one fan stalls, another node crashes and returns.

Times here are real seconds from the start of the demo.  The twin runs
``speed`` times faster than real time, so that a board heats up and throttles
in seconds rather than minutes; node scripts are written in twin seconds.
The boards sit in a warm closet (35 degC) and run HPL, the hottest common
load: a Pi 4 whose case fan stops throttles there within minutes of twin time,
as the calibrated twin says it would not at room temperature under stress-ng.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

__all__ = ["Story", "write_script"]


@dataclass(frozen=True, slots=True)
class Story:
    speed: float = 10.0  # twin seconds per real second
    ramp_s: float = 10.0  # load 15 % -> 90 % over this many real seconds
    stall_at_s: float = 15.0  # node 0's fan stops ...
    stall_for_s: float = 60.0  # ... for this long, then spins again
    crash_at_s: float = 35.0  # node 1's agent process is killed (the board crashed) ...
    crash_for_s: float = 20.0  # ... and restarted with a new boot id this much later
    idle_util: float = 0.15
    busy_util: float = 0.9
    ambient_c: float = 35.0  # a warm closet
    kind: str = "hpl"  # the kind of work the load is (twin workload intensity)


def write_script(path: Path, story: Story, *, index: int, after_reboot: bool = False) -> Path:
    """The twin script of demo node ``index`` (node 0 stalls).

    Every node boots idle, in its idle steady state, and the load ramps up: at
    the start of the demo and again after node 1's reboot (its work comes back).
    """
    k = story.speed
    load = [{"at": 0, "util": story.idle_util}, {"at": story.ramp_s * k, "util": story.busy_util}]
    script: dict[str, object] = {
        "speed": k,
        "ambient_c": story.ambient_c,
        "kind": story.kind,
        "load": load,
        "faults": [],
    }
    if index == 0 and not after_reboot:
        script["faults"] = [
            {"at": story.stall_at_s * k, "kind": "fan_stall", "duration": story.stall_for_s * k}
        ]
    path.write_text(yaml.safe_dump(script, sort_keys=False), encoding="utf-8")
    return path

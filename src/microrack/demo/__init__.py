"""``microrack demo``: a whole simulated cluster on one machine — agents, fans, hub."""

from microrack.demo._run import DEFAULT_BOARDS, Demo, DemoNode, hub_available, running
from microrack.demo._story import Story, write_script

__all__ = [
    "DEFAULT_BOARDS",
    "Demo",
    "DemoNode",
    "Story",
    "hub_available",
    "running",
    "write_script",
]

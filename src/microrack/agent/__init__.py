"""The node agent: collect loop, ring buffer, Prometheus and JSON exposition, signed beacon.

Runtime dependencies are the Python standard library only (plus the board
catalog, read once at start for the power estimate), so the agent installs
and runs on a 1 GB RISC-V board.
"""

from microrack.agent._agent import DEFAULT_BUFFER, Agent, AgentConfig, parse_listen
from microrack.agent._collector import Collection, Collector
from microrack.agent._collectors import COLLECTORS, DEFAULT_ENABLED
from microrack.agent._families import HELP, PointSink
from microrack.agent._heap import steady_heap
from microrack.agent._registry import (
    CollectorOptions,
    CollectorResult,
    NoData,
    NodeCollector,
    Registry,
    option_flag,
    resolve_collectors,
)
from microrack.agent._ring import RingBuffer
from microrack.exposition import CONTENT_TYPE, render

__all__ = [
    "COLLECTORS",
    "CONTENT_TYPE",
    "DEFAULT_BUFFER",
    "DEFAULT_ENABLED",
    "HELP",
    "Agent",
    "AgentConfig",
    "Collection",
    "Collector",
    "CollectorOptions",
    "CollectorResult",
    "NoData",
    "NodeCollector",
    "PointSink",
    "Registry",
    "RingBuffer",
    "option_flag",
    "parse_listen",
    "render",
    "resolve_collectors",
    "steady_heap",
]

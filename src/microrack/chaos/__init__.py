"""Faults on a real cluster: a ``microrack sim`` scenario made real through the agents.

``plan_run`` turns a scenario and cluster.yaml into signed requests of the
chaos wire contract (``microrack.faults``), one per node and fault, checked
against each node's ``chaos:`` field; ``run_plan`` sends them at their times
and reverts everything at the end, on Ctrl-C or SIGTERM; ``stop_nodes`` ends
every fault on every node at once.  A power cycle goes to the node's Turing
Pi 2 BMC.
"""

from microrack.chaos._plan import AgentStep, BmcStep, ChaosPlan, agent_urls, node_facts, plan_run
from microrack.chaos._report import compare, report_text
from microrack.chaos._run import (
    ChaosError,
    FaultRecord,
    HubAnnotator,
    ProbeRecord,
    RunRecord,
    load_bmc_auth,
    run_plan,
    stop_nodes,
)

__all__ = [
    "AgentStep",
    "BmcStep",
    "ChaosError",
    "ChaosPlan",
    "FaultRecord",
    "HubAnnotator",
    "ProbeRecord",
    "RunRecord",
    "agent_urls",
    "compare",
    "load_bmc_auth",
    "node_facts",
    "plan_run",
    "report_text",
    "run_plan",
    "stop_nodes",
]

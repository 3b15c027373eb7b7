"""Faults on a real cluster: a ``microrack sim`` scenario made real through the agents.

``plan_run`` turns a scenario and cluster.yaml into signed requests of the
chaos wire contract (``microrack.faults``), one per node and fault, checked
against each node's ``chaos:`` field; ``run_plan`` sends them at their times
and reverts everything at the end, on Ctrl-C or SIGTERM; ``stop_nodes`` ends
every fault on every node at once.  A power cycle goes to the node's Turing
Pi 2 BMC.  ``group_probes`` names each quorum group's health checks from the
spec's roles (``services.health`` overrides them); ``compare`` sets the run's
checks and the hub's figures beside the twin's prediction.
"""

from microrack.chaos._health import (
    CEPH_MON_REASON,
    DEFAULT_CHECKS,
    GroupProbe,
    MemberProbe,
    MemberRecord,
    group_probes,
)
from microrack.chaos._html import write_html
from microrack.chaos._measured import HubReadError, measured_for, read_measured
from microrack.chaos._plan import AgentStep, BmcStep, ChaosPlan, agent_urls, node_facts, plan_run
from microrack.chaos._report import compare, report_text
from microrack.chaos._run import (
    ChaosError,
    FaultRecord,
    HubAnnotator,
    RunRecord,
    load_bmc_auth,
    run_plan,
    stop_nodes,
)

__all__ = [
    "CEPH_MON_REASON",
    "DEFAULT_CHECKS",
    "AgentStep",
    "BmcStep",
    "ChaosError",
    "ChaosPlan",
    "FaultRecord",
    "GroupProbe",
    "HubAnnotator",
    "HubReadError",
    "MemberProbe",
    "MemberRecord",
    "RunRecord",
    "agent_urls",
    "compare",
    "group_probes",
    "load_bmc_auth",
    "measured_for",
    "node_facts",
    "plan_run",
    "read_measured",
    "report_text",
    "run_plan",
    "stop_nodes",
    "write_html",
]

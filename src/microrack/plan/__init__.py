"""From requirements to ranked, costed, failure-tolerant builds.

>>> from microrack.plan import load_requirements, plan
>>> result = plan(load_requirements("examples/requirements/riscv-learning.yaml"))
>>> result.ranked[0].label                                 # doctest: +SKIP
'3 x Orange Pi RV2 8 GB'

The arithmetic is pure (``evaluate`` prices and checks one build); ``search``
enumerates boards x RAM variants x node counts, and mixed builds where
transcoding nodes are needed; the report and ``emit_spec`` present the result.
"""

from __future__ import annotations

import os

from microrack.catalog import Catalog, PlanningRules, load_catalog, planning_rules
from microrack.plan._build import Build, Check, Group, evaluate, gbe
from microrack.plan._emit import emit_spec, spec_document
from microrack.plan._power import annual_cost_usd, annual_kwh, average_watts, monthly_cost_usd
from microrack.plan._requirements import Requirements, load_requirements
from microrack.plan._search import PlanResult, Rejection, search

__all__ = [
    "Build",
    "Check",
    "Group",
    "PlanResult",
    "Rejection",
    "Requirements",
    "annual_cost_usd",
    "annual_kwh",
    "average_watts",
    "emit_spec",
    "evaluate",
    "gbe",
    "load_requirements",
    "monthly_cost_usd",
    "plan",
    "search",
    "spec_document",
]


def plan(
    requirements: Requirements | str | os.PathLike[str],
    catalog: Catalog | None = None,
    rules: PlanningRules | None = None,
) -> PlanResult:
    """Rank every build of the catalog's boards against ``requirements``."""
    req = (
        requirements if isinstance(requirements, Requirements) else load_requirements(requirements)
    )
    return search(req, catalog or load_catalog(), rules or planning_rules())

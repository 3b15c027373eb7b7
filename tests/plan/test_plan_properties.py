"""Properties of the planner over random requirements on the packaged catalog."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microrack.catalog import load_catalog, planning_rules
from microrack.plan import Requirements, search

requirements = st.builds(
    lambda ram, per_node, losses, link, budget, k8s, nodes_max: Requirements(
        workload_ram_gb=ram,
        min_node_ram_gb=per_node,
        survive_node_losses=losses,
        network={"node_link_gbps": link},
        budget_usd=budget,
        kubernetes={} if k8s else None,
        nodes={"min": 1, "max": nodes_max},
    ),
    st.sampled_from([0, 4, 16, 48]),
    st.sampled_from([0, 2, 8]),
    st.integers(0, 2),
    st.sampled_from([0, 1, 2.5, 10]),
    st.sampled_from([None, 300, 2000]),
    st.booleans(),
    st.integers(3, 8),
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=requirements)
def test_ranked_builds_pass_everything_and_are_sorted_by_tco(req):
    result = search(req, load_catalog(), planning_rules())
    tcos = [b.tco_usd for b in result.ranked]
    assert tcos == sorted(tcos)
    for b in result.ranked:
        assert b.ok
        assert req.nodes.min <= b.nodes <= req.nodes.max
        assert b.ram_left_after_losses_gb >= req.workload_ram_gb
        assert b.tolerates >= req.survive_node_losses
        if req.budget_usd is not None:
            assert b.hardware_usd <= req.budget_usd
    # a board either has a qualifying build or is listed with at least one reason
    ranked_boards = {g.board.id for b in result.ranked for g in b.groups}
    for r in result.rejected:
        assert r.board.id not in ranked_boards and r.reasons
    if not result.ranked:
        assert result.closest


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=requirements, faster=st.sampled_from([1, 2.5, 5]))
def test_a_stricter_requirement_never_adds_builds(req, faster):
    catalog, rules = load_catalog(), planning_rules()
    loose = search(req, catalog, rules)
    strict_req = req.model_copy(
        update={
            "network": req.network.model_copy(
                update={"node_link_gbps": req.network.node_link_gbps + faster}
            )
        }
    )
    strict = search(strict_req, catalog, rules)
    # link speed does not depend on node count: what still qualifies is the same build
    assert {b.label for b in strict.ranked} <= {b.label for b in loose.ranked}

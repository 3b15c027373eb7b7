"""Properties of the new requirements over random briefs on the packaged catalog."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from microrack.catalog import load_catalog, planning_rules
from microrack.plan import Requirements, search
from microrack.plan._build import rank_key

STORAGE = [
    None,
    {"kind": "sata"},
    {"kind": "nvme", "m2_min_length": 2280, "power_loss_protection": True},
    [{"kind": "sata"}, {"kind": "nvme", "m2_min_length": 2280}],
]

briefs = st.builds(
    lambda uplink, bonding, wired, gflops, rank_by, storage, os_drive, link, nodes_max: (
        Requirements.model_validate(
            {
                "name": "random",
                "network": {
                    "uplink_gbps": uplink,
                    "uplink_bonding": bonding,
                    "uplink_nodes": wired,
                    "node_link_gbps": link,
                },
                "min_cluster_gflops": gflops,
                "rank_by": rank_by,
                "storage": storage,
                "os_drive": {"allow": os_drive} if os_drive and storage else None,
                "nodes": {"min": 1, "max": nodes_max},
            }
        )
    ),
    st.sampled_from([0, 1, 2.5, 5, 10]),
    st.booleans(),
    st.sampled_from([None, 1, 2]),
    st.sampled_from([None, 50, 150]),
    st.sampled_from(["tco", "cost_per_gflops", "gflops_per_watt"]),
    st.sampled_from(STORAGE),
    st.sampled_from([None, ["emmc"], ["emmc", "second_slot", "sd"]]),
    st.sampled_from([0, 2.5, 10]),
    st.integers(2, 6),
)


def _keys(result) -> set[tuple[str, float]]:
    return {(g.board.id, g.variant.ram_gb) for b in result.ranked for g in b.groups}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=briefs)
def test_ranked_builds_meet_the_new_requirements_in_rank_order(req):
    result = search(req, load_catalog(), planning_rules())
    keys = [rank_key(b, req.rank_by) for b in result.ranked]
    assert keys == sorted(keys)
    for b in result.ranked:
        assert b.ok and b.uplink_gbps >= req.network.uplink_gbps
        assert b.node_link_gbps >= req.network.node_link_gbps
        if req.min_cluster_gflops is not None:
            assert b.gflops is not None and b.gflops >= req.min_cluster_gflops
        for _, lay in b.layouts:
            assert lay.ok and (lay.data is not None) == (req.storage is not None)
            assert (lay.os is not None) == (req.os_drive is not None)
            assert lay.data != lay.os or lay.data is None or lay.data.startswith("SATA port")
        checks = {c.requirement for c in b.checks}
        assert "uplink_gbps" in checks and "node_link_gbps" in checks
        assert all(c.margin is None or c.margin >= 0 for c in b.checks)
    for r in result.rejected:
        assert r.reasons


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(req=briefs)
def test_allowing_bonds_or_another_storage_option_never_removes_a_board(req):
    catalog, rules = load_catalog(), planning_rules()
    base = search(req, catalog, rules)
    bonded = req.model_copy(
        update={"network": req.network.model_copy(update={"uplink_bonding": True})}
    )
    assert _keys(base) <= _keys(search(bonded, catalog, rules))
    if req.storage is not None and not isinstance(req.storage, list):
        wider = req.model_copy(
            update={
                "storage": [
                    req.storage,
                    *req.storage_options,
                    req.storage.model_copy(update={"kind": "any"}),
                ]
            }
        )
        assert _keys(base) <= _keys(search(wider, catalog, rules))
    if req.storage is not None and req.os_drive is None:
        with_os = Requirements.model_validate({**req.model_dump(), "os_drive": {}})
        assert _keys(search(with_os, catalog, rules)) <= _keys(base)

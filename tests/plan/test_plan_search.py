"""The planner on small hand-made catalogs where the right answer is obvious."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from microrack.catalog import load_catalog
from microrack.plan import Requirements, plan


def board(
    board_id: str,
    *,
    ram=(4,),
    price=(50,),
    idle=2.0,
    load=6.0,
    nic=1.0,
    cores=4,
    transcode=False,
    poe=None,
    m2=None,
    isa="arm64",
) -> dict:
    def est(v):
        return {"value": v, "estimate": True}

    entry = {
        "id": board_id,
        "name": board_id.replace("-", " ").title(),
        "soc": "T1",
        "isa": isa,
        "cores": est(cores),
        "max_mhz": est(1800),
        "variants": [
            {"ram_gb": est(r), "price_usd": est(p)} for r, p in zip(ram, price, strict=True)
        ],
        "nics": [{"count": est(1), "speed_gbps": est(nic)}],
        "emmc": "none",
        "poe": poe or {"support": "none"},
        "power": {"measured_at": "wall", "idle_w": est(idle), "load_w": est(load)},
        "thermal_profile": "rk3588",
        "video": {"hw_transcode": transcode},
    }
    if m2 is not None:
        entry["m2"] = [
            {
                "key": "M",
                "lengths": est(m2),
                "via": "onboard",
                "pcie_gen": est(3),
                "pcie_lanes": est(1),
                "nvme": True,
                "sata": False,
            }
        ]
    return entry


@pytest.fixture
def small_catalog(tmp_path: Path):
    def make(*boards):
        path = tmp_path / "small.yaml"
        path.write_text(yaml.safe_dump({"boards": list(boards)}))
        return load_catalog(path)

    return make


def req(boards, **kw) -> Requirements:
    return Requirements(boards=[b["id"] for b in boards], **kw)


def test_cheapest_board_wins_when_both_qualify(small_catalog):
    a, b = board("cheap-a", price=(40,)), board("dear-b", price=(90,))
    result = plan(req([a, b], workload_ram_gb=4), small_catalog(a, b))
    assert [x.label for x in result.ranked] == ["2 x Cheap A 4 GB", "2 x Dear B 4 GB"]
    assert not result.rejected


def test_the_only_board_fast_enough_wins_and_the_loser_says_why(small_catalog):
    a = board("slow-a", price=(40,), nic=1.0)
    b = board("fast-b", price=(90,), nic=10.0)
    result = plan(req([a, b], network={"node_link_gbps": 5}), small_catalog(a, b))
    assert [g.board.id for x in result.ranked for g in x.groups] == ["fast-b"]
    [rejected] = result.rejected
    assert rejected.reasons == ["Slow A: 1 GbE per node < 5 Gbps required"]


def test_power_hungry_board_loses_over_the_years(small_catalog):
    # equal RAM, the hungry one is $20 cheaper but draws 20 W more on average
    thrifty = board("thrifty", price=(60,), idle=2, load=4)
    hungry = board("hungry", price=(40,), idle=22, load=24)
    catalog = small_catalog(thrifty, hungry)
    one_year = plan(req([thrifty, hungry], electricity_usd_per_kwh=0.0, years=1), catalog)
    assert one_year.ranked[0].groups[0].board.id == "hungry"  # free power: hardware decides
    paid = plan(req([thrifty, hungry], electricity_usd_per_kwh=0.30, years=3), catalog)
    assert paid.ranked[0].groups[0].board.id == "thrifty"
    # 20 W x 8.766 kWh/W/yr x $0.30 x 3 y = $157.8 more for the hungry board
    diff = paid.ranked[1].tco_usd - paid.ranked[0].tco_usd
    assert diff == pytest.approx(157.78 - 20, abs=0.01)


def test_three_nodes_survive_one_loss_and_two_do_not(small_catalog):
    a = board("node-a", ram=(8,), price=(50,))
    catalog = small_catalog(a)
    rules = dict(kubernetes={"distribution": "k3s"}, survive_node_losses=1, workload_ram_gb=2)
    result = plan(req([a], **rules), catalog)
    best = result.ranked[0]
    assert best.nodes == 3
    assert dict(best.tolerance)["etcd"] == 1 and best.tolerates >= 1
    two = plan(req([a], nodes={"min": 2, "max": 2}, **rules), catalog)
    assert not two.ranked
    [closest] = two.closest
    assert "2 nodes cannot keep an etcd quorum through 1 loss (needs 3)" in [
        c.message for c in closest.failures
    ]


def test_surviving_two_losses_needs_five_voters_and_a_size_four_ceph_pool(small_catalog):
    a = board("node-a", ram=(16,), price=(50,), m2=[2280])
    result = plan(
        req(
            [a],
            kubernetes={},
            ceph={},
            storage={"kind": "nvme"},
            survive_node_losses=2,
            workload_ram_gb=8,
        ),
        small_catalog(a),
    )
    best = result.ranked[0]
    assert best.nodes == 5
    assert dict(best.tolerance) == {"ram": 4, "etcd": 2, "ceph": 2}


def test_ram_left_after_losses_subtracts_overheads_and_the_largest_nodes(small_catalog):
    a = board("node-a", ram=(8,), price=(50,))
    result = plan(
        req([a], nodes={"min": 4, "max": 4}, survive_node_losses=1, system_reserved_gb=1.0),
        small_catalog(a),
    )
    best = result.ranked[0]
    assert best.usable_ram_gb == pytest.approx(4 * 7)
    assert best.ram_left_after_losses_gb == pytest.approx(3 * 7)


def test_mixed_build_adds_the_cheapest_transcoding_node(small_catalog):
    plain = board("plain", price=(40,))
    coder = board("coder", price=(150,), transcode=True)
    result = plan(
        req([plain, coder], nodes={"min": 3, "max": 3}, transcode_nodes=1),
        small_catalog(plain, coder),
    )
    assert result.ranked[0].label == "2 x Plain 4 GB + 1 x Coder 4 GB"
    assert result.ranked[0].hardware_usd == 2 * 40 + 150
    no_mix = plan(
        req([plain, coder], nodes={"min": 3, "max": 3}, transcode_nodes=1, mixed=False),
        small_catalog(plain, coder),
    )
    assert [x.label for x in no_mix.ranked] == ["3 x Coder 4 GB"]
    assert no_mix.rejected[0].reasons == ["Plain: 0 of 1 nodes with hardware video encode"]


def test_poe_budget_in_class_and_consumption_modes(small_catalog):
    poe = {
        "support": "hat",
        "standard": "802.3at",
        "pd_class": 4,
        "extra_usd": {"value": 20, "estimate": True},
    }
    a = board("poe-a", poe=poe, load=8.7)
    catalog = small_catalog(a)
    fixed = {"min": 10, "max": 10}
    by_class = plan(req([a], nodes=fixed, poe={"switch_budget_w": 250}), catalog)
    assert not by_class.ranked  # 10 x 30 W class-4 reservations = 300 W > 250 W
    assert by_class.closest[0].poe_used_w == pytest.approx(300)
    assert "PoE 300 W (class allocation) > 250 W switch budget" in [
        c.message for c in by_class.closest[0].failures
    ]
    by_use = plan(
        req([a], nodes=fixed, poe={"switch_budget_w": 250, "allocation": "consumption"}), catalog
    )
    assert by_use.ranked[0].poe_used_w == pytest.approx(10 * 8.7 / 0.87)
    assert by_use.ranked[0].hardware_usd == 10 * (50 + 20)  # the HAT is paid for


def test_storage_length_and_power_loss_protection(small_catalog):
    short = board("short-slot", m2=[2230, 2242], price=(40,))
    long = board("long-slot", m2=[2280], price=(60,))
    nothing = board("usb-only", price=(30,))
    catalog = small_catalog(short, long, nothing)
    result = plan(
        req([short, long, nothing], storage={"kind": "nvme", "power_loss_protection": True}),
        catalog,
    )
    assert [g.board.id for x in result.ranked for g in x.groups] == ["long-slot"]
    reasons = sorted(r for x in result.rejected for r in x.reasons)
    assert reasons == [
        "Short Slot: M.2 slot takes 2230/2242, a power-loss-protected drive needs 2280",
        "Usb Only: no NVMe slot (storage only over USB)",
    ]


def test_packaged_turing_rk1_is_rejected_for_a_5_gbps_link():
    result = plan(Requirements(network={"node_link_gbps": 5}))
    reasons = [r for x in result.rejected for r in x.reasons]
    assert "Turing RK1: 1 GbE per node < 5 Gbps required" in reasons
    assert all(g.board.node_link_gbps >= 5 for b in result.ranked for g in b.groups)


def test_isa_and_budget_rejections_are_in_words(small_catalog):
    rv = board("rv-board", isa="riscv64", price=(30,))
    arm = board("arm-board", price=(500,))
    result = plan(req([rv, arm], isa=["riscv64"], budget_usd=100), small_catalog(rv, arm))
    assert result.ranked[0].groups[0].board.id == "rv-board"
    [rej] = result.rejected
    assert rej.reasons == [
        "Arm Board: arm64 is not an allowed ISA (riscv64)",
        "Arm Board: hardware $500 > $100 budget",
    ]


def test_impossible_requirements_list_the_closest_builds_and_their_misses():
    path = Path(__file__).resolve().parents[2] / "examples/requirements/impossible.yaml"
    result = plan(path)
    assert not result.ranked
    assert len(result.closest) >= 3
    for build in result.closest:
        assert build.failures and all(c.message for c in build.failures)
    misses = [len(b.failures) for b in result.closest]
    assert misses == sorted(misses)

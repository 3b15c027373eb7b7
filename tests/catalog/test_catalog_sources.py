"""The catalog as shipped carries the RK3588 write-up, Mixtile's answers, HPL runs and
sbc-bench clocks, each with its source; disagreeing sources are both kept."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from microrack.catalog import board_profile, load_catalog
from microrack.errors import ConfigError

# The write-up's comparison table (price USD, RAM GB, NICs), as published.
WRITEUP = {
    "radxa-rock-5b": (189, 16, (1, 2.5)),
    "geniatech-db3588v2": (229, 32, (2, 1)),
    "bananapi-bpi-rk3588": (160, 8, (1, 2.5)),
    "firefly-roc-rk3588-rt": (319, 32, None),
    "orangepi-5-plus": (189, 32, (2, 2.5)),
    "turing-rk1": (260, 32, (1, 1)),
    "mixtile-blade3": (439, 32, (2, 2.5)),
}
# geerlingguy/top500-benchmark README results: board -> (issue, Gflops, watts)
HPL = {
    "rpi-4b": (13, 11.889, 7.2),
    "rpi-cm4": (33, 11.433, 5.2),
    "rpi-5": (18, 35.169, 12.7),
    "rpi-cm5": (48, 32.152, 9.2),
    "turing-rk1": (22, 59.81, 18.1),
    "radxa-rock-5b": (8, 51.382, 12),
    "milkv-mars": (35, 2.06, 4.7),
    "milkv-jupiter": (37, 5.66, 10.6),
}


@pytest.mark.parametrize("board_id", sorted(WRITEUP))
def test_every_writeup_price_is_in_the_catalog_with_its_source(board_id):
    price, ram, nics = WRITEUP[board_id]
    p = board_profile(board_id)
    found = []
    for i, v in enumerate(p.variants):
        q = p.fact(f"variants[{i}].price_usd")
        if v.ram_gb == ram and q is not None:
            found += [(q.value, q.source)] + [(o.value, o.source) for o in q.others]
    assert (price, "rk3588_writeup") in found, found
    if nics is not None:
        assert (p.nics[0].count, p.nics[0].speed_gbps) == nics


def test_where_sources_disagree_both_values_are_kept():
    rk1 = board_profile("rk1")
    q = rk1.fact("variants[2].price_usd")
    assert (q.value, q.source) == (299, "geerling_rk1_issue")
    assert [(o.value, o.source) for o in q.others] == [(260, "rk3588_writeup")]
    blade = board_profile("blade3").fact("backplane.speed_gbps")
    assert (blade.value, blade.source) == (16, "rk3588_writeup")
    assert [(o.value, o.source) for o in blade.others] == [(8, "mixtile_box")]


def test_mixtile_answers_uplink_bonding_and_lane_sharing():
    blade = board_profile("blade3")
    assert blade.variants[-1].ram_gb == 32 and blade.variants[-1].price_usd == 439
    [nic] = blade.nics
    assert nic.uplink and nic.bond == "lacp" and nic.bond_source == "mixtile_email"
    assert blade.node_uplink_gbps(bonding=True) == 5.0
    assert blade.node_uplink_gbps(bonding=False) == 2.5
    # the Cluster Box's RJ-45 port only configures the blades: no uplink
    assert blade.carrier is not None and [u.uplink for u in blade.carrier.uplinks] == [False]
    assert blade.carrier_uplink_gbps(bonding=True) == 0.0
    # four lanes, two go to the M.2 SSD: half the backplane is left with a drive in it
    assert blade.lane_sharing is not None
    assert (blade.lane_sharing.lanes, blade.lane_sharing.m2_lanes) == (4, 2)
    assert blade.link_gbps(m2_in_use=False) == 16.0
    assert blade.link_gbps(m2_in_use=True) == 8.0
    assert blade.emmc_gb == 256 and blade.sata_ports == 1


def test_turing_pi_2_nodes_reach_the_outside_only_through_the_carrier():
    rk1 = board_profile("rk1")
    assert not any(n.uplink for n in rk1.nics)
    assert rk1.node_uplink_gbps(bonding=True) == 0.0
    # two unbonded ports of one switch: only one counts; no LAG documented, so bonding adds none
    assert rk1.carrier_uplink_gbps(bonding=False) == 1.0
    assert rk1.carrier_uplink_gbps(bonding=True) == 1.0


@pytest.mark.parametrize("board_id", sorted(HPL))
def test_hpl_rows_cite_their_top500_issue(board_id):
    issue, gflops, watts = HPL[board_id]
    cat = load_catalog()
    p = board_profile(board_id)
    assert p.hpl is not None and p.hpl.gflops == gflops and p.hpl.watts == watts
    q = p.fact("hpl.gflops")
    assert q is not None and not q.estimate
    source = cat.sources[q.source]
    assert source.url.endswith(f"/top500-benchmark/issues/{issue}")
    assert f"{gflops:g}" in source.title.replace("59.810", "59.81")
    assert p.hpl.gflops_per_watt == pytest.approx(gflops / watts)


def test_boards_without_a_run_of_their_own_have_estimates_that_say_so():
    for board_id in ("blade3", "opi5plus", "rv2", "vf2"):
        q = board_profile(board_id).fact("hpl.gflops")
        assert q is not None and q.estimate and "no run on this board" in (q.basis or "")
    assert board_profile("pi2").hpl is None  # no published run, no guess


def test_rk3588_parts_sold_at_2400_mhz_measure_2300_to_2350():
    for board_id in ("rock5b", "opi5plus", "rk1"):
        p = board_profile(board_id)
        assert p.max_mhz == 2400
        assert p.measured_mhz is not None and 2280 <= p.measured_mhz <= 2350
        q = p.fact("measured_mhz")
        assert q is not None and q.source and q.source.startswith("sbcbench_")
    assert board_profile("pi5").measured_mhz == 2398


def test_every_bond_and_disagreeing_value_names_a_known_source():
    cat = load_catalog()
    for p in cat:
        for n in (*p.nics, *(p.carrier.uplinks if p.carrier else ())):
            if n.bond:
                assert n.bond_source in cat.sources
        for q in p.facts.values():
            for other in q.others:
                assert other.source in cat.sources


TWO = "{count: {value: 2, estimate: true}, speed_gbps: {value: 1, estimate: true}"
BASE = """
boards:
- id: test-board
  name: Test Board
  soc: T1
  isa: arm64
  cores: {value: 4, estimate: true}
  max_mhz: {value: 1800, estimate: true}
  variants: [{ram_gb: {value: 4, estimate: true}, price_usd: {value: 50, estimate: true}}]
  nics: [NICS]
  emmc: none
  poe: {support: none}
  power: {measured_at: wall, idle_w: {value: 2, estimate: true}, load_w: {value: 6, estimate: true}}
  thermal_profile: rk3588
  video: {hw_transcode: false}
EXTRA
"""


@pytest.mark.parametrize(
    ("nics", "extra", "field", "words"),
    [
        (
            TWO + ", bond: lacp}",
            "",
            "boards[0].nics[0].bond_source",
            "bond_source",
        ),
        (
            TWO + ", bond: lag, bond_source: tk_rock5b}",
            "",
            "boards[0].nics[0].bond",
            "expected one of lacp",
        ),
        (
            TWO + ", bond: lacp, bond_source: nowhere}",
            "",
            "boards[0].nics[0].bond_source",
            "unknown source",
        ),
        (
            "{count: {value: 1, estimate: true}, speed_gbps: {value: 1, source: tk_rock5b,"
            " also: [{value: 2.5, estimate: true}]}}",
            "",
            "boards[0].nics[0].speed_gbps.also[0].source",
            "needs its `source",
        ),
        (
            "{count: {value: 1, estimate: true}, speed_gbps: {value: 1, estimate: true}}",
            "  lane_sharing: {lanes: {value: 4, estimate: true},"
            " m2_lanes: {value: 2, estimate: true}}",
            "boards[0].lane_sharing.shared_with",
            "backplane the board does not have",
        ),
        (
            "{count: {value: 1, estimate: true}, speed_gbps: {value: 1, estimate: true}}",
            "  hpl: {gflops: {value: 0, estimate: true}}",
            "boards[0].hpl.gflops",
            "Gflops > 0",
        ),
        (
            "{count: {value: 1, estimate: true}, speed_gbps: {value: 1, estimate: true}}",
            "  hpl: {gflops: {value: 5}}",
            "boards[0].hpl.gflops",
            "source: ID",
        ),
    ],
)
def test_bad_new_fields_name_the_field(tmp_path: Path, nics, extra, field, words):
    path = tmp_path / "mine.yaml"
    path.write_text(textwrap.dedent(BASE).replace("NICS", nics).replace("EXTRA", extra))
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    text = str(info.value)
    assert f"{path}: {field}:" in text, text
    assert re.search(re.escape(words), text), text


def test_catalog_json_and_table_show_the_new_facts():
    import json
    import subprocess

    from support import microrack_cmd

    proc = subprocess.run(
        microrack_cmd("catalog", "blade3", "--json"), capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["hpl"]["gflops"] == 51.382 and doc["facts"]["hpl.gflops"]["estimate"] is True
    assert doc["facts"]["backplane.speed_gbps"]["also"] == [
        {
            "value": 8,
            "source": "mixtile_box",
            "note": "PCIe 3.0 x2 per slot, with the M.2 SSD in use",
        }
    ]
    assert doc["lane_sharing"] == {"lanes": 4, "m2_lanes": 2, "shared_with": "backplane"}
    assert doc["uplink_gbps_per_node"] == {"unbonded": 2.5, "bonded": 5.0}
    assert doc["carrier"]["uplinks"][0]["uplink"] is False
    assert doc["emmc_gb"] == 256
    table = subprocess.run(microrack_cmd("catalog"), capture_output=True, text=True, timeout=120)
    rows = {line.split()[0]: line for line in table.stdout.splitlines() if line.strip()}
    assert "59.8" in rows["turing-rk1"] and "~51.4" in rows["mixtile-blade3"]
    detail = subprocess.run(
        microrack_cmd("catalog", "rk1"), capture_output=True, text=True, timeout=120
    )
    assert "also" in detail.stdout and "rk3588_writeup" in detail.stdout

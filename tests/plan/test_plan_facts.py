"""Requirements real briefs state, against the catalog as shipped: cumulative uplink,
bonding, storage alternatives, a separate OS drive, lane sharing, HPL Gflops, ranking
by compute, noise only where sourced, and the estimates behind the winner."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from microrack.catalog import load_catalog
from microrack.plan import Requirements, load_requirements, plan
from microrack.spec import load_spec
from support import microrack_cmd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "requirements"
BRIEF = EXAMPLES / "rk3588-home-lab.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(microrack_cmd(*args), capture_output=True, text=True, timeout=300)


def brief(**changes) -> Requirements:
    """The realistic RK3588 brief with some fields changed."""
    doc = yaml.safe_load(BRIEF.read_text())
    doc.update(changes)
    return Requirements.model_validate(doc)


def misses(result, board_id: str) -> list[str]:
    [r] = [r for r in result.rejected if r.board.id == board_id]
    return [c.requirement for c in r.closest.failures]


def passing(result, board_id: str):
    return [b for b in result.ranked if any(g.board.id == board_id for g in b.groups)]


def test_the_realistic_rk3588_brief_finds_builds():
    result = plan(load_requirements(BRIEF))
    assert result.ranked
    best = result.ranked[0]
    assert best.ok and best.hardware_usd <= 5000 and best.nodes >= 3
    assert {g.board.id for g in best.groups} == {"mixtile-blade3"}
    # Ceph on the SATA port, the OS on the eMMC: the M.2 slot, and its lanes, stay free
    [(_, lay)] = best.layouts
    assert (lay.data, lay.os, lay.m2_in_use) == ("SATA port", "eMMC 256 GB", False)
    assert best.node_link_gbps == 16
    # the uplink is the blades' own bonded ports, not the Cluster Box's config port
    assert best.uplink_gbps == best.nodes * 5
    assert dict(best.uplink_ports)["mixtile-blade3"] == "2 x 2.5 GbE LACP per node"
    # the winner's estimates are listed: Blade 3 power figures have no measurement
    assert any("load_w" in e and "Mixtile Blade 3" in e for e in best.estimates)
    assert all(": estimate" in e for e in best.estimates)


def test_uplink_is_rejected_only_when_the_cumulative_uplink_is_short():
    # four blades without bonding: 4 x 2.5 GbE = 10 Gbps in total, enough for 5
    loose = plan(brief(network={"node_link_gbps": 5, "uplink_gbps": 5}, boards=["blade3"]))
    assert passing(loose, "mixtile-blade3")
    # one blade wired out, unbonded: 2.5 Gbps, short; bonded: 5 Gbps, enough
    one = {"node_link_gbps": 5, "uplink_gbps": 5, "uplink_nodes": 1}
    short = plan(brief(network=one, boards=["blade3"]))
    assert not short.ranked and "uplink_gbps" in misses(short, "mixtile-blade3")
    [r] = short.rejected
    assert "2.5 Gbps to the outside in total (without bonding over 1 node) < 5 Gbps" in " ".join(
        r.reasons
    )
    bonded = plan(brief(network={**one, "uplink_bonding": True}, boards=["blade3"]))
    assert passing(bonded, "mixtile-blade3")


def test_a_carrier_counts_its_own_ports_once_per_carrier():
    base = {"name": "tp2", "boards": ["rk1"], "network": {"uplink_gbps": 2}}
    four = plan(Requirements.model_validate({**base, "nodes": {"min": 4, "max": 4}}))
    assert not four.ranked
    assert "1 Gbps to the outside in total" in four.rejected[0].reasons[0]
    # a fifth node needs a second Turing Pi 2, whose port adds its 1 Gbps
    five = plan(Requirements.model_validate({**base, "nodes": {"min": 5, "max": 5}}))
    assert five.ranked
    for build in five.ranked:
        assert build.uplink_gbps == 2 and "2 x Turing Pi 2" in dict(build.cost_lines)


def test_lane_sharing_lowers_the_backplane_when_the_m2_drive_is_used():
    nvme_only = {"kind": "nvme", "m2_min_length": 2280, "size_tb": 2}
    fast = {"node_link_gbps": 10, "uplink_gbps": 5, "uplink_bonding": True}
    on_m2 = plan(
        brief(storage=nvme_only, os_drive={"allow": ["emmc"]}, network=fast, boards=["blade3"])
    )
    assert not on_m2.ranked
    [r] = on_m2.rejected
    assert any(
        "8 Gbps per node < 10 Gbps required (the M.2 drive takes PCIe lanes from the "
        "backplane: 8 Gbps left of 16 Gbps)" in x
        for x in r.reasons
    ), r.reasons
    # with SATA allowed as the alternative the drive goes there and the backplane keeps 16
    either = plan(brief(network=fast, boards=["blade3"]))
    [lay] = [lay for _, lay in either.ranked[0].layouts]
    assert lay.data == "SATA port" and lay.link_gbps == 16
    # no drive needed at all: the full backplane too
    none = plan(brief(storage=None, os_drive=None, ceph=None, network=fast, boards=["blade3"]))
    assert none.ranked[0].node_link_gbps == 16


def test_storage_alternatives_any_one_will_do():
    plp = {"kind": "nvme", "m2_min_length": 2280, "power_loss_protection": True}
    base = {"name": "s", "nodes": {"min": 3, "max": 3}, "boards": ["pi5", "db3588v2"]}
    only_nvme = plan(Requirements.model_validate({**base, "storage": plp}))
    [r] = only_nvme.rejected
    assert r.board.id == "rpi-5"
    assert r.reasons == [
        "Raspberry Pi 5: M.2 slot takes 2230/2242, a power-loss-protected drive needs 2280"
    ]
    sata_or_nvme = plan(
        Requirements.model_validate(
            {**base, "boards": ["pi5", "pi4"], "storage": [{"kind": "sata"}, plp]}
        )
    )
    assert not sata_or_nvme.ranked
    reasons = sorted(x for r in sata_or_nvme.rejected for x in r.reasons)
    assert reasons == [
        "Raspberry Pi 4 Model B: no SATA or NVMe slot (storage only over USB)",
        "Raspberry Pi 5: no slot for SATA or NVMe (>= 2280, PLP)",
    ]
    geniatech = plan(
        Requirements.model_validate(
            {**base, "boards": ["db3588v2"], "storage": [{"kind": "sata"}, plp]}
        )
    )
    assert geniatech.ranked


@pytest.mark.parametrize(
    ("allow", "os_medium"),
    [
        (["emmc"], "eMMC (module not included)"),
        (["sd"], "microSD"),
        (["second_slot"], "M.2 SATA 2230"),
    ],
)
def test_a_separate_os_drive_from_what_the_board_has(allow, os_medium):
    req = Requirements.model_validate(
        {
            "name": "os",
            "boards": ["rock5b"],
            "storage": {"kind": "nvme"},
            "os_drive": {"allow": allow},
        }
    )
    [(_, lay)] = plan(req).ranked[0].layouts
    assert lay.data == "M.2 NVMe 2280" and lay.os == os_medium


def test_no_sd_card_no_separate_os_drive_and_the_miss_says_so():
    req = Requirements.model_validate(
        {
            "name": "os",
            "boards": ["rk1"],
            "storage": {"kind": "nvme"},
            "os_drive": {"allow": ["sd"]},
        }
    )
    result = plan(req)
    assert not result.ranked
    assert result.rejected[0].reasons == [
        "Turing RK1: no separate OS drive (sd) beside the data drive"
    ]


def test_minimum_cluster_gflops_sets_the_node_count():
    req = Requirements.model_validate(
        {"name": "hpl", "boards": ["pi5", "pi2"], "min_cluster_gflops": 200, "mixed": False}
    )
    result = plan(req)
    assert result.ranked and all(b.gflops and b.gflops >= 200 for b in result.ranked)
    assert min(b.nodes for b in result.ranked) == 6  # 6 x 35.169 = 211; 5 x = 176
    assert any(
        "no published HPL figure for Raspberry Pi 2 Model B" in x
        for r in result.rejected
        for x in r.reasons
    )
    check = next(c for c in result.ranked[0].checks if c.requirement == "min_cluster_gflops")
    assert check.margin == pytest.approx(6 * 35.169 - 200)


def test_ranking_by_compute_changes_the_winner_and_follows_the_figures():
    base = {
        "name": "rank",
        "isa": ["arm64"],
        "nodes": {"min": 4, "max": 4},
        "boards": ["pi4", "pi5", "rock5b", "rk1", "cm5"],
        "mixed": False,
    }
    tco = plan(Requirements.model_validate(base))
    per_watt = plan(Requirements.model_validate({**base, "rank_by": "gflops_per_watt"}))
    per_gflops = plan(Requirements.model_validate({**base, "rank_by": "cost_per_gflops"}))
    assert tco.ranked[0].groups[0].board.id == "rpi-4b"  # cheapest to own
    efficiency = [b.gflops_per_watt for b in per_watt.ranked]
    assert efficiency == sorted(efficiency, reverse=True)
    assert per_watt.ranked[0].groups[0].board.id == "radxa-rock-5b"  # 4.28 Gflops/W
    cost = [b.usd_per_gflops for b in per_gflops.ranked]
    assert cost == sorted(cost)
    assert per_gflops.ranked[0].groups[0].board.id != "rpi-4b"


def test_noise_is_a_limit_only_where_a_figure_is_sourced(tmp_path):
    req = Requirements.model_validate({"name": "quiet", "boards": ["pi5"], "max_noise_dba": 30})
    [check] = [c for c in plan(req).ranked[0].checks if c.requirement == "max_noise_dba"]
    assert check.ok and "noise unknown for Raspberry Pi 5" in check.message
    # a user's catalog with a measured figure: now the limit bites
    mine = tmp_path / "mine.yaml"
    text = (
        Path(__file__).resolve().parents[2]
        / "src"
        / "microrack"
        / "catalog"
        / "data"
        / "boards.yaml"
    ).read_text()
    doc = yaml.safe_load(text)
    [pi5] = [b for b in doc["boards"] if b["id"] == "rpi-5"]
    pi5["noise_dba"] = {"value": 38, "source": "my_meter"}
    meter = {"my_meter": {"title": "my sound meter at 1 m", "kind": "measurement"}}
    mine.write_text(yaml.safe_dump({"sources": meter, "boards": [pi5]}))
    result = plan(req, load_catalog(mine))
    assert not result.ranked
    assert result.rejected[0].reasons == ["Raspberry Pi 5: 38 dBA > 30 dBA allowed"]


def test_json_and_html_carry_the_new_fields(tmp_path):
    html = tmp_path / "plan.html"
    proc = run("plan", str(BRIEF), "--json", "--top", "2", "--html", str(html))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    best = doc["ranked"][0]
    assert best["uplink_gbps"] == 20 and best["node_link_gbps"] == 16
    assert best["uplink_ports"] == {"mixtile-blade3": "2 x 2.5 GbE LACP per node"}
    assert best["hpl_gflops"] == pytest.approx(4 * 51.382)
    assert best["gflops_per_watt"] == pytest.approx(51.382 / 12, rel=1e-3)
    assert best["drives"]["mixtile-blade3"]["data"] == "SATA port"
    assert best["estimates"] and doc["rank_by"] == "tco"
    checks = {c["requirement"]: c for c in best["checks"]}
    assert checks["uplink_gbps"]["margin"] == 15 and checks["uplink_gbps"]["required"] == 5
    page = html.read_text()
    assert "Gbps in total" in page and "facts are estimates" in page and "Gflops" in page


@pytest.mark.parametrize(
    ("requirements", "carrier_switch"),
    [
        (
            {
                "name": "box",
                "boards": ["blade3"],
                "nodes": {"min": 4, "max": 4},
                "network": {"uplink_gbps": 5, "uplink_bonding": True},
                "kubernetes": {},
                "storage": {"kind": "sata"},
                "ceph": {},
            },
            None,
        ),
        (
            {
                "name": "tp2",
                "boards": ["rk1"],
                "nodes": {"min": 4, "max": 4},
                "network": {"uplink_gbps": 1},
                "kubernetes": {},
                "storage": {"kind": "nvme"},
            },
            "turing-pi-2-1",
        ),
    ],
)
def test_emit_spec_for_a_carrier_build_validates_with_its_uplinks(
    tmp_path, requirements, carrier_switch
):
    req_file = tmp_path / "req.yaml"
    req_file.write_text(yaml.safe_dump(requirements))
    spec = tmp_path / "cluster.yaml"
    proc = run("plan", str(req_file), "--emit-spec", str(spec))
    assert proc.returncode == 0, proc.stderr
    text = spec.read_text()
    assert "# Uplink assumed for" in text
    cluster = load_spec(spec)
    assert len(cluster.nodes) == 4
    check = run("spec", "validate", str(spec))
    assert check.returncode == 0, check.stderr
    if carrier_switch is None:
        assert all(
            n.labels["uplink-ports"] == "eth0-eth1"
            and n.labels["uplink-bond"] == "lacp"
            and n.labels["uplink-gbps"] == "5"
            for n in cluster.nodes
        )
        assert all([d.kind for d in n.drives] == ["ssd"] for n in cluster.nodes)
    else:
        assert {n.primary.switch for n in cluster.nodes} == {carrier_switch}
        assert sorted(n.primary.port for n in cluster.nodes) == [1, 2, 3, 4]
        assert {s.name for s in cluster.switches} == {"sw-lan", carrier_switch}
        assert all(n.labels["uplink-via"] == "turing-pi-2" for n in cluster.nodes)


def test_compare_prints_the_writeup_columns_with_sources():
    proc = run("plan", "--compare", "blade3", "rk1", "rock5b", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["boards"] == ["mixtile-blade3", "turing-rk1", "radxa-rock-5b"]
    rows = doc["rows"]
    assert set(rows) >= {"price", "RAM", "NICs", "M.2", "SATA", "eMMC", "uplink", "HPL", "watts"}
    assert "32 GB $439 [rk3588_writeup]" in rows["price"]["mixtile-blade3"]["value"]
    assert "also $260 [rk3588_writeup]" in rows["price"]["turing-rk1"]["value"]
    assert rows["HPL"]["turing-rk1"] == {
        "value": "59.81 Gflops at 18.1 W = 3.30 Gflops/W",
        "sources": ["top500_22"],
        "estimate": False,
        "also": [{"value": "18.1", "source": "geerling_sbc"}],  # sbc-reviews agrees on watts
    }
    assert rows["HPL"]["mixtile-blade3"]["estimate"] is True
    assert {"value": "8", "source": "mixtile_box"} in rows["NICs"]["mixtile-blade3"]["also"]
    assert {"top500_22", "rk3588_writeup", "mixtile_box"} <= set(doc["sources"])
    table = run("plan", "--compare", "blade3", "rk1")
    assert table.returncode == 0 and "mixtile_email" in table.stdout
    assert "also 260 [rk3588_writeup]" not in table.stdout  # prices cite inline, once
    assert "also $260 [rk3588_writeup]" in table.stdout and "also 8 [mixtile_box]" in table.stdout


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (("--compare", "blade3", "nope"), "--compare"),
        (("--compare", "blade3", "blade3"), "--compare"),
        ((str(BRIEF), "--compare", "blade3"), "requirements"),
        ((), "requirements"),
    ],
)
def test_compare_and_missing_requirements_are_one_line_errors(args, flag):
    proc = run("plan", *args)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and flag in proc.stderr


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("storage: []\n", "storage"),
        ("os_drive: {allow: [emmc]}\n", "os_drive"),
        ("storage: {kind: nvme, m2_length: 2280, m2_min_length: 2242}\n", "storage"),
        ("storage: [{kind: sata, m2_min_length: 2280}]\n", "storage[0]"),
        ("os_drive: {allow: [floppy]}\nstorage: {kind: nvme}\n", "os_drive.allow[0]"),
        ("rank_by: speed\n", "rank_by"),
        ("network: {uplink_nodes: 0}\n", "network.uplink_nodes"),
        ("min_cluster_gflops: -3\n", "min_cluster_gflops"),
    ],
)
def test_bad_new_requirement_fields_name_the_field(tmp_path, text, field):
    path = tmp_path / "req.yaml"
    path.write_text(text)
    proc = run("plan", str(path))
    assert proc.returncode == 1, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert f"{path}: {field}" in proc.stderr, proc.stderr


def test_a_coolers_sourced_noise_limits_every_board_that_uses_it(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "sources:\n"
        "  my_meter: {title: 'my sound meter at 1 m, fan at 100 %', kind: measurement}\n"
        "thermal_profiles:\n"
        "  loud_cooler:\n"
        "    throttle_soft_c: {value: 80, source: rpi_thermal}\n"
        "    throttle_hard_c: {value: 85, source: rpi_thermal}\n"
        "    noise_dba: {value: 41, source: my_meter}\n"
    )
    text = (
        Path(__file__).resolve().parents[2]
        / "src"
        / "microrack"
        / "catalog"
        / "data"
        / "boards.yaml"
    ).read_text()
    [pi5] = [b for b in yaml.safe_load(text)["boards"] if b["id"] == "rpi-5"]
    pi5["thermal_profile"] = "loud_cooler"
    mine.write_text(mine.read_text() + yaml.safe_dump({"boards": [pi5]}))
    catalog = load_catalog(mine)
    assert catalog.board("pi5").noise_dba == 41
    assert catalog.board("pi5").fact("noise_dba").source == "my_meter"
    req = Requirements.model_validate({"name": "q", "boards": ["pi5"], "max_noise_dba": 35})
    assert plan(req, catalog).rejected[0].reasons == ["Raspberry Pi 5: 41 dBA > 35 dBA allowed"]
    assert plan(req.model_copy(update={"max_noise_dba": 45.0}), catalog).ranked

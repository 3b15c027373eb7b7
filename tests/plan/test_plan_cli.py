"""`microrack plan` and `microrack catalog` end to end, as a user runs them."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from microrack.catalog import board_ids
from microrack.spec import load_spec, tolerance
from support import microrack_cmd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "requirements"
REALISTIC = [
    "quiet-k8s-ceph-lab.yaml",
    "poe-edge-20.yaml",
    "riscv-learning.yaml",
    "rk3588-home-lab.yaml",
]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(microrack_cmd(*args), capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("name", REALISTIC)
def test_example_requirements_give_ranked_builds_and_a_valid_cluster_yaml(name, tmp_path):
    spec = tmp_path / "cluster.yaml"
    proc = run("plan", str(EXAMPLES / name), "--json", "--top", "3", "--emit-spec", str(spec))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    ranked = doc["ranked"]
    assert 1 <= len(ranked) <= 3
    tcos = [b["tco_usd"] for b in ranked]
    assert tcos == sorted(tcos)
    for b in ranked:
        assert b["ok"] and not b["misses"]
        assert b["watts"]["idle"] <= b["watts"]["typical"] <= b["watts"]["peak"]
        assert b["tolerates"] >= doc["requirements"]["survive_node_losses"]
        assert b["energy_usd_per_year"] == pytest.approx(
            b["kwh_per_year"] * doc["requirements"]["electricity_usd_per_kwh"], rel=1e-3
        )
    # the starting cluster.yaml is accepted by the spec loader (validation rules included)
    cluster = load_spec(spec)
    assert len(cluster.nodes) == ranked[0]["nodes"]
    assert {n.board for n in cluster.nodes} == {g["board"] for g in ranked[0]["groups"]}
    # the spec's own failure analysis agrees with what the planner promised
    planned, found = ranked[0]["tolerance"], tolerance(cluster)
    if "etcd" in planned:
        assert found["control-plane"] == planned["etcd"]
    if "ceph" in planned:
        assert min(found["ceph-mon"], found["ceph-pool:rbd"]) == planned["ceph"]
    check = run("spec", "validate", str(spec))
    assert check.returncode == 0, check.stderr


def test_the_three_node_riscv_cluster_gets_three_control_plane_nodes(tmp_path):
    spec = tmp_path / "cluster.yaml"
    proc = run("plan", str(EXAMPLES / "riscv-learning.yaml"), "--emit-spec", str(spec))
    assert proc.returncode == 0, proc.stderr
    cluster = load_spec(spec)
    assert [str(r) for n in cluster.nodes for r in n.roles].count("control-plane") == 3
    assert all(
        n.board in {"orangepi-rv2", "starfive-visionfive2", "milkv-jupiter"} for n in cluster.nodes
    )


def test_table_output_shows_costs_power_and_rejections():
    proc = run("plan", str(EXAMPLES / "poe-edge-20.yaml"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for heading in (
        "Builds that meet every requirement",
        "kWh/yr",
        "TCO 5 y",
        "PoE W",
        "RAM after losses",
        "Boards with no build that qualifies",
        "failure tolerance",
    ):
        assert heading in out
    assert "Turing RK1: " in out and "no PoE" in out


def test_no_qualifying_build_lists_closest_builds_and_exits_3():
    proc = run("plan", str(EXAMPLES / "impossible.yaml"))
    assert proc.returncode == 3
    assert "No build meets every requirement" in proc.stdout
    assert "Closest builds" in proc.stdout and "< 25 Gbps required" in proc.stdout
    doc = json.loads(run("plan", str(EXAMPLES / "impossible.yaml"), "--json").stdout)
    assert doc["ranked"] == [] and doc["closest"]
    assert all(b["misses"] for b in doc["closest"])


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("network: {node_link_gbps: fast}\n", "network.node_link_gbps"),
        ("budget: 500\n", "budget"),
        ("survive_node_losses: -1\n", "survive_node_losses"),
        ("isa: [sparc]\n", "isa[0]"),
        ("extras:\n  - {name: switch}\n", "extras[0].cost_usd"),
        ("nodes: {min: 5, max: 2}\n", "nodes"),
        ("storage: {kind: tape}\n", "storage.kind"),
        ("boards: [pi5, pi9]\n", "boards[1]"),
        ("exclude_boards: [nope]\n", "exclude_boards[0]"),
    ],
)
def test_bad_requirement_file_is_one_line_naming_file_and_field(tmp_path, text, field):
    path = tmp_path / "req.yaml"
    path.write_text(text)
    proc = run("plan", str(path))
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"{path}: {field}:" in lines[0]


def test_missing_requirement_file_and_bad_top_are_one_line(tmp_path):
    proc = run("plan", str(tmp_path / "none.yaml"))
    assert proc.returncode == 1 and "cannot read: No such file" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    proc = run("plan", str(EXAMPLES / "riscv-learning.yaml"), "--top", "0")
    assert proc.returncode == 2 and "--top" in proc.stderr


def test_catalog_table_lists_every_board():
    proc = run("catalog")
    assert proc.returncode == 0, proc.stderr
    for board_id in board_ids():
        assert board_id in proc.stdout


def test_catalog_board_shows_each_number_with_its_source():
    proc = run("catalog", "rk1")
    assert proc.returncode == 0, proc.stderr
    assert "Turing RK1" in proc.stdout
    assert "geerling_sbc" in proc.stdout and "estimate (recalled" in proc.stdout
    assert "https://docs.turingpi.com" in proc.stdout
    doc = json.loads(run("catalog", "rk1", "--json").stdout)
    assert doc["id"] == "turing-rk1" and doc["node_link_gbps"] == 1
    assert doc["facts"]["idle_w"] == {"value": 2.85, "source": "geerling_sbc", "note": "per node"}
    assert doc["facts"]["max_mhz"]["estimate"] is True


def test_catalog_json_lists_boards_and_sources():
    doc = json.loads(run("catalog", "--json").stdout)
    assert [b["id"] for b in doc["boards"]] == board_ids()
    used = {q["source"] for b in doc["boards"] for q in b["facts"].values() if "source" in q}
    assert used <= set(doc["sources"])


def test_catalog_unknown_board_and_bad_catalog_file_are_one_line(tmp_path):
    proc = run("catalog", "pi9")
    assert proc.returncode == 1 and "unknown board 'pi9'" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    bad = tmp_path / "mine.yaml"
    bad.write_text("boards:\n  - id: x\n    name: X\n")
    proc = run("catalog", "--catalog", str(bad))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"microrack catalog: error: {bad}: boards[0].cores: required field is missing"
    ]


def test_user_catalog_board_takes_part_in_planning(tmp_path):
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "boards:\n"
        "  - id: dream-board\n    name: Dream Board\n    soc: D1\n    isa: riscv64\n"
        "    cores: {value: 8, estimate: true}\n    max_mhz: {value: 2000, estimate: true}\n"
        "    variants: [{ram_gb: {value: 8, estimate: true}, price_usd: {value: 1, "
        "estimate: true}}]\n"
        "    nics: [{count: {value: 1, estimate: true}, speed_gbps: {value: 1, estimate: true}}]\n"
        "    m2: [{key: M, lengths: {value: [2280], estimate: true}, via: onboard, pcie_gen: "
        "{value: 2, estimate: true}, pcie_lanes: {value: 1, estimate: true}, nvme: true, "
        "sata: false}]\n"
        "    emmc: none\n    poe: {support: none}\n"
        "    power: {measured_at: wall, idle_w: {value: 1, estimate: true}, load_w: "
        "{value: 2, estimate: true}}\n"
        "    thermal_profile: spacemit_k1\n    video: {hw_transcode: false}\n"
    )
    proc = run("plan", str(EXAMPLES / "riscv-learning.yaml"), "--catalog", str(mine), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ranked"][0]["groups"][0]["board"] == "dream-board"


def test_catalog_variants_has_one_row_per_board_and_ram_variant():
    from microrack.catalog import load_catalog

    proc = run("catalog", "--variants")
    assert proc.returncode == 0, proc.stderr
    rows = [line.split() for line in proc.stdout.splitlines()]
    seen = [(r[0], r[1]) for r in rows if len(r) > 2 and r[0] in board_ids()]
    expected = [(p.id, f"{v.ram_gb:g}") for p in load_catalog() for v in p.variants]
    assert seen == expected


def test_examples_readme_shows_the_current_output():
    """The README's blocks are what the command prints today (regenerate them if not)."""
    import os
    import re

    readme = (EXAMPLES / "README.md").read_text()
    blocks = re.findall(r"```console\n\$ microrack (plan \S+ --top 3)\n(.*?)```", readme, re.S)
    assert len(blocks) == 5
    env = {**os.environ, "COLUMNS": "180"}
    for command, shown in blocks:
        args = command.split()
        proc = subprocess.run(
            microrack_cmd(*args),
            capture_output=True,
            text=True,
            env=env,
            cwd=EXAMPLES.parents[1],
            timeout=300,
        )
        printed = "\n".join(line.rstrip() for line in proc.stdout.splitlines()) + "\n"
        assert printed == shown, command


@pytest.mark.parametrize("flag", ["--emit-spec", "--html"])
def test_an_output_file_that_cannot_be_written_is_one_line_naming_the_flag(tmp_path, flag):
    for target in (tmp_path / "no" / "such" / "out", tmp_path):
        proc = run("plan", str(EXAMPLES / "riscv-learning.yaml"), flag, str(target))
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and flag in proc.stderr
        assert "Traceback" not in proc.stderr

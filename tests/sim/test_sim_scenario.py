"""``microrack sim``: a scenario on the twin of a cluster, through the real CLI."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from support import microrack_cmd

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "examples" / "cluster-pi4-13.yaml"
HEATWAVE = ROOT / "examples" / "scenarios" / "heatwave.yaml"


def _sim(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(microrack_cmd("sim", *args), capture_output=True, text=True, timeout=300)


def test_heatwave_scenario_reports_heat_energy_alerts_and_quorum(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    report = artifacts_dir / "sim-heatwave.html"
    report.unlink(missing_ok=True)  # the report of a previous run is kept for reading, not reused
    p = _sim(str(CLUSTER), "--scenario", str(HEATWAVE), "--json", "--report", str(report))
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    nodes = {n["name"]: n for n in r["nodes"]}
    workers = [n for n in r["nodes"] if "worker" in n["roles"]]
    servers = [n for n in r["nodes"] if "control-plane" in n["roles"]]
    fanned = [w for w in workers if w["board"] == "rpi-4b"]  # cluster.yaml: fan: true
    # the stalled worker fans: hotter than the servers, throttled, work lost
    assert min(w["peak_temp_c"] for w in fanned) > max(s["peak_temp_c"] for s in servers) + 5
    assert all(w["throttled_s"] > 0 and w["work_lost_ratio"] > 0 for w in fanned)
    assert all(s["throttled_s"] == 0 for s in servers)
    assert nodes["pi-02"]["down_s"] == 300
    # energy and cost add up
    assert r["energy_kwh"] > 0
    assert abs(r["cost"] - r["energy_kwh"] * r["price_kwh"]) < 1e-4
    rules = {(a["rule"], a["node"]) for a in r["alerts"]}
    assert ("NodeDown", "pi-02") in rules
    assert ("FilesystemFull", "pi-04") in rules
    assert fanned and all(
        ("FanStalled", w["name"]) in rules and ("Throttling", w["name"]) in rules for w in fanned
    )
    assert r["kept_quorum"] is True
    html = report.read_text()
    assert "plotly" in html and "pi-04" in html


def test_losing_two_of_three_servers_loses_quorum(tmp_path: Path) -> None:
    sc = tmp_path / "two-down.yaml"
    sc.write_text("""
duration: 30m
faults:
  - {at: 5m, kind: crash, node: pi-01, duration: 10m}
  - {at: 8m, kind: crash, node: pi-03, duration: 1m}
  - {at: 20m, kind: partition, groups: [[pi-01], [pi-02], [pi-03]], duration: 1m}
  - {at: 10m, kind: fan_stall, node: pi-05, duration: 1m}
""")
    p = _sim(str(CLUSTER), "--scenario", str(sc), "--json")
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    assert r["kept_quorum"] is False
    second = {g["group"]: g for g in r["faults"][1]["groups"]}
    assert second["etcd" if "etcd" in second else "control-plane"]["ok"] is False
    split = {g["group"]: g for g in r["faults"][2]["groups"]}
    assert split["consul-server"]["ok"] is False and split["consul-server"]["worst_lost"] == 2
    # a fault that starts while another one holds a server down sees that loss too
    during = {g["group"]: g for g in r["faults"][3]["groups"]}
    assert during["consul-server"]["worst_lost"] == 1 and during["consul-server"]["ok"] is True
    text = _sim(str(CLUSTER), "--scenario", str(sc))
    assert "LOST" in text.stdout


def test_a_bad_scenario_is_one_line_naming_the_field(tmp_path: Path) -> None:
    sc = tmp_path / "bad.yaml"
    sc.write_text("duration: 1h\nfaults:\n  - {at: 10m, kind: crash, node: pi-99}\n")
    p = _sim(str(CLUSTER), "--scenario", str(sc))
    assert p.returncode == 1
    assert p.stderr.count("\n") == 1
    assert "faults[0].node" in p.stderr and "pi-99" in p.stderr
    sc.write_text("duration: soon\n")
    p = _sim(str(CLUSTER), "--scenario", str(sc))
    assert p.returncode == 1 and "duration" in p.stderr and p.stderr.count("\n") == 1


def test_a_report_that_cannot_be_written_is_one_line_before_the_run(tmp_path: Path) -> None:
    for target in (tmp_path / "no" / "such" / "r.html", tmp_path):
        p = _sim(str(CLUSTER), "--scenario", str(HEATWAVE), "--report", str(target))
        assert p.returncode == 2 and p.stderr.count("\n") == 1 and "--report" in p.stderr
        assert p.stdout == ""  # refused before the scenario ran


def test_ram_gb_of_each_node_picks_its_variant_watts(tmp_path: Path) -> None:
    """cluster.yaml's ram_gb is honoured: a Pi 5 8 GB draws what the 8 GB board draws."""
    import yaml

    from microrack.catalog import board_profile
    from microrack.sim import run_files

    doc = yaml.safe_load((ROOT / "examples" / "cluster-pi2-5.yaml").read_text())
    for i, node in enumerate(doc["nodes"]):
        node["board"] = "rpi-5"
        node["ram_gb"] = 2 if i % 2 == 0 else 8
    cluster = tmp_path / "cluster.yaml"
    cluster.write_text(yaml.safe_dump(doc))
    sc = tmp_path / "idle.yaml"
    sc.write_text(
        "duration: 1h\nstep: 5\ncooler: bare\nworkloads:\n"
        "  - {kind: idle, load: [{at: 0, util: 0.0}]}\n"
    )
    r = run_files(cluster, sc)
    watts = {v.ram_gb: v.idle_w for v in board_profile("pi5").variants}
    for i, n in enumerate(r.nodes):
        mean_w = n.energy_kwh * 3.6e6 / r.duration_s
        want = watts[2.0] if i % 2 == 0 else watts[8.0]
        assert abs(mean_w - want) < 0.05, (n.name, mean_w, want)

"""The fault classes: twin behaviour of the new kinds and the agent requests they become."""

from __future__ import annotations

from pathlib import Path

import pytest

from microrack.errors import ConfigError
from microrack.sim import run_scenario
from microrack.sim._faults import NodeFacts, Partition, Pressure, Throttle
from microrack.sim._script import Scenario, load_scenario
from microrack.spec import load_spec

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "examples" / "cluster-pi4-13.yaml"


def _run(faults: list[dict[str, object]], util: float = 0.2) -> dict[str, object]:
    sc = Scenario.model_validate(
        {
            "duration": 600,
            "step": 1,
            "faults": faults,
            "workloads": [{"kind": "integer", "load": [{"at": 0, "util": util}]}],
        }
    )
    return run_scenario(load_spec(CLUSTER), sc).as_dict()


def _node(r: dict[str, object], name: str) -> dict[str, float]:
    return next(n for n in r["nodes"] if n["name"] == name)  # type: ignore[attr-defined, index]


def test_throttle_caps_the_clock_only_on_its_node_and_only_while_active() -> None:
    base = _run([])
    r = _run([{"at": 100, "duration": 200, "kind": "throttle", "node": "pi-05", "max_pct": 50}])
    assert _node(base, "pi-05")["throttled_s"] == 0
    assert 195 <= _node(r, "pi-05")["throttled_s"] <= 205
    assert _node(r, "pi-06")["throttled_s"] == _node(base, "pi-06")["throttled_s"]


def test_pressure_adds_load_heat_and_energy() -> None:
    base = _run([])
    r = _run([{"at": 0, "kind": "pressure", "node": "pi-05", "cpu": 4}])
    assert _node(r, "pi-05")["energy_kwh"] > _node(base, "pi-05")["energy_kwh"] * 1.3
    assert _node(r, "pi-05")["peak_temp_c"] > _node(base, "pi-05")["peak_temp_c"] + 1


def test_a_lossy_or_one_way_partition_keeps_or_splits_quorum_as_documented() -> None:
    groups = [["pi-01"], ["pi-02", "pi-03"]]
    lossy = _run(
        [
            {
                "at": 10,
                "duration": 60,
                "kind": "partition",
                "groups": groups,
                "loss_pct": 30,
                "delay_ms": 200,
            }
        ]
    )
    assert all(g["worst_lost"] == 0 for g in lossy["faults"][0]["groups"])  # type: ignore[index]
    oneway = _run(
        [{"at": 10, "duration": 60, "kind": "partition", "groups": groups, "direction": "out"}]
    )
    lost = {g["group"]: g["worst_lost"] for g in oneway["faults"][0]["groups"]}  # type: ignore[index]
    assert lost["consul-server"] == 1


def test_partition_requests_name_the_other_sides_addresses() -> None:
    facts = NodeFacts(
        ["a", "b", "c", "d"],
        [["198.18.0.1"], ["198.18.0.2"], ["198.18.0.3"], ["198.18.0.4"]],
        [(), ("etcd",), ("etcd",), ()],
    )
    both = Partition(kind="partition", at=0, groups=[["a"], ["etcd"]], protocols=["tcp"])
    reqs = {r.node: r.params for r in both.requests(facts, [])}
    assert reqs["a"]["peers"] == ["198.18.0.2", "198.18.0.3", "198.18.0.4"]
    assert reqs["b"]["peers"] == ["198.18.0.1", "198.18.0.4"]  # d is the unlisted third side
    assert reqs["d"]["peers"] == ["198.18.0.1", "198.18.0.2", "198.18.0.3"]
    assert {r["direction"] for r in reqs.values()} == {"both"} and reqs["a"]["protocols"] == ["tcp"]
    out = Partition(kind="partition", at=0, groups=[["a"], ["b"]], direction="out", loss_pct=50)
    one = out.requests(facts, [])
    got = [(r.node, r.params["direction"], r.params["loss_pct"]) for r in one]
    assert got == [("a", "out", 50)]


def test_node_kinds_send_their_params_to_each_target() -> None:
    facts = NodeFacts(["a", "b"], [["198.18.0.1"], ["198.18.0.2"]], [(), ()])
    t = Throttle(kind="throttle", at=0, max_khz=600000)
    assert [(r.node, r.kind, r.params) for r in t.requests(facts, [1])] == [
        ("b", "throttle", {"max_khz": 600000})
    ]
    p = Pressure(kind="pressure", at=0, cpu=1.5, memory_bytes=1 << 20)
    assert p.requests(facts, [0])[0].params == {"cpu": 1.5, "memory_bytes": 1 << 20}


@pytest.mark.parametrize(
    ("fault", "field"),
    [
        ("{at: 0, kind: throttle, node: pi-01}", "faults[0]"),
        ("{at: 0, kind: partition, groups: [[pi-01], [x]], loss_pct: 0}", "faults[0].loss_pct"),
        (
            "{at: 0, kind: partition, groups: [[pi-01]], protocols: [sctp]}",
            "faults[0].protocols[0]",
        ),
        ("{at: 0, kind: disk_fill, node: pi-01, bytes: 1, fill_pct: 5}", "faults[0]"),
        ("{at: 0, kind: meteor}", "faults[0].kind"),
        ("{at: 0, kind: crash, node: pi-01, colour: red}", "faults[0].colour"),
    ],
)
def test_a_bad_fault_names_its_field(tmp_path: Path, fault: str, field: str) -> None:
    sc = tmp_path / "bad.yaml"
    sc.write_text(f"duration: 60\nfaults:\n  - {fault}\n")
    with pytest.raises(ConfigError) as exc:
        load_scenario(sc)
    assert f"bad.yaml: {field}:" in str(exc.value)

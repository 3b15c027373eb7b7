"""The twin's per-member quorum verdict (``GroupCheck.cut_off``) that chaos run compares with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml


def _spec(tmp: Path, n: int) -> Any:
    from microrack.spec import load_spec

    doc = {
        "cluster": {"name": "q", "domain": "q.test"},
        "networks": [{"name": "lan", "kind": "infrastructure", "cidr": "198.18.98.0/24"}],
        "nodes": [
            {
                "name": f"e{i}",
                "board": "rpi-4b",
                "ram_gb": 4,
                "nics": [
                    {
                        "name": "eth0",
                        "network": "lan",
                        "address": f"198.18.98.{i + 1}",
                        "mac": f"02:00:00:00:98:{i + 1:02x}",
                    }
                ],
                "roles": ["etcd"],
            }
            for i in range(n)
        ],
    }
    p = tmp / "cluster.yaml"
    p.write_text(yaml.safe_dump(doc))
    return load_spec(p)


@pytest.mark.parametrize(
    ("n", "fault", "ok", "cut"),
    [
        (3, "{kind: partition, groups: [[e2], [e0, e1]]}", True, ["e2"]),
        (3, "{kind: partition, groups: [[e0], [e1], [e2]]}", False, ["e0", "e1", "e2"]),
        (3, "{kind: partition, groups: [[e0], [e1, e2]], direction: out}", True, ["e0"]),
        (3, "{kind: partition, groups: [[e0], [e1, e2]], loss_pct: 50}", True, []),
        (3, "{kind: crash, node: e1}", True, ["e1"]),
        (3, "{kind: crash, nodes: [e0, e1]}", False, ["e0", "e1", "e2"]),
        (5, "{kind: partition, groups: [[e0, e1], [e2, e3, e4]]}", True, ["e0", "e1"]),
        (
            5,
            "{kind: partition, groups: [[e0, e1], [e2, e3], [e4]]}",
            False,
            [f"e{i}" for i in range(5)],
        ),
    ],
)
def test_members_on_a_side_without_a_majority_are_cut_off(
    tmp_path: Path, n: int, fault: str, ok: bool, cut: list[str]
) -> None:
    from microrack.sim import load_scenario, run_scenario

    sc = tmp_path / "s.yaml"
    sc.write_text(f"duration: 60\nstep: 1\nfaults:\n  - {{at: 10, duration: 20, {fault[1:]}\n")
    result = run_scenario(_spec(tmp_path, n), load_scenario(sc))
    ((_f, checks),) = result.faults
    (etcd,) = [c for c in checks if c.group == "etcd"]
    assert etcd.ok is ok and list(etcd.cut_off) == cut
    assert list(etcd.members) == [f"e{i}" for i in range(n)]
    assert all(etcd.serving(m) == (m not in cut) for m in etcd.members)

"""Validation of fault requests and the commands a fault would apply."""

from __future__ import annotations

from typing import Any

import pytest

from microrack.faults import KINDS, FaultError, check_params, parse_request, plan_commands


def _req(**kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "f1",
        "kind": "partition",
        "duration_s": 5,
        "params": {"peers": ["198.18.1.0/24"]},
    }
    body.update(kw)
    return body


def test_kinds_are_the_contract() -> None:
    assert KINDS == ("partition", "crash", "fan_stall", "throttle", "pressure", "disk_fill")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_req(id=""), "id"),
        (_req(id="a b"), "id"),
        (_req(id="x" * 65), "id"),
        (_req(kind="meteor"), "kind"),
        (_req(duration_s=0), "duration_s"),
        (_req(duration_s=True), "duration_s"),
        (_req(duration_s=float("nan")), "duration_s"),
        (_req(duration_s=4000), "duration_s"),
        (_req(dry_run="yes"), "dry_run"),
        (_req(extra=1), "extra"),
        (_req(params=[]), "params"),
        (_req(params={"peers": []}), "params.peers"),
        (_req(params={"peers": ["198.18.1.300"]}), "params.peers[0]"),
        (_req(params={"peers": ["198.18.1.1", 7]}), "params.peers[1]"),
        (_req(params={"peers": ["198.18.1.1"] * 257}), "params.peers"),
        (_req(params={"peers": ["198.18.1.1"], "direction": "up"}), "params.direction"),
        (_req(params={"peers": ["198.18.1.1"], "protocols": ["sctp"]}), "params.protocols"),
        (_req(params={"peers": ["198.18.1.1"], "loss_pct": 0}), "params.loss_pct"),
        (_req(params={"peers": ["198.18.1.1"], "loss_pct": 101}), "params.loss_pct"),
        (_req(params={"peers": ["198.18.1.1"], "delay_ms": -1}), "params.delay_ms"),
        (_req(params={"peers": ["198.18.1.1"], "colour": 1}), "params.colour"),
        (_req(kind="crash", params={}), "params.target"),
        (_req(kind="crash", params={"target": "a b"}), "params.target"),
        (_req(kind="throttle", params={}), "params.max_khz"),
        (_req(kind="throttle", params={"max_pct": 0}), "params.max_pct"),
        (_req(kind="throttle", params={"max_pct": 50, "max_khz": 1}), "params.max_khz"),
        (_req(kind="throttle", params={"max_khz": 1.5}), "params.max_khz"),
        (_req(kind="pressure", params={"cpu": -1}), "params.cpu"),
        (_req(kind="pressure", params={"memory_bytes": "1G"}), "params.memory_bytes"),
        (_req(kind="disk_fill", params={"fill_pct": 100}), "params.fill_pct"),
        (_req(kind="disk_fill", params={"bytes": 0}), "params.bytes"),
        (_req(kind="fan_stall", params={"limit_c": "hot"}), "params.limit_c"),
    ],
)
def test_malformed_requests_name_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(FaultError) as info:
        parse_request(body, max_lease=3600)
    assert info.value.status == 400
    assert info.value.field == field


def test_defaults_are_filled_in() -> None:
    req = parse_request(_req())
    assert req.params == {
        "peers": ["198.18.1.0/24"],
        "direction": "both",
        "protocols": ["tcp", "udp"],
        "loss_pct": 100,
        "delay_ms": 0,
        "jitter_ms": 0,
    }
    assert check_params("partition", {"peers": ["198.18.1.7/24"]})["peers"] == ["198.18.1.0/24"]


def test_partition_plan_has_expiring_sets_and_one_chain_per_direction() -> None:
    lines = plan_commands(
        "partition",
        {"peers": ["198.18.1.0/24", "2001:db8::1"], "direction": "out", "loss_pct": 50},
        fault_id="a.b",
        duration_s=2.5,
    )
    text = "\n".join(lines)
    assert "timeout 2500ms" in text
    assert "hook output" in text and "hook input" not in text
    assert "ip daddr @f3_a_b_v4" in text and "ip6 daddr @f3_a_b_v6" in text
    assert "numgen random mod 100 < 50 drop" in text


def test_plans_of_the_other_kinds_name_what_they_touch() -> None:
    assert plan_commands("crash", {"target": "podman:web"})[0] == "podman stop --time 2 web"
    assert plan_commands("crash", {"target": "etcd"})[0] == "systemctl stop etcd"
    lines = plan_commands("throttle", {"max_pct": 50}, {"cpufreq": {"/c/policy0": 1800000}})
    assert lines == ["write /c/policy0/scaling_max_freq: 900000"]
    assert "1000 bytes" in plan_commands("disk_fill", {"bytes": 1000}, {"fill_dir": "/d"})[0]
    assert "twin load" in plan_commands("pressure", {"cpu": 1}, {"simulate": True})[0]
    assert "duty 0" in plan_commands("fan_stall", {"limit_c": 80})[0]

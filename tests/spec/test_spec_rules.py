"""Each error and warning of ``microrack spec validate``, on a small broken spec."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import spec_cases
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_cases import base, write

from microrack.errors import ConfigError
from microrack.spec import SpecInvalid, check_file, check_spec, load_spec, parse_spec
from support import microrack_cmd


def problems(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    """All problem lines of ``data``, schema errors included."""
    path = write(tmp_path, data)
    try:
        found = check_spec(parse_spec(path))
    except SpecInvalid as exc:
        found = exc.problems
    return [f"{p.severity}: {p.field}: {p.message}" for p in found]


def test_base_is_clean(tmp_path: Path) -> None:
    assert problems(tmp_path, base()) == []


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        *head, last = path.split(".")
        cur: Any = d
        for part in head:
            cur = cur[int(part)] if part.isdigit() else cur[part]
        cur[int(last) if last.isdigit() else last] = value

    return apply


def _add_node(**extra: Any) -> Callable[[dict[str, Any]], None]:
    def apply(d: dict[str, Any]) -> None:
        node = {
            "name": "n9",
            "board": "rpi-5",
            "ram_gb": 8,
            "nics": [
                {
                    "name": "eth0",
                    "mac": "02:00:00:00:00:09",
                    "network": "lan",
                    "address": "198.18.0.19",
                }
            ],
        }
        node.update(extra)
        d["nodes"].append(node)

    return apply


ERRORS: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "address outside network",
        _set("nodes.1.nics.0.address", "198.18.1.12"),
        "nodes[1].nics[0].address",
        "node n2: address 198.18.1.12 is outside network lan",
    ),
    (
        "overlapping ranges",
        _set("networks.2.cidr", "198.18.20.0/24"),
        "networks[2].cidr",
        "pod range pods (198.18.20.0/24) overlaps service range svc",
    ),
    (
        "wired ranges overlap",
        lambda d: d["networks"].append(
            {"name": "mgmt", "kind": "management", "cidr": "198.18.0.128/25"}
        ),
        "networks[4].cidr",
        "management range mgmt (198.18.0.128/25) overlaps infrastructure",
    ),
    ("duplicate name", _set("nodes.2.name", "n1"), "nodes[2].name", "duplicate node name n1"),
    (
        "duplicate address",
        _set("nodes.2.nics.0.address", "198.18.0.11"),
        "nodes[2].nics[0].address",
        "duplicate address 198.18.0.11",
    ),
    (
        "duplicate MAC",
        _set("nodes.2.nics.0.mac", "02:00:00:00:00:01"),
        "nodes[2].nics[0].mac",
        "duplicate MAC 02:00:00:00:00:01",
    ),
    (
        "malformed MAC",
        _set("nodes.1.nics.0.mac", "02:00:00:00:zz"),
        "nodes[1].nics[0].mac",
        "'02:00:00:00:zz' is not a MAC address",
    ),
    (
        "static address in DHCP pool",
        _set("nodes.0.nics.0.address", "198.18.0.120"),
        "nodes[0].nics[0].address",
        "node n1: static address 198.18.0.120 is inside the DHCP pool",
    ),
    (
        "LB pool overlaps DHCP pool",
        _set("networks.3.cidr", "198.18.0.96/28"),
        "networks[3].cidr",
        "load-balancer pool lb (198.18.0.96/28) overlaps the DHCP pool of lan",
    ),
    (
        "LB pool holds a static address",
        _set("nodes.2.nics.0.address", "198.18.0.230"),
        "networks[3].cidr",
        "contains the static address 198.18.0.230 of node n3",
    ),
    (
        "PoE budget exceeded",
        _set("switches.0.poe_budget_w", 12),
        "switches[0].poe_budget_w",
        "switch sw-a: peak PoE draw",
    ),
    (
        "PoE class reservations exceed budget",
        lambda d: d["switches"][0].update(poe_allocation="class"),
        "switches[0].poe_budget_w",
        "switch sw-a: class reservations 60.0 W of 2 nodes exceeds the 59 W budget",
    ),
    (
        "node above its port's PoE class",
        _set("switches.0.poe_class", 1),
        "nodes[0].nics[0].port",
        "node n1: peak draw",
    ),
    (
        "even consensus group",
        lambda d: d["nodes"][2]["roles"].remove("ceph-mon"),
        "nodes",
        "ceph-mon group has an even number of members (2: n1, n2)",
    ),
    (
        "single-member consensus group",
        lambda d: d["nodes"][0]["roles"].append("consul-server"),
        "nodes",
        "consul-server group has a single member (n1)",
    ),
    (
        "fewer storage nodes than replicas",
        _set("services.ceph.pools.0.size", 4),
        "services.ceph.pools[0].size",
        "pool rbd keeps 4 replicas (one per host) but only 3",
    ),
    (
        "multicast MAC",
        _set("nodes.1.nics.0.mac", "01:00:5e:00:00:01"),
        "nodes[1].nics[0].mac",
        "'01:00:5e:00:00:01' is a multicast MAC address",
    ),
    ("unknown board", _set("nodes.0.board", "pi9"), "nodes[0].board", "pi9"),
    ("unknown field", _set("nodes.0.ram", 8), "nodes[0].ram", "unknown field"),
]


@pytest.mark.parametrize(
    ("change", "field", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_error_names_culprit(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str, message: str
) -> None:
    data = base()
    change(data)
    found = problems(tmp_path, data)
    hits = [p for p in found if p.startswith(f"error: {field}: ") and message in p]
    assert hits, found


WARNINGS: list[tuple[str, Callable[[dict[str, Any]], None], str, str]] = [
    (
        "Ceph RAM per OSD",
        _set("nodes.0.ram_gb", 6),
        "nodes[0].ram_gb",
        "node n1: 3.1 GB RAM per Ceph OSD after its other roles, below the recommended 4 GB",
    ),
    (
        "roles need more RAM",
        _set("nodes.1.ram_gb", 2),
        "nodes[1].ram_gb",
        "node n2: roles (control-plane, ceph-mon, ceph-osd) need about 4.8 GB RAM, it has 2 GB",
    ),
    (
        "no redundancy for a marked service",
        _set("services.redundant", ["dhcp-dns"]),
        "services.redundant[0]",
        "dhcp-dns is marked as needing redundancy but runs on n1 only",
    ),
    (
        "one switch",
        lambda d: d["nodes"][2]["nics"][0].update(switch="sw-a", port=3),
        "nodes",
        "every node is on one switch (sw-a)",
    ),
    (
        "one PSU",
        lambda d: d["switches"][0].update(psu="usb-3"),
        "nodes",
        "every node is powered from one source (psu usb-3)",
    ),
    (
        "workloads exceed RAM",
        _set("services.workloads", [{"name": "big", "ram_gb": 100}]),
        "services.workloads",
        "declared workloads need 100 GB RAM",
    ),
]


@pytest.mark.parametrize(
    ("change", "field", "message"), [w[1:] for w in WARNINGS], ids=[w[0] for w in WARNINGS]
)
def test_warning_names_culprit(
    tmp_path: Path, change: Callable[[dict[str, Any]], None], field: str, message: str
) -> None:
    data = base()
    change(data)
    found = problems(tmp_path, data)
    assert not [p for p in found if p.startswith("error")], found
    assert [p for p in found if p.startswith(f"warning: {field}: ") and message in p], found
    load_spec(write(tmp_path, data))  # warnings do not stop loading


def test_load_spec_raises_one_line_config_error(tmp_path: Path) -> None:
    data = base()
    data["nodes"][2]["nics"][0]["mac"] = "nope"
    data["nodes"][1]["nics"][0]["address"] = "198.18.5.5"
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_spec(path)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}: nodes[2].nics[0].mac: 'nope' is not a MAC address")
    assert len(info.value.problems) == 1  # schema errors stop before cross-field rules


def test_aliases_resolve_through_the_catalog(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, base()))
    assert {n.board for n in spec.nodes} == {"rpi-4b"}


def test_validate_cli_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    data = base()
    data["nodes"][2]["name"] = "n1"
    data["nodes"][1]["nics"][0]["address"] = "198.18.0.120"
    path = write(tmp_path, data)
    r = subprocess.run(
        microrack_cmd("spec", "validate", str(path)), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1, r
    assert f"error: {path}: nodes[2].name: duplicate node name n1" in r.stderr
    assert f"error: {path}: nodes[1].nics[0].address: node n2: static address" in r.stderr


def test_validate_cli_warnings_exit_0(tmp_path: Path) -> None:
    data = base()
    data["nodes"][0]["ram_gb"] = 6
    r = subprocess.run(
        microrack_cmd("spec", "validate", "--json", str(write(tmp_path, data))),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r
    out = json.loads(r.stdout)
    assert out["ok"] is True
    assert [p["field"] for p in out["problems"]] == ["nodes[0].ram_gb"]


@pytest.mark.parametrize("path", spec_cases.examples(), ids=lambda p: p.name)
def test_examples_validate(path: Path) -> None:
    spec = load_spec(path)
    assert spec.nodes


def test_problems_carry_their_yaml_line(tmp_path: Path) -> None:
    data = base()
    data["nodes"][2]["nics"][0]["address"] = "198.18.9.9"
    path = write(tmp_path, data)
    lines = path.read_text().splitlines()
    spec, found = check_file(path)
    assert spec is not None
    [problem] = found
    assert problem.field == "nodes[2].nics[0].address"
    assert lines[problem.lineno - 1].strip() == "address: 198.18.9.9"
    assert problem.text(str(path)).endswith(f"(line {problem.lineno})")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("cluster: [unclosed\n", "not valid YAML: line 2, column 1"),
        ("- just\n- a list\n", "expected a mapping with cluster, networks, nodes"),
    ],
)
def test_unreadable_specs_are_one_line_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    r = subprocess.run(
        microrack_cmd("spec", "validate", str(path)), capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 1
    assert r.stderr.startswith(f"microrack spec: error: {path}: {message}"), r.stderr
    assert r.stderr.count("\n") == 1


def test_missing_file_is_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        load_spec(tmp_path / "nope.yaml")


@settings(max_examples=60, deadline=None)
@given(
    st.integers(min_value=0, max_value=255),
    st.integers(min_value=1, max_value=254),
    st.integers(min_value=20, max_value=28),
)
def test_address_outside_network_is_always_found(third: int, fourth: int, prefix: int) -> None:
    """An address is reported as outside its network exactly when it is."""
    import ipaddress
    import tempfile

    data = base()
    net = ipaddress.ip_network(f"198.18.0.0/{prefix}")
    data["networks"][0]["cidr"] = str(net)
    data["networks"][0].pop("dhcp")
    data["networks"] = data["networks"][:1]
    data["services"] = {}
    for node in data["nodes"]:
        node["roles"] = ["control-plane"] if node["name"] == "n1" else ["worker"]
        node["drives"] = []
    address = ipaddress.ip_address(f"198.18.{third}.{fourth}")
    data["nodes"][1]["nics"][0]["address"] = str(address)
    with tempfile.TemporaryDirectory() as tmp:
        found = problems(Path(tmp), data)
    outside = [p for p in found if "is outside network lan" in p]
    inside = address in net and address not in (net.network_address, net.broadcast_address)
    assert bool(outside) == (address not in net), found
    if inside and str(address) not in ("198.18.0.11", "198.18.0.13", "198.18.0.1"):
        assert found == [], found


def test_unquoted_digit_only_mac_stays_a_mac(tmp_path: Path) -> None:
    """YAML 1.1 would read 52:54:00:12:34:56 as a base-60 integer; cluster.yaml does not."""
    path = write(tmp_path, base())
    text = path.read_text()
    assert "mac: 02:00:00:00:00:01" in text  # unquoted, as people write it
    path.write_text(text.replace("mac: 02:00:00:00:00:01", "mac: 52:54:00:12:34:56"))
    spec = load_spec(path)
    assert spec.nodes[0].nics[0].mac == "52:54:00:12:34:56"
    assert spec.nodes[0].ram_gb == 8  # plain integers are still integers


def test_validate_json_on_a_file_that_is_not_yaml(tmp_path: Path) -> None:
    """--json callers get one JSON document on stdout even when the file does not parse."""
    path = tmp_path / "cluster.yaml"
    path.write_text("cluster: [\n")
    r = subprocess.run(
        microrack_cmd("spec", "validate", "--json", str(path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert out["ok"] is False and out["file"] == str(path)
    (problem,) = out["problems"]
    assert problem["severity"] == "error" and "not valid YAML" in problem["message"]

"""Delay toward the peers only: the tc calls, checked against a fake ``tc`` and ``ip``.

This machine's kernel has neither sch_prio nor sch_netem, so the calls are
recorded here; tests/faults/test_faults_netns.py runs them for real where the
kernel has the qdiscs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from microrack.faults import FaultError, NodeContext, parse_request, plan_commands
from microrack.faults._kinds import KIND_CLASSES
from microrack.faults._spec import ifb_name
from microrack.sensors import LocalFS

PEERS = ["198.18.7.2", "198.18.8.0/24", "2001:db8:7::/64"]


PRIO = "prio bands 4 priomap 1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1"


def v4(dev: str, net: str) -> str:
    return f"tc filter add dev {dev} parent 1: protocol ip prio 1 u32 match ip dst {net} flowid 1:4"


def v6(dev: str, net: str) -> str:
    return (
        f"tc filter add dev {dev} parent 1: protocol ipv6 prio 2 u32 match ip6 dst {net} flowid 1:4"
    )


class FakeNet:
    """Answers ``ip -o route get`` and ``tc``, records every call; ``refuse`` fails a tc kind."""

    def __init__(self, refuse: str = "", root: str = "fq_codel", ingress: bool = False) -> None:
        self.calls: list[list[str]] = []
        self.refuse, self.root, self.ingress = refuse, root, ingress

    def __call__(self, argv: Sequence[str], stdin: str | None) -> str:
        argv = list(argv)
        self.calls.append(argv)
        if argv[:3] == ["ip", "-o", "route"]:
            dev = "eth1" if ":" in argv[-1] else "eth0"
            return f"{argv[-1]} via 198.18.7.1 dev {dev} src 198.18.7.9 uid 0 \\    cache\n"
        if argv[:3] == ["tc", "qdisc", "show"]:
            if argv[-1] == "ingress":
                return "qdisc ingress ffff: parent ffff:fff1 ----------------\n" * self.ingress
            return f"qdisc {self.root} 0: root refcnt 2 limit 10240p\n" if self.root else ""
        if argv[0] in ("tc", "ip") and self.refuse and self.refuse in argv:
            raise FaultError(422, f"{argv[0]}: Error: Specified qdisc kind is unknown.")
        return ""

    def tc(self) -> list[str]:
        return [" ".join(c) for c in self.calls if c[0] == "tc" and c[2] != "show"]


def _req(**params: object) -> object:
    body = {"id": "lag", "kind": "partition", "duration_s": 30}
    return parse_request(
        {**body, "params": {"peers": PEERS, "protocols": ["icmp"], "loss_pct": 1, **params}}
    )


def _ctx(tmp: Path, net: FakeNet) -> NodeContext:
    return NodeContext(node="n0", fs=LocalFS(str(tmp)), run=net)


def test_delay_goes_to_a_prio_band_that_only_the_peers_reach(tmp_path: Path) -> None:
    net = FakeNet()
    kind, req = KIND_CLASSES["partition"], _req(delay_ms=40, jitter_ms=5, direction="both")
    undo = kind.apply(req, _ctx(tmp_path, net), 0.0)  # type: ignore[arg-type]
    assert net.tc() == [
        f"tc qdisc replace dev eth0 root handle 1: {PRIO}",
        "tc qdisc replace dev eth0 parent 1:4 handle 40: netem delay 40ms 5ms",
        v4("eth0", "198.18.7.2/32"),
        v4("eth0", "198.18.8.0/24"),
        v6("eth0", "2001:db8:7::/64"),
        f"tc qdisc replace dev eth1 root handle 1: {PRIO}",
        "tc qdisc replace dev eth1 parent 1:4 handle 40: netem delay 40ms 5ms",
        v4("eth1", "198.18.7.2/32"),
        v4("eth1", "198.18.8.0/24"),
        v6("eth1", "2001:db8:7::/64"),
    ]
    assert undo["netem_devs"] == ["eth0", "eth1"]
    net.calls.clear()
    kind.revert(undo, _ctx(tmp_path, net))
    assert net.tc() == ["tc qdisc del dev eth0 root", "tc qdisc del dev eth1 root"]


@pytest.mark.parametrize(("refused", "module"), [("prio", "sch_prio"), ("netem", "sch_netem")])
def test_a_missing_qdisc_is_a_422_naming_it_and_leaves_nothing(
    tmp_path: Path, refused: str, module: str
) -> None:
    net = FakeNet(refuse=refused)
    with pytest.raises(FaultError) as e:
        KIND_CLASSES["partition"].apply(_req(delay_ms=10), _ctx(tmp_path, net), 0.0)  # type: ignore[arg-type]
    assert e.value.status == 422 and e.value.field == "params.delay_ms"
    assert "sch_netem" in e.value.message and f"lacks {module}" in e.value.message
    # the root qdiscs are taken out again (back to the kernel's own), and the nft rules too
    assert net.tc()[-2:] == ["tc qdisc del dev eth0 root", "tc qdisc del dev eth1 root"]
    assert net.calls[-1][:2] == ["nft", "-f"]


@pytest.mark.parametrize(("root", "status"), [("prio", 409), ("cake", 422)])
def test_a_root_qdisc_not_the_kernels_own_is_not_replaced(
    tmp_path: Path, root: str, status: int
) -> None:
    net = FakeNet(root=root)
    with pytest.raises(FaultError) as e:
        KIND_CLASSES["partition"].apply(_req(delay_ms=10), _ctx(tmp_path, net), 0.0)  # type: ignore[arg-type]
    assert e.value.status == status and root in e.value.message
    assert not any(c[:3] == ["tc", "qdisc", "replace"] for c in net.calls)


def test_without_delay_no_tc_is_run(tmp_path: Path) -> None:
    net = FakeNet()
    KIND_CLASSES["partition"].apply(_req(), _ctx(tmp_path, net), 0.0)  # type: ignore[arg-type]
    assert [c[0] for c in net.calls] == ["nft"]


def test_inbound_delay_goes_through_an_ifb_device_fed_from_ingress(tmp_path: Path) -> None:
    net = FakeNet()
    kind, req = KIND_CLASSES["partition"], _req(delay_ms=25, direction="in")
    undo = kind.apply(req, _ctx(tmp_path, net), 0.0)  # type: ignore[arg-type]
    ifb = undo["netem_ifb"]
    assert ifb == ifb_name("lag") and len(ifb) <= 15
    redirect = f"action mirred egress redirect dev {ifb}"
    u32 = "tc filter add dev {} parent ffff: protocol {} u32 match {} src {} " + redirect
    assert [" ".join(c) for c in net.calls if c[0] in ("tc", "ip") and c[1] != "-o"] == [
        "tc qdisc show dev eth0 ingress",
        "tc qdisc show dev eth1 ingress",
        f"ip link add {ifb} type ifb",
        f"ip link set dev {ifb} up",
        f"tc qdisc replace dev {ifb} root netem delay 25ms",
        "tc qdisc add dev eth0 handle ffff: ingress",
        u32.format("eth0", "ip prio 1", "ip", "198.18.7.2/32"),
        u32.format("eth0", "ip prio 1", "ip", "198.18.8.0/24"),
        u32.format("eth0", "ipv6 prio 2", "ip6", "2001:db8:7::/64"),
        "tc qdisc add dev eth1 handle ffff: ingress",
        u32.format("eth1", "ip prio 1", "ip", "198.18.7.2/32"),
        u32.format("eth1", "ip prio 1", "ip", "198.18.8.0/24"),
        u32.format("eth1", "ipv6 prio 2", "ip6", "2001:db8:7::/64"),
    ]
    net.calls.clear()
    kind.revert(undo, _ctx(tmp_path, net))
    assert [" ".join(c) for c in net.calls if c[0] != "nft"] == [
        "tc qdisc del dev eth0 ingress",
        "tc qdisc del dev eth1 ingress",
        f"ip link del {ifb}",
    ]


@pytest.mark.parametrize(
    ("refused", "module"), [("ifb", "ifb"), ("ingress", "sch_ingress"), ("netem", "sch_netem")]
)
def test_a_missing_inbound_part_is_a_422_naming_it_and_leaves_nothing(
    tmp_path: Path, refused: str, module: str
) -> None:
    net = FakeNet(refuse=refused)
    with pytest.raises(FaultError) as e:
        KIND_CLASSES["partition"].apply(_req(delay_ms=10, direction="in"), _ctx(tmp_path, net), 0.0)  # type: ignore[arg-type]
    assert e.value.status == 422 and f"lacks {module}" in e.value.message
    tail = [" ".join(c) for c in net.calls[-4:]]
    assert tail[:3] == [
        "tc qdisc del dev eth0 ingress",
        "tc qdisc del dev eth1 ingress",
        f"ip link del {ifb_name('lag')}",
    ]
    assert tail[3].startswith("nft -f")


def test_an_ingress_qdisc_already_there_is_a_409(tmp_path: Path) -> None:
    net = FakeNet(ingress=True)
    with pytest.raises(FaultError) as e:
        KIND_CLASSES["partition"].apply(_req(delay_ms=10, direction="in"), _ctx(tmp_path, net), 0.0)  # type: ignore[arg-type]
    assert e.value.status == 409 and "ingress" in e.value.message
    assert not any(c[:3] == ["ip", "link", "add"] for c in net.calls)


def test_the_plan_names_every_tc_call_and_the_devices(tmp_path: Path) -> None:
    params = {"peers": ["198.18.7.2", "2001:db8::1"], "delay_ms": 20, "direction": "out"}
    lines = plan_commands("partition", params, {"netem_devs": ["eth0"]}, fault_id="x")
    tc = [x for x in lines if "tc " in x]
    assert tc == [
        f"tc qdisc replace dev eth0 root handle 1: {PRIO}",
        "tc qdisc replace dev eth0 parent 1:4 handle 40: netem delay 20ms",
        v4("eth0", "198.18.7.2/32"),
        v6("eth0", "2001:db8::1/128"),
        "at deadline: tc qdisc del dev eth0 root",
    ]
    inbound = plan_commands("partition", {**params, "direction": "in"}, {"netem_devs": ["eth0"]})
    ifb = ifb_name("FAULT")
    assert [x for x in inbound if "tc " in x or "ip link" in x][:4] == [
        f"ip link add {ifb} type ifb",
        f"ip link set dev {ifb} up",
        f"tc qdisc replace dev {ifb} root netem delay 20ms",
        "tc qdisc add dev eth0 handle ffff: ingress",
    ]
    assert inbound[-2:] == [
        "at deadline: tc qdisc del dev eth0 ingress",
        f"at deadline: ip link del {ifb}",
    ]
    # without node facts (chaos run --dry-run) the device is a placeholder
    assert any("dev DEV root handle 1:" in x for x in plan_commands("partition", params))
    # the agent's own dry run resolves the devices through its routes
    net = FakeNet()
    req = parse_request(
        {"id": "x", "kind": "partition", "duration_s": 5, "params": params, "dry_run": True}
    )
    planned = KIND_CLASSES["partition"].plan(req, _ctx(tmp_path, net))
    assert "tc qdisc replace dev eth0 parent 1:4 handle 40: netem delay 20ms" in planned
    assert "at deadline: tc qdisc del dev eth1 root" in planned
    assert not net.tc()  # planning changes nothing


FAKE_TC = """#!/bin/sh
# records each call; answers 'qdisc show' as a device with the kernel's own qdisc would
echo "tc $*" >> "$FAKE_TC_LOG"
case "$*" in *"qdisc show"*) echo "qdisc noqueue 0: root refcnt 2" ;; esac
exit 0
"""


@pytest.mark.integration
def test_an_agent_applies_and_its_timer_removes_the_delay_with_a_fake_tc(tmp_path: Path) -> None:
    """A real agent in a namespace, real nft and ip; only tc is recorded (no sch_netem here)."""
    import os
    import signal
    import subprocess

    from faults.chaos_support import call, copy_tree, poll, write_token
    from support import NetNS, microrack_cmd, require_binary, started

    require_binary("nft")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "tc").write_text(FAKE_TC)
    (fake / "tc").chmod(0o755)
    log = tmp_path / "tc.log"
    log.touch()
    env = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}", "FAKE_TC_LOG": str(log)}
    secret = write_token(tmp_path / "token")
    root = copy_tree("rpi4b", tmp_path / "root")
    with NetNS(2, subnet=95, prefix="mrnem") as net:
        subprocess.run(
            ["ip", "addr", "add", "198.18.95.254/24", "dev", net.bridge],
            check=True,
            capture_output=True,
        )
        a, dev = net.addresses, net.iface(0)
        argv = net.exec_argv(
            0,
            microrack_cmd(
                "agent",
                "--listen",
                f"{a[0]}:9102",
                "--root",
                str(root),
                "--node",
                "n0",
                "--chaos-token",
                str(tmp_path / "token"),
                "--chaos-allow",
                "partition",
                "--chaos-state",
                str(tmp_path / "state.json"),
            ),
        )

        def post(body: dict[str, object]) -> tuple[int, object]:
            return call(a[0], 9102, secret, "POST", "/api/v1/faults", body)

        params = {"peers": [a[1]], "direction": "out", "protocols": ["icmp"], "loss_pct": 1}
        lag = {"id": "lag", "kind": "partition", "duration_s": 3}
        with started(argv, tmp_path / "agent.log", env=env, wait=(a[0], 9102)):
            status, fault = post({**lag, "params": {**params, "delay_ms": 30}})
            assert status == 201, fault
            calls = log.read_text().splitlines()
            assert calls == [
                f"tc qdisc show dev {dev} root",
                f"tc qdisc replace dev {dev} root handle 1: {PRIO}",
                f"tc qdisc replace dev {dev} parent 1:4 handle 40: netem delay 30ms",
                v4(dev, f"{a[1]}/32"),
            ]
            assert calls[1:] == [c for c in fault["commands"] if c.startswith("tc ")]  # type: ignore[index]
            # the agent's own timer removes it; nobody sends a DELETE
            poll(lambda: log.read_text().splitlines()[-1] == f"tc qdisc del dev {dev} root")
            poll(lambda: call(a[0], 9102, secret, "GET", "/api/v1/faults")[1]["faults"] == [])  # type: ignore[index]
            # a long one, then the agent is SIGKILLed: its successor removes the qdisc at start
            status, _ = post(
                {**lag, "id": "long", "duration_s": 600, "params": {**params, "delay_ms": 5}}
            )
            assert status == 201
        # SIGTERM (the end of that block) reverted it too
        assert log.read_text().splitlines()[-1] == f"tc qdisc del dev {dev} root"
        with started(argv, tmp_path / "agent1.log", env=env, wait=(a[0], 9102)) as proc:
            status, _ = post(
                {**lag, "id": "k", "duration_s": 600, "params": {**params, "delay_ms": 5}}
            )
            assert status == 201
            before = len(log.read_text().splitlines())
            proc.stop(signal.SIGKILL)
        assert len(log.read_text().splitlines()) == before  # nobody reverted it
        with started(argv, tmp_path / "agent2.log", env=env, wait=(a[0], 9102)):
            assert log.read_text().splitlines()[before:] == [f"tc qdisc del dev {dev} root"]

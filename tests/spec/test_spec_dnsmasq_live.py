"""The rendered dnsmasq.conf served by the real dnsmasq in a network namespace.

A client in a second namespace asks for a lease with the MAC that cluster.yaml
gives a node and must be offered that node's address, router and domain; it
then resolves the node's name (and the address back to the name) through the
same dnsmasq.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from dnsmasq_client import CLIENT, dnsmasq_argv
from spec_cases import write

from microrack.spec import load_spec
from microrack.spec.render import render_to
from support import NetNS, require_binary, started

pytestmark = [pytest.mark.integration, pytest.mark.netns]

SUBNET = 61
CLIENT_MAC = "02:6d:72:3d:00:32"
STRANGER_MAC = "02:6d:72:3d:00:99"



def _spec(ns: NetNS) -> dict:
    base = f"198.18.{SUBNET}"
    return {
        "cluster": {"name": "live", "domain": "live.lab.internal"},
        "networks": [
            {
                "name": "lan",
                "kind": "infrastructure",
                "cidr": f"{base}.0/24",
                "gateway": f"{base}.254",
                "dns": [ns.addresses[0]],
                "dhcp": {"start": f"{base}.100", "end": f"{base}.150", "lease": "1h"},
            }
        ],
        "nodes": [
            {
                "name": "srv",
                "board": "rpi-5",
                "ram_gb": 8,
                "roles": ["control-plane", "dhcp-dns"],
                "nics": [
                    {
                        "name": "eth0",
                        "mac": "02:6d:72:3d:00:01",
                        "network": "lan",
                        "address": ns.addresses[0],
                    }
                ],
            },
            {
                "name": "worker-a",
                "board": "rk1",
                "ram_gb": 16,
                "roles": ["worker"],
                "nics": [
                    {"name": "eth0", "mac": CLIENT_MAC, "network": "lan", "address": f"{base}.50"}
                ],
            },
        ],
    }


def test_dnsmasq_serves_rendered_leases_and_names(tmp_path: Path) -> None:
    dnsmasq = require_binary("dnsmasq", "/usr/sbin/dnsmasq")
    with NetNS(2, subnet=SUBNET, prefix="mrsp") as ns:
        out = tmp_path / "out"
        render_to(load_spec(write(tmp_path, _spec(ns))), out)
        argv = dnsmasq_argv(dnsmasq, out / "dnsmasq.conf", ns, 0, tmp_path)
        with started(argv, tmp_path / "dnsmasq.log") as proc:

            def client(mac: str) -> subprocess.CompletedProcess[str]:
                argv = [
                    sys.executable,
                    "-c",
                    CLIENT,
                    ns.iface(1),
                    mac,
                    ns.addresses[0],
                    "worker-a.live.lab.internal",
                    f"198.18.{SUBNET}.50",
                ]
                return subprocess.run(
                    ns.exec_argv(1, argv), capture_output=True, text=True, timeout=120
                )

            r = client(CLIENT_MAC)
            stranger = client(STRANGER_MAC)
            log = proc.output()
        assert r.returncode == 0, r.stderr + log
        got = dict(line.split(" ", 1) for line in r.stdout.splitlines())
        assert got == {
            "yiaddr": f"198.18.{SUBNET}.50",
            "type": "2",  # DHCPOFFER
            "router": f"198.18.{SUBNET}.254",
            "domain": "live.lab.internal",
            "a": f"198.18.{SUBNET}.50",
            "ptr": "worker-a.live.lab.internal",
        }, r.stdout + log
        # A MAC the spec does not know gets an address from the dynamic pool.
        assert stranger.returncode == 0, stranger.stderr + log
        offered = dict(line.split(" ", 1) for line in stranger.stdout.splitlines())["yiaddr"]
        assert 100 <= int(offered.rsplit(".", 1)[1]) <= 150, offered
        assert offered.startswith(f"198.18.{SUBNET}.")
        assert CLIENT_MAC in log

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
from typing import Any

import pytest
from dnsmasq_client import CLIENT, lan, rendered, server, serving

from support import NetNS

pytestmark = [pytest.mark.integration, pytest.mark.netns]

SUBNET = 61
CLIENT_MAC = "02:6d:72:3d:00:32"
STRANGER_MAC = "02:6d:72:3d:00:99"


def _spec(ns: NetNS) -> dict[str, Any]:
    base = f"198.18.{SUBNET}"
    return {
        "cluster": {"name": "live", "domain": "live.lab.internal"},
        "networks": [lan(ns, SUBNET)],
        "nodes": [
            server(ns, "srv", "02:6d:72:3d:00:01", ["control-plane", "dhcp-dns"]),
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
    with NetNS(2, subnet=SUBNET, prefix="mrsp") as ns:
        _, out = rendered(tmp_path, _spec(ns))
        with serving(out / "dnsmasq.conf", ns, 0, tmp_path) as proc:

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

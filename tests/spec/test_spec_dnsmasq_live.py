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
from spec_cases import write

from microrack.spec import load_spec
from microrack.spec.render import render_to
from support import NetNS, require_binary, started

pytestmark = [pytest.mark.integration, pytest.mark.netns]

SUBNET = 61
CLIENT_MAC = "02:6d:72:3d:00:32"
STRANGER_MAC = "02:6d:72:3d:00:99"

# Runs inside the client namespace: DHCPDISCOVER, then DNS A and PTR queries.
CLIENT = r"""
import socket, struct, sys, time, random
iface, mac, server, name, expect = sys.argv[1:6]
hw = bytes.fromhex(mac.replace(":", ""))
xid = random.getrandbits(32)
pkt = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000, bytes(4), bytes(4),
                  bytes(4), bytes(4), hw + bytes(10), bytes(64), bytes(128))
pkt += bytes([99, 130, 83, 99, 53, 1, 1, 55, 4, 1, 3, 6, 15, 255])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
s.bind(("0.0.0.0", 68))
s.settimeout(1.0)
offer = None
deadline = time.monotonic() + 30
while offer is None and time.monotonic() < deadline:
    s.sendto(pkt, ("255.255.255.255", 67))
    try:
        while True:
            data, _ = s.recvfrom(2048)
            if len(data) > 240 and data[0] == 2 and struct.unpack("!I", data[4:8])[0] == xid:
                offer = data
                break
    except socket.timeout:
        continue
assert offer is not None, "no DHCP offer"
opts, i = {}, 240
while i < len(offer) and offer[i] != 255:
    if offer[i] == 0:
        i += 1
        continue
    code, n = offer[i], offer[i + 1]
    opts[code] = offer[i + 2:i + 2 + n]
    i += 2 + n
print("yiaddr", socket.inet_ntoa(offer[16:20]))
print("type", opts[53][0])
print("router", socket.inet_ntoa(opts[3]))
print("domain", opts[15].decode())

def query(qname, qtype):
    q = struct.pack("!HHHHHH", 0x4d52, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(p)]) + p.encode() for p in qname.split(".")) + b"\0"
    q += struct.pack("!HH", qtype, 1)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(2)
    u.sendto(q, (server, 53))
    r, _ = u.recvfrom(2048)
    return r, struct.unpack("!H", r[6:8])[0]

def read_name(msg, i):
    labels = []
    while msg[i]:
        if msg[i] & 0xC0 == 0xC0:
            labels.append(read_name(msg, struct.unpack("!H", msg[i:i + 2])[0] & 0x3FFF)[0])
            return ".".join(labels), i + 2
        labels.append(msg[i + 1:i + 1 + msg[i]].decode())
        i += 1 + msg[i]
    return ".".join(labels), i + 1

def answer(msg):
    i = read_name(msg, 12)[1] + 4  # the question
    i = read_name(msg, i)[1]
    rtype, _, _, rdlen = struct.unpack("!HHIH", msg[i:i + 10])
    rdata = i + 10
    return socket.inet_ntoa(msg[rdata:rdata + 4]) if rtype == 1 else read_name(msg, rdata)[0]

r, an = query(name, 1)
print("a", answer(r) if an else "none")
rev = ".".join(reversed(expect.split("."))) + ".in-addr.arpa"
r, an = query(rev, 12)
print("ptr", answer(r) if an else "none")
"""


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
        argv = ns.exec_argv(
            0,
            [
                dnsmasq,
                "--keep-in-foreground",
                "--conf-file=" + str(out / "dnsmasq.conf"),
                f"--interface={ns.iface(0)}",
                "--bind-interfaces",
                "--except-interface=lo",
                "--no-resolv",
                "--no-hosts",
                "--user=root",
                "--log-dhcp",
                "--log-facility=-",
                f"--dhcp-leasefile={tmp_path / 'leases'}",
                f"--pid-file={tmp_path / 'pid'}",
            ],
        )
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

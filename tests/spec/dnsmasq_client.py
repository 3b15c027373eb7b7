"""A DHCP and DNS client for the dnsmasq tests, run with ``python -c CLIENT`` in a namespace.

Arguments: interface, MAC, DNS server, a name to resolve, the address whose PTR to
ask for.  It sends DHCPDISCOVER with that MAC on the interface until an offer
comes, then queries the server for the name's A record and the address's PTR, and
prints ``yiaddr``, ``type``, ``router``, ``domain``, ``a`` and ``ptr``, one a line.

:func:`dnsmasq_argv` is how the live tests start Debian's dnsmasq on a rendered
configuration in one namespace, :func:`serving` starts it and stops it again;
:func:`lan` and :func:`server` are the cluster.yaml pieces every live test has (the
network with its DHCP pool, the node in namespace 0 that runs dnsmasq), and
:func:`rendered` writes, loads and renders a cluster.yaml.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from spec_cases import write

from microrack.spec import ClusterSpec, load_spec
from microrack.spec.render import render_to
from support import NetNS, Proc, require_binary, started


def lan(ns: NetNS, subnet: int) -> dict[str, Any]:
    """The ``lan`` network 198.18.SUBNET.0/24: router .254, DNS on namespace 0, a dynamic
    pool .100-.150."""
    base = f"198.18.{subnet}"
    return {
        "name": "lan",
        "kind": "infrastructure",
        "cidr": f"{base}.0/24",
        "gateway": f"{base}.254",
        "dns": [ns.addresses[0]],
        "dhcp": {"start": f"{base}.100", "end": f"{base}.150", "lease": "1h"},
    }


def server(ns: NetNS, name: str, mac: str, roles: list[str], **extra: Any) -> dict[str, Any]:
    """The Pi 5 at namespace 0's address that serves DHCP and DNS (``roles`` beside it)."""
    return {
        "name": name,
        "board": "rpi-5",
        "ram_gb": 8,
        **extra,
        "roles": roles,
        "nics": [{"name": "eth0", "mac": mac, "network": "lan", "address": ns.addresses[0]}],
    }


def rendered(tmp: Path, doc: dict[str, Any]) -> tuple[ClusterSpec, Path]:
    """``doc`` written to ``tmp/cluster.yaml``, loaded, and rendered into ``tmp/out``."""
    spec = load_spec(write(tmp, doc))
    render_to(spec, tmp / "out")
    return spec, tmp / "out"


@contextlib.contextmanager
def serving(conf: Path, ns: NetNS, i: int, tmp: Path, log: str = "dnsmasq.log") -> Iterator[Proc]:
    """Debian's dnsmasq on ``conf`` in namespace ``i`` (:func:`dnsmasq_argv`), stopped on
    leaving; its output in ``tmp/log``."""
    dnsmasq = require_binary("dnsmasq", "/usr/sbin/dnsmasq")
    with started(dnsmasq_argv(dnsmasq, conf, ns, i, tmp), tmp / log) as proc:
        yield proc


def dnsmasq_argv(dnsmasq: str, conf: Path, ns: NetNS, i: int, tmp: Path, *extra: str) -> list[str]:
    """dnsmasq in the foreground on ``conf``, bound to namespace ``i``'s interface only,
    logging DHCP to stdout, its leases and pid file in ``tmp``."""
    return ns.exec_argv(
        i,
        [
            dnsmasq,
            "--keep-in-foreground",
            "--conf-file=" + str(conf),
            f"--interface={ns.iface(i)}",
            "--bind-interfaces",
            "--except-interface=lo",
            "--no-resolv",
            "--no-hosts",
            "--user=root",
            "--log-dhcp",
            "--log-facility=-",
            f"--dhcp-leasefile={tmp / f'leases{i}'}",
            f"--pid-file={tmp / f'pid{i}'}",
            *extra,
        ],
    )


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

"""A DHCP and DNS client for the dnsmasq tests, run with ``python -c CLIENT`` in a namespace.

Arguments: interface, MAC, DNS server, a name to resolve, the address whose PTR to
ask for.  It sends DHCPDISCOVER with that MAC on the interface until an offer
comes, then queries the server for the name's A record and the address's PTR, and
prints ``yiaddr``, ``type``, ``router``, ``domain``, ``a`` and ``ptr``, one a line.

:func:`dnsmasq_argv` is how the live tests start Debian's dnsmasq on a rendered
configuration in one namespace.
"""

from __future__ import annotations

from pathlib import Path

from support import NetNS


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

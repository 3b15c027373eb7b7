"""A network-boot client, run inside a test's network namespace.

    python netboot_client.py dhcp IFACE MAC KIND [SECONDS]
        broadcasts the DHCPDISCOVER a boot loader of KIND sends (rpi: the Raspberry Pi
        EEPROM; bios, uefi: x86 PXE ROMs; ipxe: iPXE chained from a BIOS PXE ROM; uboot:
        U-Boot; plain: an ordinary client) and prints, as JSON, every offer for that MAC
        that arrives within SECONDS after the first one, then requests the offered
        address (DHCPREQUEST) and adds the server's answer as the last element (with
        "acked": true for a DHCPACK).
    python netboot_client.py discover SOURCE MAC KIND SERVER ITEM
        PXE boot-server discovery (after a proxy-DHCP answer): a DHCPREQUEST for boot menu
        item ITEM (its type, as a number) sent from SOURCE to SERVER port 4011; prints the
        answer as JSON.
    python netboot_client.py tftp SOURCE SERVER FILE OUT
        fetches FILE by TFTP (RFC 1350, octet mode) from SERVER, sending from address
        SOURCE, into OUT.

Standard library only: it runs under the interpreter of the test.
"""

from __future__ import annotations

import json
import random
import socket
import struct
import sys
import time

# (vendor class, client architecture (option 93), extra options) per boot loader.
KINDS: dict[str, tuple[bytes, int | None, bytes]] = {
    "rpi": (b"PXEClient:Arch:00000:UNDI:002001", 0, b""),
    "bios": (b"PXEClient:Arch:00000:UNDI:002001", 0, b""),
    "uefi": (b"PXEClient:Arch:00007:UNDI:003016", 7, b""),
    # iPXE says who it is with option 175 (its feature list) and user class "iPXE".
    "ipxe": (b"PXEClient:Arch:00000:UNDI:002001", 0, bytes([175, 3, 19, 1, 1, 77, 4]) + b"iPXE"),
    # U-Boot's "dhcp" on an arm64 board (CONFIG_BOOTP_VCI_STRING, client arch 11).
    "uboot": (b"U-Boot.armv8", 11, b""),
    "plain": (b"", None, b""),
}


def _opt(code: int, value: bytes) -> bytes:
    return bytes([code, len(value)]) + value


def discover(mac: str, kind: str, xid: int, message: int = 1, extra_opts: bytes = b"") -> bytes:
    hw = bytes.fromhex(mac.replace(":", ""))
    pkt = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1, 1, 6, 0, xid, 0, 0x8000,
        bytes(4), bytes(4), bytes(4), bytes(4), hw + bytes(10), bytes(64), bytes(128),
    )  # fmt: skip
    vendor, arch, extra = KINDS[kind]
    opts = _opt(53, bytes([message])) + _opt(
        55, bytes([1, 3, 6, 15, 43, 60, 66, 67, 128, 129, 130])
    )
    opts += _opt(57, struct.pack("!H", 1472))
    if vendor:
        opts += _opt(60, vendor)
    if arch is not None:
        opts += _opt(93, struct.pack("!H", arch))
        opts += _opt(94, b"\x01\x02\x01")  # UNDI 2.1
        opts += _opt(97, b"\x00" + hw + bytes(10))  # client machine identifier (GUID)
    return pkt + b"\x63\x82\x53\x63" + opts + extra + extra_opts + b"\xff"


def parse(data: bytes) -> dict[str, object]:
    opts: dict[int, bytes] = {}
    i = 240
    while i < len(data) and data[i] != 255:
        if data[i] == 0:
            i += 1
            continue
        code, n = data[i], data[i + 1]
        opts[code] = opts.get(code, b"") + data[i + 2 : i + 2 + n]
        i += 2 + n
    return {
        "yiaddr": socket.inet_ntoa(data[16:20]),
        "siaddr": socket.inet_ntoa(data[20:24]),
        "file": data[108:236].split(b"\0", 1)[0].decode(errors="replace"),
        "options": {str(k): v.hex() for k, v in sorted(opts.items())},
    }


def dhcp(iface: str, mac: str, kind: str, linger: float) -> None:
    xid = random.getrandbits(32)
    pkt = discover(mac, kind, xid)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    s.bind(("0.0.0.0", 68))
    s.settimeout(0.5)
    offers: list[dict[str, object]] = []
    deadline = time.monotonic() + 30
    first = None
    hw = bytes.fromhex(mac.replace(":", ""))
    while time.monotonic() < deadline and (first is None or time.monotonic() < first + linger):
        if first is None:
            s.sendto(pkt, ("255.255.255.255", 67))
        try:
            data, _ = s.recvfrom(2048)
        except TimeoutError:
            continue
        if len(data) < 240 or data[0] != 2 or struct.unpack("!I", data[4:8])[0] != xid:
            continue
        if data[28:34] != hw:
            continue
        offers.append(parse(data))
        first = first or time.monotonic()
    leased = [o for o in offers if o["yiaddr"] != "0.0.0.0"]
    if leased:
        print(json.dumps([*offers, request(s, mac, kind, leased[0])]))
    else:
        print(json.dumps(offers))


def request(s: socket.socket, mac: str, kind: str, offer: dict[str, object]) -> dict[str, object]:
    """DHCPREQUEST for the offered address from the server that offered it."""
    xid = random.getrandbits(32)
    opts = offer["options"]
    assert isinstance(opts, dict)
    chosen = _opt(50, socket.inet_aton(str(offer["yiaddr"]))) + _opt(54, bytes.fromhex(opts["54"]))
    pkt = discover(mac, kind, xid, message=3, extra_opts=chosen)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        s.sendto(pkt, ("255.255.255.255", 67))
        try:
            data, _ = s.recvfrom(2048)
        except TimeoutError:
            continue
        if len(data) >= 240 and data[0] == 2 and struct.unpack("!I", data[4:8])[0] == xid:
            answer = parse(data)
            answer["acked"] = data[240:].find(b"\x35\x01\x05") >= 0
            return answer
    return {"acked": False, "yiaddr": "", "options": {}}


def boot_server(source: str, mac: str, kind: str, server: str, item: int) -> None:
    xid = random.getrandbits(32)
    # Option 43, sub-option 71: the boot item (type, layer 0) chosen from the menu.
    choice = _opt(43, _opt(71, struct.pack("!HH", item, 0)) + b"\xff")
    pkt = bytearray(discover(mac, kind, xid, message=3, extra_opts=choice))
    pkt[12:16] = socket.inet_aton(source)  # ciaddr: the client has its address by now
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 4011))
    s.settimeout(1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        s.sendto(bytes(pkt), (server, 4011))
        try:
            data, _ = s.recvfrom(2048)
        except TimeoutError:
            continue
        if len(data) >= 240 and data[0] == 2 and struct.unpack("!I", data[4:8])[0] == xid:
            print(json.dumps(parse(data)))
            return
    sys.exit("no answer from the boot server")


def tftp(source: str, server: str, name: str, out: str) -> None:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    s.settimeout(5)
    s.sendto(b"\x00\x01" + name.encode() + b"\x00octet\x00", (server, 69))
    body, expect = b"", 1
    while True:
        data, peer = s.recvfrom(4 + 65536)
        op, block = struct.unpack("!HH", data[:4])
        if op == 5:
            sys.exit(f"TFTP error {block}: {data[4:-1].decode(errors='replace')}")
        if op != 3:
            sys.exit(f"unexpected TFTP opcode {op}")
        if block == expect:
            body += data[4:]
            expect = (expect + 1) & 0xFFFF
        s.sendto(struct.pack("!HH", 4, block), peer)
        if len(data) - 4 < 512:
            break
    with open(out, "wb") as fh:
        fh.write(body)


if __name__ == "__main__":
    if sys.argv[1] == "dhcp":
        dhcp(sys.argv[2], sys.argv[3], sys.argv[4], float(sys.argv[5]) if len(sys.argv) > 5 else 2)
    elif sys.argv[1] == "discover":
        boot_server(*sys.argv[2:6], int(sys.argv[6]))
    elif sys.argv[1] == "tftp":
        tftp(*sys.argv[2:6])
    else:
        sys.exit(f"unknown mode {sys.argv[1]!r}")

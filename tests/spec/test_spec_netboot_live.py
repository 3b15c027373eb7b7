"""A real network boot exchange with the rendered dnsmasq.conf and TFTP tree.

The master's namespace runs dnsmasq from the render (DHCP and TFTP); a client
namespace sends the DHCPDISCOVER of a Raspberry Pi EEPROM, of x86 BIOS and UEFI PXE
ROMs, of iPXE and of U-Boot, with each node's MAC, checks the offers (reserved address, option 43
"Raspberry Pi Boot", boot file names) and then fetches its files over TFTP from its
serial-number directory, laid out by the rendered ``link-tree.sh`` as links to one
shared image (a Pi 2 is answered with the padded menu text its boot code wants and
gets bootcode.bin from the root).  A MAC not in the spec gets no boot answer.  The
same runs in proxy-DHCP mode beside a second dnsmasq playing the router, which
leases the addresses; there the x86 client also does PXE boot-server discovery on
port 4011 and is named iPXE.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from dnsmasq_client import lan, rendered, server, serving

from support import NetNS

pytestmark = [pytest.mark.integration, pytest.mark.netns]

CLIENT = str(Path(__file__).with_name("netboot_client.py"))
PI_A, PI_B = "02:6d:72:3f:00:0a", "02:6d:72:3f:00:0b"
PC_BIOS, PC_UEFI = "02:6d:72:3f:00:0c", "02:6d:72:3f:00:0d"
SBC = "02:6d:72:3f:00:0e"
STRANGER = "02:6d:72:3f:00:99"
SERIAL_A, SERIAL_B = "5a2c0e0a", "5a2c0e0b"
#: What the operator copies from the image's boot partition into images/default/.
IMAGE = {
    "start4.elf": b"\x7fELF start4 " * 300,  # several TFTP blocks
    "fixup4.dat": b"fixup",
    "config.txt": b"arm_64bit=1\nkernel=kernel8.img\n",
    "kernel8.img": b"kernel " * 100,
    "bcm2711-rpi-4-b.dtb": b"\xd0\x0d\xfe\xed",
    "bootcode.bin": b"bootcode for the Pi 2/3",
    "cmdline.txt": b"console=tty1 root=/dev/mmcblk0p2\n",  # replaced per node
}


def _spec(ns: NetNS, subnet: int, tftp_root: Path, mode: str) -> dict[str, Any]:
    base = f"198.18.{subnet}"

    def node(name: str, mac: str, host: int, **extra: Any) -> dict[str, Any]:
        return {
            "name": name,
            "ram_gb": 4,
            "roles": ["worker"],
            "nics": [{"name": "eth0", "mac": mac, "network": "lan", "address": f"{base}.{host}"}],
            "boot": "net",
            **extra,
        }

    return {
        "cluster": {"name": "boot", "domain": "boot.lab.internal"},
        "networks": [lan(ns, subnet)],
        "nodes": [
            server(
                ns,
                "master",
                "02:6d:72:3f:00:01",
                ["control-plane", "dhcp-dns", "nfs-server"],
                boot="nvme",
            ),
            node("pi-a", PI_A, 50, board="rpi-4b", serial=SERIAL_A, netboot={"firmware": "rpi"}),
            node(
                "pi-b",
                PI_B,
                51,
                board="rpi-2b",  # no network boot in ROM: bootcode.bin on SD, then TFTP
                serial=SERIAL_B,
                netboot={"firmware": "rpi"},
                drives=[{"name": "mmcblk0", "kind": "sd", "size_gb": 1}],
            ),
            node("pc-a", PC_BIOS, 52, board="intel-n100-minipc", netboot={"firmware": "bios"}),
            node("pc-b", PC_UEFI, 53, board="intel-n100-minipc", netboot={"firmware": "uefi"}),
            # U-Boot ignores proxy-DHCP answers: the spec refuses it in proxy mode.
            *(
                [node("sbc", SBC, 54, board="radxa-rock-5b", netboot={"firmware": "uboot"})]
                if mode == "full"
                else []
            ),
        ],
        "netboot": {"dhcp": mode, "tftp_root": str(tftp_root)},
    }


def _offers(ns: NetNS, mac: str, kind: str, linger: float = 2) -> list[dict[str, Any]]:
    """The offers for ``mac``; the answer to the DHCPREQUEST that follows is in ``ACKS``."""
    r = subprocess.run(
        ns.exec_argv(1, [sys.executable, CLIENT, "dhcp", ns.iface(1), mac, kind, str(linger)]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    answers = json.loads(r.stdout)
    if answers and "acked" in answers[-1]:
        ACKS[mac] = answers.pop()
    return answers


ACKS: dict[str, dict[str, Any]] = {}


def _menu(offer: dict[str, Any]) -> dict[str, int]:
    """The PXE boot menu in option 43 (sub-option 9): item text -> item type."""
    data, i, items = _opt(offer, 43), 0, {}
    while i + 1 < len(data) and data[i] != 255:
        code, n = data[i], data[i + 1]
        body = data[i + 2 : i + 2 + n]
        if code == 9:
            j = 0
            while j + 3 <= len(body):
                kind, size = int.from_bytes(body[j : j + 2], "big"), body[j + 2]
                items[body[j + 3 : j + 3 + size].decode()] = kind
                j += 3 + size
        i += 2 + n
    return items


def _discover(ns: NetNS, source: str, mac: str, kind: str, server: str, item: int) -> dict:
    argv = [sys.executable, CLIENT, "discover", source, mac, kind, server, str(item)]
    r = subprocess.run(ns.exec_argv(1, argv), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _tftp(ns: NetNS, source: str, server: str, name: str, out: Path) -> bytes:
    r = subprocess.run(
        ns.exec_argv(1, [sys.executable, CLIENT, "tftp", source, server, name, str(out)]),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, f"TFTP {name}: {r.stderr}"
    return out.read_bytes()


def _opt(offer: dict[str, Any], code: int) -> bytes:
    return bytes.fromhex(offer["options"].get(str(code), ""))


def _bootfile(offer: dict[str, Any]) -> str:
    """The boot file: option 67 when the client asked for it, else the BOOTP file field."""
    return _opt(offer, 67).rstrip(b"\0").decode() or offer["file"]


def _become(ns: NetNS, mac: str, address: str) -> None:
    """The client namespace takes the node's MAC and the address it was offered."""
    dev = ns.iface(1)
    for args in (
        ["link", "set", "dev", dev, "address", mac],
        ["addr", "flush", "dev", dev],
        ["addr", "add", f"{address}/24", "dev", dev],
    ):
        subprocess.run(["ip", "-n", ns.names[1], *args], check=True, capture_output=True)


def _lay_out(out: Path, tftp_root: Path) -> None:
    image = tftp_root / "images" / "default"
    image.mkdir(parents=True)
    for name, data in IMAGE.items():
        (image / name).write_bytes(data)
    r = subprocess.run(
        ["sh", str(out / "netboot" / "link-tree.sh"), str(tftp_root)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    # Links, not copies: both Pis share the image's files; only cmdline.txt is their own.
    for serial in (SERIAL_A, SERIAL_B):
        d = tftp_root / serial
        assert (d / "start4.elf").is_symlink()
        assert (d / "start4.elf").resolve() == (image / "start4.elf").resolve()
        assert not (d / "cmdline.txt").is_symlink()


def _check_pi_boot(ns: NetNS, tmp: Path, out: Path, offer: dict[str, Any]) -> None:
    """The Pi fetches its boot files from its serial directory on the offered server: the
    next-server field, or (a proxy-DHCP answer leaves it empty) the answer's server
    identifier, which is what the Pi boot loader uses (raspberrypi/firmware#801)."""
    server = offer["siaddr"] if offer["siaddr"] != "0.0.0.0" else socket_id(offer)
    assert server == ns.addresses[0], offer
    got = _tftp(ns, offer["_me"], server, f"{SERIAL_A}/start4.elf", tmp / "start4.elf")
    assert got == IMAGE["start4.elf"]
    got = _tftp(ns, offer["_me"], server, f"{SERIAL_A}/config.txt", tmp / "config.txt")
    assert got == IMAGE["config.txt"]
    cmdline = _tftp(ns, offer["_me"], server, f"{SERIAL_A}/cmdline.txt", tmp / "cmdline.txt")
    assert cmdline == (out / "netboot" / "tftp" / SERIAL_A / "cmdline.txt").read_bytes()
    assert f"nfsroot={ns.addresses[0]}:/srv/nfsroot/pi-a,".encode() in cmdline


def test_full_dhcp_boot_exchange(tmp_path: Path) -> None:
    ACKS.clear()
    subnet = 63
    with NetNS(2, subnet=subnet, prefix="mrnb") as ns:
        tftp_root = tmp_path / "tftp"
        _, out = rendered(tmp_path, _spec(ns, subnet, tftp_root, "full"))
        _lay_out(out, tftp_root)
        with serving(out / "dnsmasq.conf", ns, 0, tmp_path) as proc:
            pi = _offers(ns, PI_A, "rpi")
            pi2 = _offers(ns, PI_B, "rpi")
            bios = _offers(ns, PC_BIOS, "bios")
            ipxe = _offers(ns, PC_BIOS, "ipxe")
            uefi = _offers(ns, PC_UEFI, "uefi")
            uboot = _offers(ns, SBC, "uboot")
            stranger = _offers(ns, STRANGER, "rpi")
            _become(ns, PI_A, f"198.18.{subnet}.50")
            (offer,) = pi
            offer["_me"] = f"198.18.{subnet}.50"
            _check_pi_boot(ns, tmp_path, out, offer)
            script = _tftp(
                ns,
                offer["_me"],
                ns.addresses[0],
                f"ipxe/{PC_BIOS.replace(':', '-')}.ipxe",
                tmp_path / "pc.ipxe",
            )
            pxelinux = _tftp(
                ns,
                offer["_me"],
                ns.addresses[0],
                f"pxelinux.cfg/01-{SBC.replace(':', '-')}",
                tmp_path / "pxelinux",
            )
            bootcode = _tftp(ns, offer["_me"], ns.addresses[0], "bootcode.bin", tmp_path / "bc")
            log = proc.output()
    # The Pi 2/3 boot code: the menu text padded with three spaces, bootcode.bin at the root.
    assert [o["yiaddr"] for o in pi2] == [f"198.18.{subnet}.51"], log
    assert b"Raspberry Pi Boot   " in _opt(pi2[0], 43), log
    assert bootcode == IMAGE["bootcode.bin"]
    # The Pi 4: its reserved address (offered and acknowledged), and the PXE menu naming
    # "Raspberry Pi Boot".
    assert offer["yiaddr"] == f"198.18.{subnet}.50", log
    assert ACKS[PI_A]["acked"] and ACKS[PI_A]["yiaddr"] == f"198.18.{subnet}.50", log
    assert "DHCPACK(" in log and f"198.18.{subnet}.50 {PI_A} pi-a" in log
    assert b"Raspberry Pi Boot" in _opt(offer, 43), log
    assert b"Raspberry Pi Boot " not in _opt(offer, 43), log
    assert _opt(offer, 60) == b"PXEClient", log
    # x86: the PXE ROM is sent iPXE, iPXE is sent the script that chains to the node's own.
    assert [o["yiaddr"] for o in bios] == [f"198.18.{subnet}.52"], log
    assert _bootfile(bios[0]) == "ipxe/undionly.kpxe", log
    assert _bootfile(ipxe[0]) == "ipxe/boot.ipxe", log
    assert [(o["yiaddr"], _bootfile(o)) for o in uefi] == [(f"198.18.{subnet}.53", "ipxe/ipxe.efi")]
    # U-Boot: its address and a boot file at the TFTP root, so that 'pxe get' asks for
    # pxelinux.cfg/01-<mac> there.
    assert [(o["yiaddr"], _bootfile(o)) for o in uboot] == [(f"198.18.{subnet}.54", "pxelinux.0")]
    assert b"LABEL microrack" in pxelinux and b"  KERNEL images/default/vmlinuz\n" in pxelinux
    assert script.startswith(b"#!ipxe") and b"nfsroot=" in script and b"\nboot\n" in script
    # Not in the spec: an address from the pool, but no boot answer (no file, and a PXE
    # menu without entries).
    assert len(stranger) >= 1, log
    s = stranger[0]
    assert len({o["yiaddr"] for o in stranger}) == 1, stranger
    assert _bootfile(s) == "" and b"Boot" not in _opt(s, 43), log
    assert b"iPXE" not in _opt(s, 43)
    assert 100 <= int(s["yiaddr"].rsplit(".", 1)[1]) <= 150


def test_proxy_dhcp_beside_a_router(tmp_path: Path) -> None:
    ACKS.clear()
    subnet = 64
    with NetNS(3, subnet=subnet, prefix="mrnp") as ns:
        tftp_root = tmp_path / "tftp"
        spec, out = rendered(tmp_path, _spec(ns, subnet, tftp_root, "proxy"))
        conf = (out / "dnsmasq.conf").read_text()
        assert ",proxy," in conf and "dhcp-host=" not in conf
        _lay_out(out, tftp_root)
        # The router: leases and the reservations the rendered file asks it to keep.
        router = tmp_path / "router.conf"
        lines = [f"dhcp-range=198.18.{subnet}.100,198.18.{subnet}.150,255.255.255.0,1h"]
        lines += [f"dhcp-host={n.mac},{n.address},{n.name}" for n in spec.nodes]
        router.write_text("\n".join(lines) + "\nport=0\n")
        with (
            serving(out / "dnsmasq.conf", ns, 0, tmp_path) as proc,
            serving(router, ns, 2, tmp_path, "router.log") as rproc,
        ):
            pi = _offers(ns, PI_A, "rpi", linger=3)
            bios = _offers(ns, PC_BIOS, "bios", linger=3)
            stranger = _offers(ns, STRANGER, "rpi", linger=3)
            by_server = {socket_id(o): o for o in pi}
            _become(ns, PI_A, by_server[ns.addresses[2]]["yiaddr"])
            offer = by_server[ns.addresses[0]]
            offer["_me"] = f"198.18.{subnet}.50"
            _check_pi_boot(ns, tmp_path, out, offer)
            # x86 BIOS: pick the menu item the proxy offered; the boot server on port 4011
            # names iPXE.
            x86 = {socket_id(o): o for o in bios}
            menu = _menu(x86[ns.addresses[0]])
            _become(ns, PC_BIOS, by_server[ns.addresses[2]]["yiaddr"].rsplit(".", 1)[0] + ".52")
            ack = _discover(
                ns, f"198.18.{subnet}.52", PC_BIOS, "bios", ns.addresses[0], menu["microrack iPXE"]
            )
            log = proc.output() + rproc.output()
    # The router leases the reserved address; the master only answers the boot request.
    assert set(by_server) == {ns.addresses[0], ns.addresses[2]}, log
    assert by_server[ns.addresses[2]]["yiaddr"] == f"198.18.{subnet}.50"
    lease = ACKS[PI_A]
    assert lease["acked"] and socket_id(lease) == ns.addresses[2], log
    assert not _opt(by_server[ns.addresses[2]], 43)
    assert offer["yiaddr"] == "0.0.0.0" and b"Raspberry Pi Boot" in _opt(offer, 43), log
    assert list(menu) == ["microrack iPXE"], log
    assert _bootfile(ack) == "ipxe/undionly.kpxe", (ack, log)
    # Not in the spec: the router leases an address, the master stays silent.
    assert {socket_id(o) for o in stranger} == {ns.addresses[2]}, log


def socket_id(offer: dict[str, Any]) -> str:
    """The DHCP server identifier (option 54) of an offer."""
    return ".".join(str(b) for b in _opt(offer, 54))

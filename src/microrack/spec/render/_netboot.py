"""Network boot: the dnsmasq TFTP/PXE stanzas, the TFTP tree and each node's kernel arguments.

The TFTP root on the boot server holds one copy of each boot image's files under
``images/<image>/``; every node gets only what differs (its ``cmdline.txt``, its
``pxelinux.cfg`` entry or its iPXE script), and ``link-tree.sh`` links the shared files
into each Raspberry Pi's serial-number directory, so identical nodes share one copy.

Layout under the TFTP root::

    images/<image>/...            the image's boot files (copied in by the operator)
    <serial>/cmdline.txt          per Raspberry Pi; the other files are links to images/
    bootcode.bin                  link, when a Pi without network boot in ROM is present
    pxelinux.cfg/01-<mac>         per U-Boot board
    ipxe/boot.ipxe                for x86 PXE: chains to ipxe/<mac>.ipxe
    ipxe/<mac>.ipxe               per x86 node (Linux or Talos)
    ipxe/undionly.kpxe, ipxe.efi  iPXE itself (Debian's ipxe package)
"""

from __future__ import annotations

import shlex

from microrack.spec._boot import RPI_EEPROM_NETBOOT, address_on, netbooted, nfs_server, root_path
from microrack.spec._model import ClusterSpec, NetBoot, Node
from microrack.spec.render._text import HEADER

__all__ = ["dnsmasq_netboot", "kernel_args", "netboot_files"]

#: Raspberry Pi boards whose EEPROM boot loader netboots (the rest use the older boot code).
RPI_4_AND_LATER = frozenset({"rpi-4b", "rpi-5", "rpi-cm4", "rpi-cm5"})

#: dnsmasq tags set from the MAC of each netbooted node, by firmware.
TAG = {"rpi": "mr-rpi", "bios": "mr-bios", "uefi": "mr-uefi", "uboot": "mr-uboot"}
RPI_ROM_TAG = "mr-rpi-rom"  # Pi 2/3: their boot code wants the menu text padded (below)
NETBOOT_TAG = "mr-netboot"  # every netbooted node (proxy-DHCP answers no one else)
IPXE_TAG = "mr-ipxe"  # every x86 netbooted node
IPXE_CLIENT = "mr-ipxe-client"  # the request comes from iPXE itself (it sends option 175)


def _hyphen_mac(mac: str) -> str:
    return mac.replace(":", "-")


def kernel_files(nb: NetBoot) -> tuple[str, str]:
    """Kernel and initramfs file names inside the image directory."""
    if nb.os == "talos":
        return nb.kernel or f"vmlinuz-{nb.arch}", nb.initrd or f"initramfs-{nb.arch}.xz"
    return nb.kernel or "vmlinuz", nb.initrd or "initrd.img"


def kernel_args(spec: ClusterSpec, node: Node) -> list[str]:
    """The kernel command line of a netbooted node: its root over NFS or iSCSI, or Talos."""
    nb = node.netboot
    if nb is None:
        return []
    if nb.os == "talos":
        args = ["talos.platform=metal", "console=tty0", "init_on_alloc=1", "slab_nomerge"]
        if nb.arch == "amd64":
            args.append("pti=on")
        base = (spec.netboot.http_url or "").rstrip("/")
        args.append(f"talos.config={base}/talos/{node.name}.yaml")
        return args + list(nb.cmdline)
    args = []
    if nb.firmware == "rpi":
        args += ["console=serial0,115200", "console=tty1"]
    mode = "ro" if nb.root_readonly else "rw"
    if nb.root == "iscsi" and nb.iscsi is not None:
        t = nb.iscsi
        initiator = t.target.split(":", 1)[0] + f":{node.name}"
        args += [
            "ip=dhcp",
            f"netroot=iscsi:{t.portal}::{t.port}:{t.lun}:{t.target}",
            f"rd.iscsi.initiator={initiator}",
        ]
        if not any(a.startswith("root=") for a in nb.cmdline):
            args.append("root=LABEL=rootfs")
        args += [mode, "rootwait"]
    else:
        server = nfs_server(spec)
        addr = address_on(server, node.primary.network) if server else "0.0.0.0"
        args += [
            "root=/dev/nfs",
            f"nfsroot={addr}:{root_path(spec, node)},vers=4.1,proto=tcp",
            "ip=dhcp",
            mode,
            "rootwait",
        ]
    return args + list(nb.cmdline)


def dnsmasq_netboot(spec: ClusterSpec) -> list[str]:
    """The TFTP and PXE lines of dnsmasq.conf; empty when no node boots from the network."""
    nodes = netbooted(spec)
    if not nodes:
        return []
    proxy = spec.netboot.dhcp == "proxy"
    lines = [
        "# network boot: TFTP, and boot answers only to the MACs of netbooted nodes",
        "enable-tftp",
        f"tftp-root={spec.netboot.tftp_root}",
    ]
    if proxy:
        # Only netbooted nodes get an answer; the router answers everyone else.
        lines.append(f"dhcp-ignore=tag:!{NETBOOT_TAG}")
    for node, nb in nodes:
        if proxy:
            lines.append(f"dhcp-mac=set:{NETBOOT_TAG},{node.mac}")
        what = f"serial {node.serial}" if nb.firmware == "rpi" else nb.os
        lines.append(f"# {node.name}: {nb.firmware} firmware, {what}")
        tag = TAG[nb.firmware]
        if nb.firmware == "rpi" and node.board not in RPI_4_AND_LATER:
            tag = RPI_ROM_TAG
        lines.append(f"dhcp-mac=set:{tag},{node.mac}")
        if nb.firmware in ("bios", "uefi"):
            lines.append(f"dhcp-mac=set:{IPXE_TAG},{node.mac}")
    used = {nb.firmware for _, nb in nodes}
    pis = {n.board in RPI_4_AND_LATER for n, nb in nodes if nb.firmware == "rpi"}
    if pis:
        lines += [
            "# Raspberry Pi boot loader: it needs option 43 naming 'Raspberry Pi Boot', then",
            "# asks TFTP for <serial>/start4.elf (Pi 4), <serial>/config.txt (Pi 5), or",
            "# bootcode.bin and then <serial>/start.elf (Pi 2/3)",
        ]
    if True in pis:
        lines.append(f'pxe-service=tag:{TAG["rpi"]},0,"Raspberry Pi Boot"')
    if False in pis:
        # The Pi 3 boot ROM only accepts the menu text with three trailing spaces.
        lines.append(f'pxe-service=tag:{RPI_ROM_TAG},0,"Raspberry Pi Boot   "')
    if used & {"bios", "uefi"}:
        lines.append(f"dhcp-match=set:{IPXE_CLIENT},175")
        lines.append("# x86 PXE loads iPXE; iPXE (option 175) loads ipxe/boot.ipxe")
        if proxy:
            if "bios" in used:
                lines.append(
                    f"pxe-service=tag:{TAG['bios']},tag:!{IPXE_CLIENT},x86PC,"
                    '"microrack iPXE",ipxe/undionly.kpxe'
                )
            if "uefi" in used:
                lines.append(
                    f"pxe-service=tag:{TAG['uefi']},tag:!{IPXE_CLIENT},x86-64_EFI,"
                    '"microrack iPXE",ipxe/ipxe.efi'
                )
            for csa in ("x86PC", "x86-64_EFI"):
                lines.append(
                    f'pxe-service=tag:{IPXE_TAG},tag:{IPXE_CLIENT},{csa},"microrack",ipxe/boot.ipxe'
                )
        else:
            if "bios" in used:
                lines.append(f"dhcp-boot=tag:{TAG['bios']},tag:!{IPXE_CLIENT},ipxe/undionly.kpxe")
            if "uefi" in used:
                lines.append(f"dhcp-boot=tag:{TAG['uefi']},tag:!{IPXE_CLIENT},ipxe/ipxe.efi")
            lines.append(f"dhcp-boot=tag:{IPXE_TAG},tag:{IPXE_CLIENT},ipxe/boot.ipxe")
    if "uboot" in used:
        lines += [
            "# U-Boot's 'pxe get' asks for pxelinux.cfg/01-<mac> in the directory of the boot",
            "# file name (here the TFTP root); distro boot sets autoload=no, so the name is",
            "# never fetched itself",
            f"dhcp-boot=tag:{TAG['uboot']},pxelinux.0",
        ]
    return [*lines, ""]


def _pxelinux(spec: ClusterSpec, node: Node, nb: NetBoot) -> str:
    kernel, initrd = kernel_files(nb)
    img = f"images/{nb.image}"
    return (
        HEADER.format(name=spec.cluster.name)
        + f"# U-Boot pxelinux entry of {node.name} ({node.mac})\n"
        + "DEFAULT microrack\n"
        + "LABEL microrack\n"
        + f"  KERNEL {img}/{kernel}\n"
        + f"  INITRD {img}/{initrd}\n"
        + f"  FDTDIR {img}/dtbs\n"
        + f"  APPEND {' '.join(kernel_args(spec, node))}\n"
    )


def _ipxe(spec: ClusterSpec, node: Node, nb: NetBoot) -> str:
    kernel, initrd = kernel_files(nb)
    img = f"../images/{nb.image}"  # relative to this script's own tftp:// URI
    return (
        "#!ipxe\n"
        + HEADER.format(name=spec.cluster.name)
        + f"# {node.name} ({node.mac}): {nb.os} over {nb.firmware}\n"
        + f"kernel {img}/{kernel} initrd={initrd} {' '.join(kernel_args(spec, node))}\n"
        + f"initrd {img}/{initrd}\n"
        + "boot\n"
    )


_BOOT_IPXE = """#!ipxe
# Each x86 node's own script is named after its MAC.
chain ${mac:hexhyp}.ipxe || shell
"""


def _link_script(spec: ClusterSpec, pis: list[tuple[Node, NetBoot]]) -> str:
    """A POSIX shell script that installs the rendered files and links the shared ones."""
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        HEADER.format(name=spec.cluster.name).rstrip("\n"),
        "# Lays out the TFTP root of the boot server: copies the per-node files rendered",
        "# beside this script and links each Raspberry Pi's serial directory to its shared",
        "# image (images/<image>/ holds one copy of the boot partition's files).",
        "#   sh link-tree.sh [TFTP_ROOT]",
        "set -eu",
        f"root=${{1:-{q(spec.netboot.tftp_root)}}}",
        'here=$(cd "$(dirname "$0")" && pwd)',
        'mkdir -p "$root"',
        'cp -R "$here/tftp/." "$root/"',
        "link_image() {  # link_image IMAGE SERIAL",
        '  src="$root/images/$1"',
        '  [ -d "$src" ] || { echo "link-tree.sh: $src is missing (copy the image\'s boot files'
        ' there)" >&2; exit 1; }',
        '  mkdir -p "$root/$2"',
        '  for f in "$src"/* "$src"/.[!.]*; do',
        '    [ -e "$f" ] || continue',
        '    name=$(basename "$f")',
        '    [ "$name" = cmdline.txt ] && continue',
        '    ln -sfn "../images/$1/$name" "$root/$2/$name"',
        "  done",
        "}",
    ]
    old_pi = None
    for node, nb in pis:
        lines.append(f"link_image {q(nb.image)} {q(node.serial or '')}  # {node.name}")
        if node.board not in RPI_EEPROM_NETBOOT and old_pi is None:
            old_pi = nb.image
    if old_pi is not None:
        # The Pi 2/3 boot code asks for bootcode.bin at the TFTP root, before its serial dir.
        lines.append(f'ln -sfn "images/{old_pi}/bootcode.bin" "$root/bootcode.bin"')
    return "\n".join(lines) + "\n"


def netboot_files(spec: ClusterSpec) -> dict[str, str]:
    """Every TFTP file that differs per node, and the script that lays out the tree."""
    nodes = netbooted(spec)
    if not nodes:
        return {}
    files: dict[str, str] = {}
    pis = [(n, nb) for n, nb in nodes if nb.firmware == "rpi"]
    for node, nb in nodes:
        if nb.firmware == "rpi":
            files[f"netboot/tftp/{node.serial}/cmdline.txt"] = (
                " ".join(kernel_args(spec, node)) + "\n"
            )
        elif nb.firmware == "uboot":
            files[f"netboot/tftp/pxelinux.cfg/01-{_hyphen_mac(node.mac)}"] = _pxelinux(
                spec, node, nb
            )
        else:
            files[f"netboot/tftp/ipxe/{_hyphen_mac(node.mac)}.ipxe"] = _ipxe(spec, node, nb)
            files["netboot/tftp/ipxe/boot.ipxe"] = _BOOT_IPXE
    files["netboot/link-tree.sh"] = _link_script(spec, pis)
    return files

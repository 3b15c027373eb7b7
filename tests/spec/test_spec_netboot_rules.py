"""Network boot, NFS and first-boot fields: their checks, the rendered layout, and what
``spec describe`` and the tolerance summary say about boot dependencies."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import spec_cases
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from spec_cases import write

from microrack.spec import SpecInvalid, check_spec, load_spec, parse_spec
from microrack.spec._describe import summary
from microrack.spec.render import render
from support import microrack_cmd

PI2 = spec_cases.EXAMPLES / "cluster-pi2-5.yaml"


def pi2() -> dict[str, Any]:
    return yaml.safe_load(PI2.read_text())


def problems(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    path = write(tmp_path, data)
    try:
        found = check_spec(parse_spec(path))
    except SpecInvalid as exc:
        found = exc.problems
    return [f"{p.severity}: {p.field}: {p.message}" for p in found]


def errors(tmp_path: Path, data: dict[str, Any]) -> list[str]:
    return [p for p in problems(tmp_path, data) if p.startswith("error")]


# --- the example ------------------------------------------------------------------------


def test_pi2_example_workers_differ_only_in_name_mac_serial_and_address() -> None:
    data = pi2()
    workers = data["nodes"][1:]
    assert len(workers) == 4

    def strip(node: dict[str, Any]) -> dict[str, Any]:
        n = json.loads(json.dumps(node))
        for key in ("name", "serial"):
            n.pop(key)
        for nic in n["nics"]:
            nic.pop("mac")
            nic.pop("address")
        return n

    assert all(strip(w) == strip(workers[0]) for w in workers)
    assert all(w["boot"] == "net" for w in workers)


def test_pi2_example_renders_a_netbooted_cluster(tmp_path: Path) -> None:
    spec = load_spec(PI2)
    files = render(spec)
    serials = [n.serial for n in spec.nodes[1:]]
    cmdlines = [files[f"netboot/tftp/{s}/cmdline.txt"].decode() for s in serials]
    # One line each, the same but for the node's own root.
    for i, line in enumerate(cmdlines, start=1):
        assert line.count("\n") == 1
        assert line == cmdlines[0].replace("node-1", f"node-{i}")
        assert f"nfsroot=198.18.2.10:/srv/nfsroot/node-{i},vers=4.1,proto=tcp" in line
    conf = files["dnsmasq.conf"].decode()
    assert "enable-tftp\ntftp-root=/srv/tftp\n" in conf
    for n in spec.nodes[1:]:
        assert f"dhcp-mac=set:mr-rpi-rom,{n.mac}" in conf
        assert f"dhcp-host={n.mac},{n.address},{n.name}" in conf
    assert spec.nodes[0].mac not in [line.split(",")[-1] for line in conf.splitlines()
                                     if line.startswith("dhcp-mac=")]  # fmt: skip
    # The Pi 2 boot code wants the padded menu text; the Pi 4 EEPROM the plain one.
    assert 'pxe-service=tag:mr-rpi-rom,0,"Raspberry Pi Boot   "' in conf
    script = files["netboot/link-tree.sh"].decode()
    assert [line for line in script.splitlines() if line.startswith("link_image ")] == [
        f"link_image default {s}  # node-{i}" for i, s in enumerate(serials, start=1)
    ]
    assert 'ln -sfn "images/default/bootcode.bin" "$root/bootcode.bin"' in script
    # The master boots from its SD card: a seed; the workers boot from the network: none.
    assert "cloud-init/master/user-data" in files
    assert not [p for p in files if p.startswith("cloud-init/node-")]
    for i in range(1, 5):
        assert f"systemd/node-{i}/srv-jobs.mount" in files
    assert "systemd/master/srv-jobs.mount" not in files


def test_link_tree_script_is_valid_posix_sh(tmp_path: Path) -> None:
    script = tmp_path / "link-tree.sh"
    script.write_bytes(render(load_spec(PI2))["netboot/link-tree.sh"])
    r = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_link_tree_refuses_a_missing_image(tmp_path: Path) -> None:
    out = tmp_path / "out"
    from microrack.spec.render import render_to

    render_to(load_spec(PI2), out)
    r = subprocess.run(
        ["sh", str(out / "netboot" / "link-tree.sh"), str(tmp_path / "tftp")],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 1 and "images/default is missing" in r.stderr


def test_link_tree_links_directories_and_runs_twice(tmp_path: Path) -> None:
    from microrack.spec.render import render_to

    out = tmp_path / "out"
    render_to(load_spec(PI2), out)
    root = tmp_path / "tftp"
    image = root / "images" / "default"
    (image / "overlays").mkdir(parents=True)
    (image / "overlays" / "disable-bt.dtbo").write_bytes(b"dtbo")
    (image / "bootcode.bin").write_bytes(b"bootcode")
    (image / "start.elf").write_bytes(b"start")
    (image / "cmdline.txt").write_bytes(b"root=/dev/mmcblk0p2\n")
    for _ in range(2):
        r = subprocess.run(
            ["sh", str(out / "netboot" / "link-tree.sh"), str(root)], capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
    for serial in ("5a2c0e01", "5a2c0e04"):
        d = root / serial
        assert (d / "overlays" / "disable-bt.dtbo").read_bytes() == b"dtbo"
        assert (d / "overlays").is_symlink() and (d / "start.elf").is_symlink()
        assert not (d / "overlays" / "overlays").exists()  # ln -n: no link inside the link
        assert b"nfsroot=" in (d / "cmdline.txt").read_bytes()
    assert (root / "bootcode.bin").read_bytes() == b"bootcode"


def test_examples_without_netboot_render_no_tftp_stanza() -> None:
    for path in spec_cases.examples():
        if path == PI2:
            continue
        files = render(load_spec(path))
        assert "enable-tftp" not in files["dnsmasq.conf"].decode()
        assert not [p for p in files if p.startswith("netboot/")]


# --- x86, U-Boot, Talos, iSCSI -------------------------------------------------------------


def _mixed() -> dict[str, Any]:
    data = pi2()
    data["netboot"]["http_url"] = "http://198.18.2.10:8080"
    w = data["nodes"]
    w[1].update(board="intel-n100-minipc", netboot={"firmware": "uefi", "os": "talos"})
    w[1].pop("serial")
    w[2].update(board="radxa-rock-5b", netboot={"firmware": "uboot", "image": "armbian"})
    w[2].pop("serial")
    w[3].update(
        board="intel-n100-minipc",
        netboot={
            "firmware": "bios",
            "root": "iscsi",
            "iscsi": {"target": "iqn.2026-01.internal.lab:node-3", "portal": "198.18.2.10"},
            "cmdline": ["quiet"],
        },
    )
    w[3].pop("serial")
    return data


def test_x86_uboot_talos_and_iscsi_render(tmp_path: Path) -> None:
    data = _mixed()
    assert errors(tmp_path, data) == []
    spec = load_spec(write(tmp_path, data))
    files = render(spec)
    conf = files["dnsmasq.conf"].decode()
    assert "dhcp-match=set:mr-ipxe-client,175" in conf
    assert "dhcp-boot=tag:mr-bios,tag:!mr-ipxe-client,ipxe/undionly.kpxe" in conf
    assert "dhcp-boot=tag:mr-uefi,tag:!mr-ipxe-client,ipxe/ipxe.efi" in conf
    assert "dhcp-boot=tag:mr-ipxe,tag:mr-ipxe-client,ipxe/boot.ipxe" in conf
    talos = files["netboot/tftp/ipxe/02-6d-72-02-00-02.ipxe"].decode()
    assert talos.startswith("#!ipxe\n")
    assert "kernel ../images/default/vmlinuz-amd64 initrd=initramfs-amd64.xz " in talos
    assert "talos.config=http://198.18.2.10:8080/talos/node-1.yaml" in talos
    assert "initrd ../images/default/initramfs-amd64.xz\nboot\n" in talos
    uboot = files["netboot/tftp/pxelinux.cfg/01-02-6d-72-02-00-03"].decode()
    assert "  KERNEL images/armbian/vmlinuz\n" in uboot
    assert "nfsroot=198.18.2.10:/srv/nfsroot/node-2," in uboot
    iscsi = files["netboot/tftp/ipxe/02-6d-72-02-00-04.ipxe"].decode()
    assert "netroot=iscsi:198.18.2.10::3260:0:iqn.2026-01.internal.lab:node-3" in iscsi
    assert "rd.iscsi.initiator=iqn.2026-01.internal.lab:node-3 root=LABEL=rootfs" in iscsi
    assert iscsi.split("\n")[3].endswith(" quiet")
    exports = files["nfs/master/exports"].decode()
    # Talos runs from RAM and node-3 roots on iSCSI: only node-2 and node-4 get NFS roots.
    assert "/srv/nfsroot/node-2 198.18.2.12(rw," in exports
    assert "/srv/nfsroot/node-1" not in exports and "/srv/nfsroot/node-3" not in exports
    by_node = {n["name"]: n for n in summary(spec)["nodes"]}  # type: ignore[attr-defined]
    assert [(d["service"], d["node"]) for d in by_node["node-1"]["boot_needs"]] == [
        ("dhcp", "master"),
        ("tftp", "master"),
        ("http", "master"),
    ]
    assert ("iscsi-root", "master") in [
        (d["service"], d["node"]) for d in by_node["node-3"]["boot_needs"]
    ]


def test_proxy_mode_renders_no_leases(tmp_path: Path) -> None:
    data = _mixed()
    data["nodes"][2].update(board="rpi-4b", serial="5a2c0e03", netboot={"firmware": "rpi"})
    data["netboot"]["dhcp"] = "proxy"
    assert errors(tmp_path, data) == []
    spec = load_spec(write(tmp_path, data))
    conf = render(spec)["dnsmasq.conf"].decode()
    assert "dhcp-range=set:lan,198.18.2.0,proxy,255.255.255.0" in conf
    assert "dhcp-host=" not in conf and "dhcp-authoritative" not in conf
    assert "dhcp-ignore=tag:!mr-netboot" in conf
    assert "#   02:6d:72:02:00:01 198.18.2.10 master" in conf  # what the router must reserve
    assert 'pxe-service=tag:mr-rpi,0,"Raspberry Pi Boot"' in conf
    assert 'pxe-service=tag:mr-bios,tag:!mr-ipxe-client,x86PC,"microrack iPXE",ipxe/undionly.kpxe'
    for n in spec.nodes[1:]:
        assert f"dhcp-mac=set:mr-netboot,{n.mac}" in conf
    needs = summary(spec)["nodes"][1]["boot_needs"]  # type: ignore[index]
    assert needs[0] == {"service": "dhcp", "node": "router", "hard": True}
    assert needs[1] == {"service": "proxy-dhcp", "node": "master", "hard": True}


def test_dnsmasq_test_accepts_mixed_and_proxy(tmp_path: Path) -> None:
    from support import require_binary

    dnsmasq = require_binary("dnsmasq", "/usr/sbin/dnsmasq")
    for mode in ("full", "proxy"):
        data = _mixed()
        if mode == "proxy":
            data["nodes"][2].update(board="rpi-4b", serial="5a2c0e03", netboot={"firmware": "rpi"})
        data["netboot"]["dhcp"] = mode
        conf = tmp_path / f"{mode}.conf"
        conf.write_bytes(render(load_spec(write(tmp_path, data)))["dnsmasq.conf"])
        r = subprocess.run([dnsmasq, "--test", "-C", str(conf)], capture_output=True, text=True)
        assert r.returncode == 0 and "syntax check OK" in r.stderr, r.stderr


# --- the rules --------------------------------------------------------------------------

Edit = Callable[[dict[str, Any]], None]


def _node(i: int, **fields: Any) -> Edit:
    def apply(d: dict[str, Any]) -> None:
        d["nodes"][i].update(fields)

    return apply


def _pop(i: int, key: str) -> Edit:
    return lambda d: d["nodes"][i].pop(key)


def _roles(i: int, roles: list[str]) -> Edit:
    return _node(i, roles=roles)


CASES: list[tuple[str, Edit, str]] = [
    (
        "export-unknown-option",
        lambda d: d["services"]["nfs"]["exports"][0].update(options="rw,turbo"),
        "'turbo' is not an NFS export option",
    ),
    (
        "export-empty-value",
        lambda d: d["services"]["nfs"]["exports"][0].update(options="rw,fsid="),
        "'fsid=' is not an NFS export option",
    ),
    ("user-root", lambda d: d["first_boot"].update(user="root"), "cannot be root"),
    ("double-slash", lambda d: d["netboot"].update(tftp_root="/srv//tftp"), "contains '//'"),
    (
        "export-path",
        lambda d: d["services"]["nfs"]["exports"][0].update(path="/srv/my jobs"),
        "is not an absolute path without spaces",
    ),
    (
        "serial-format",
        _node(1, serial="5a2c0e0"),
        "nodes[1].serial: '5a2c0e0' is not a board serial",
    ),
    (
        "serial-number",
        _node(1, serial=12345678),
        "was read as a number: write the serial in quotes",
    ),
    ("serial-dup", _node(2, serial="5a2c0e01"), "nodes[2].serial: duplicate serial 5a2c0e01"),
    ("serial-missing", _pop(1, "serial"), "nodes[1].serial: node node-1: a Raspberry Pi loads"),
    ("no-netboot", _pop(1, "netboot"), "nodes[1].netboot: node node-1: boot is 'net' but"),
    ("netboot-not-net", _node(1, boot="sd"), "nodes[1].netboot: node node-1: netboot is set"),
    (
        "rpi-on-x86",
        _node(1, board="intel-n100-minipc"),
        "board intel-n100-minipc is not a Raspberry Pi",
    ),
    ("rpi-talos", _node(1, netboot={"firmware": "rpi", "os": "talos"}), "does not load Talos"),
    (
        "talos-no-url",
        _node(1, board="intel-n100-minipc", netboot={"firmware": "bios", "os": "talos"}),
        "netboot.http_url: node node-1 boots Talos",
    ),
    (
        "server-netboots",
        _node(0, boot="net", serial="5a2c0e09", netboot={"firmware": "rpi"}),
        "node master is the boot server: it cannot netboot itself",
    ),
    ("no-dhcp", _roles(0, ["control-plane", "nfs-server"]), "no node has the dhcp-dns role"),
    (
        "no-nfs",
        _roles(0, ["control-plane", "dhcp-dns"]),
        "has an NFS root but no node has the nfs-server",
    ),
    (
        "shared-root",
        _node(2, netboot={"firmware": "rpi", "root_path": "/srv/nfsroot/node-1"}),
        "nodes[2].netboot: nodes node-1, node-2 share one root",
    ),
    (
        "root-is-export",
        _node(1, netboot={"firmware": "rpi", "root_path": "/srv/jobs"}),
        "root /srv/jobs is also a services.nfs export",
    ),
    (
        "iscsi-missing",
        _node(1, netboot={"firmware": "rpi", "root": "iscsi"}),
        "root iscsi needs iscsi.target",
    ),
    (
        "iqn",
        _node(
            1,
            netboot={
                "firmware": "rpi",
                "root": "iscsi",
                "iscsi": {"target": "node1", "portal": "198.18.2.10"},
            },
        ),
        "is not an iSCSI name",
    ),
    (
        "root-path",
        _node(1, netboot={"firmware": "rpi", "root_path": "/srv/../etc"}),
        "contains '.' or '..'",
    ),
    (
        "karg",
        _node(1, netboot={"firmware": "rpi", "cmdline": ["a b"]}),
        "is not one kernel argument",
    ),
    (
        "uboot-proxy",
        lambda d: (
            d["netboot"].update(dhcp="proxy"),
            d["nodes"][1].update(board="radxa-rock-5b", netboot={"firmware": "uboot"}),
        ),
        "U-Boot does not take boot options from a proxy-DHCP",
    ),
    (
        "ssh-key",
        lambda d: d["first_boot"].update(ssh_authorized_keys=["not a key"]),
        "is not an OpenSSH public key",
    ),
    ("agent-url", lambda d: d["first_boot"].update(agent_url="ftp://x/y"), "first_boot.agent_url"),
    (
        "package",
        lambda d: d["first_boot"].update(packages=["curl; rm -rf /"]),
        "is not a Debian package name",
    ),
    (
        "export-kind",
        lambda d: (
            d["networks"].append({"name": "pods", "kind": "pod", "cidr": "198.19.0.0/16"}),
            d["services"]["nfs"]["exports"].append({"path": "/srv/x", "network": "pods"}),
        ),
        "clients must be on a wired network; pods is a pod range",
    ),
    (
        "export-dup",
        lambda d: d["services"]["nfs"]["exports"].append({"path": "/srv/jobs", "network": "lan"}),
        "/srv/jobs is exported to lan twice",
    ),
    (
        "mount-on-unknown",
        lambda d: d["services"]["nfs"]["exports"][0].update(mount_on=["ghost"]),
        "services.nfs.exports[0].mount_on[0]: no node 'ghost'",
    ),
    (
        "mount-twice",
        lambda d: d["services"]["nfs"]["exports"].append(
            {"path": "/srv/other", "network": "lan", "mount": "/srv/jobs"}
        ),
        "mounts two exports at /srv/jobs",
    ),
    (
        "mount-on-no-mount",
        lambda d: d["services"]["nfs"]["exports"].append(
            {"path": "/srv/other", "network": "lan", "mount_on": ["node-1"]}
        ),
        "mount_on is set but mount (where) is not",
    ),
    (
        "export-options",
        lambda d: d["services"]["nfs"]["exports"][0].update(options="rw sync"),
        "services.nfs.exports[0].options",
    ),
]


@pytest.mark.parametrize(("edit", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(tmp_path: Path, edit: Edit, expected: str) -> None:
    data = pi2()
    edit(data)
    found = errors(tmp_path, data)
    assert any(expected in p for p in found), found


def test_pi2_has_only_its_known_warnings(tmp_path: Path) -> None:
    assert errors(tmp_path, pi2()) == []


def test_shared_read_only_root_is_allowed(tmp_path: Path) -> None:
    data = pi2()
    for n in data["nodes"][1:]:
        n["netboot"] = {"firmware": "rpi", "root_path": "/srv/nfsroot/ro", "root_readonly": True}
    assert errors(tmp_path, data) == []
    data["nodes"][4]["netboot"]["root_readonly"] = False
    (err,) = [e for e in errors(tmp_path, data) if "share one root" in e][:1]
    assert "node-4 would write to it" in err


def test_pi2_without_an_sd_card_is_warned(tmp_path: Path) -> None:
    data = pi2()
    data["nodes"][1]["drives"] = []
    assert any("needs an SD card holding bootcode.bin" in p for p in problems(tmp_path, data))
    data["nodes"][1]["board"] = "rpi-4b"  # the Pi 4 EEPROM netboots by itself
    assert not any("bootcode.bin" in p for p in problems(tmp_path, data))


def test_boot_server_must_share_the_network(tmp_path: Path) -> None:
    data = pi2()
    data["networks"].append({"name": "far", "kind": "infrastructure", "cidr": "198.18.3.0/24"})
    data["nodes"][1]["nics"][0].update(network="far", address="198.18.3.11")
    found = errors(tmp_path, data)
    assert any("DHCP and PXE do not cross routers" in e for e in found), found


@settings(max_examples=60, deadline=None)
@given(st.text(min_size=1, max_size=12))
def test_serial_accepts_exactly_eight_hex_digits(text: str) -> None:
    from pydantic import ValidationError

    from microrack.spec._model import Node

    node = {
        "name": "n",
        "board": "rpi-4b",
        "ram_gb": 1,
        "nics": [{"name": "eth0", "mac": "02:00:00:00:00:01", "network": "lan",
                  "address": "198.18.0.2"}],
    }  # fmt: skip
    stripped = text.strip().lower()
    stripped = stripped[2:] if stripped.startswith("0x") else stripped
    ok = len(stripped) == 8 and all(c in "0123456789abcdef" for c in stripped)
    try:
        got = Node.model_validate({**node, "serial": text}).serial
    except ValidationError:
        assert not ok
    else:
        assert ok and got == stripped


# --- describe and tolerance -----------------------------------------------------------------


def test_describe_json_names_boot_dependencies() -> None:
    r = subprocess.run(
        microrack_cmd("spec", "describe", str(PI2), "--json"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    nodes = {n["name"]: n for n in data["nodes"]}
    assert nodes["master"]["boot"] == "sd" and nodes["master"]["boot_needs"] == []
    assert nodes["node-2"]["boot"] == "net" and nodes["node-2"]["serial"] == "5a2c0e02"
    assert {d["service"] for d in nodes["node-2"]["boot_needs"]} == {"dhcp", "tftp", "nfs-root"}
    assert data["cannot_boot_without"] == {"master": ["node-1", "node-2", "node-3", "node-4"]}
    (netboot,) = [g for g in data["groups"] if g["name"] == "netboot"]
    assert netboot["tolerates"] == 0 and netboot["broken_by_one"] == [["master"]]
    assert netboot["survives_any_one"] is False


def test_describe_table_says_who_cannot_boot() -> None:
    r = subprocess.run(
        microrack_cmd("spec", "describe", str(PI2)),
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "COLUMNS": "220"},
    )
    assert r.returncode == 0, r.stderr
    assert "master down: node-1, node-2, node-3, node-4 cannot boot" in r.stdout
    assert "net (rpi): needs dhcp+tftp+nfs-root from master" in r.stdout


def test_boot_tolerance_is_apart_from_role_groups() -> None:
    """tolerance() keys stay role groups (the simulator maps them to roles)."""
    from microrack.spec import tolerance
    from microrack.spec._tolerance import boot_tolerance

    spec = load_spec(PI2)
    assert "netboot" not in tolerance(spec)
    assert boot_tolerance(spec) == {"netboot": 0}
    assert boot_tolerance(load_spec(spec_cases.EXAMPLES / "cluster-pi4-13.yaml")) == {}


def test_simulator_runs_on_the_netbooted_example(tmp_path: Path) -> None:
    from microrack.sim._scenario import _Cluster

    cluster = _Cluster(load_spec(PI2))
    assert set(cluster.groups) == {"control-plane", "nfs"}


def test_losing_a_netbooted_node_leaves_the_others_bootable() -> None:
    from microrack.spec import failure_scenarios

    spec = load_spec(PI2)
    by_lost = {sc.lost: sc for sc in failure_scenarios(spec, 1)}
    ok = {o.name: o.ok for o in by_lost["node-2",].outcomes}
    assert ok["netboot"] is True
    (out,) = [o for o in by_lost["master",].outcomes if o.name == "netboot"]
    assert not out.ok and "cannot boot: node-1, node-2, node-3, node-4" in out.detail


@settings(max_examples=15, deadline=None)
@given(
    count=st.integers(min_value=1, max_value=12),
    serials=st.lists(st.integers(min_value=0, max_value=2**32 - 1), min_size=12, max_size=12,
                     unique=True),
    proxy=st.booleans(),
)  # fmt: skip
def test_identical_pis_render_one_tree(count: int, serials: list[int], proxy: bool) -> None:
    """Any number of identical netbooted Pis: one serial directory, one root and one
    dnsmasq tag each, and dnsmasq accepts the file."""
    import tempfile

    from support import require_binary

    dnsmasq = require_binary("dnsmasq", "/usr/sbin/dnsmasq")
    data = pi2()
    template = data["nodes"][1]
    data["nodes"] = data["nodes"][:1]
    data["netboot"]["dhcp"] = "proxy" if proxy else "full"
    for i in range(count):
        node = json.loads(json.dumps(template))
        node.update(name=f"w{i}", serial=f"{serials[i]:08x}")
        node["nics"][0].update(mac=f"02:6d:72:02:01:{i:02x}", address=f"198.18.2.{20 + i}")
        data["nodes"].append(node)
    with tempfile.TemporaryDirectory() as tmp:
        spec = load_spec(write(Path(tmp), data))
        files = render(spec)
        conf = Path(tmp) / "dnsmasq.conf"
        conf.write_bytes(files["dnsmasq.conf"])
        r = subprocess.run([dnsmasq, "--test", "-C", str(conf)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    text = files["dnsmasq.conf"].decode()
    assert text.count("dhcp-mac=set:mr-rpi-rom,") == count
    assert text.count("dhcp-mac=set:mr-netboot,") == (count if proxy else 0)
    cmdlines = sorted(p for p in files if p.endswith("/cmdline.txt"))
    assert cmdlines == sorted(f"netboot/tftp/{s:08x}/cmdline.txt" for s in serials[:count])
    exports = files["nfs/master/exports"].decode()
    assert sum(line.startswith("/srv/nfsroot/") for line in exports.splitlines()) == count
    script = files["netboot/link-tree.sh"].decode()
    assert sum(line.startswith("link_image ") for line in script.splitlines()) == count


def test_validate_cli_names_the_netboot_field(tmp_path: Path) -> None:
    data = pi2()
    data["nodes"][3]["serial"] = "not-hex!"
    r = subprocess.run(
        microrack_cmd("spec", "validate", str(write(tmp_path, data))),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert "nodes[3].serial: 'not-hex!' is not a board serial number" in r.stdout + r.stderr

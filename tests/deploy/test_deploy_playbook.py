"""A real deployment: three booted Debian "boards" (systemd in systemd-nspawn), each in its
own network namespace with its own sshd on its own address; the rendered playbook deploys
the single-file agent to two and a venv (offline, from a wheelhouse) to the third with
ansible-playbook over SSH, and the hub pulls them."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dnsmasq_client import CLIENT
from pyz import CACHE, REPO, build_pyz

from support import (
    ARTIFACTS,
    NetNS,
    free_port,
    microrack_cmd,
    missing,
    require_root,
    started,
    wait_for_port,
)

pytestmark = [pytest.mark.timeout(5400), pytest.mark.integration, pytest.mark.netns]

SUBNET = 151  # 198.18.151.0/24
BOARD_PACKAGES = (
    "python3,python3-apt,python3-venv,dnsmasq,"
    "systemd,systemd-sysv,dbus,openssh-server,sudo,iproute2"
)
#: The board that takes the venv path: a wheel the test builds, installed offline.
VENV_BOARD = "board3"
VENV_BIN = Path(sys.executable).parent


def _board_root() -> Path:
    r = subprocess.run(
        ["bash", str(REPO / "scripts/rootfs.sh"), "amd64"],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=3600,
        env={**os.environ, "MICRORACK_ROOTFS_PACKAGES": BOARD_PACKAGES},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    return Path(r.stdout.strip().splitlines()[-1])


#: A second NIC of board2 that no board has: the DHCP client asks with its MAC.
RESERVED_MAC = "02:00:c6:12:97:12"
RESERVED_ADDRESS = f"198.18.{SUBNET}.50"


def _cluster(addresses: list[str]) -> dict[str, object]:
    net = f"198.18.{SUBNET}"
    nodes: list[dict[str, object]] = [
        {
            "name": f"board{i + 1}",
            "board": "pi4b",
            "ram_gb": 4,
            "nics": [
                {
                    "name": "eth0",
                    "mac": f"02:00:c6:12:97:0{i + 1}",
                    "network": "lan",
                    "address": addr,
                }
            ],
            # board1 serves DHCP and DNS for the cluster (dnsmasq, laid down by the playbook).
            "roles": ["dhcp-dns"] if i == 0 else [],
        }
        for i, addr in enumerate(addresses)
    ]
    nodes[1]["nics"].append(  # type: ignore[attr-defined]
        {"name": "eth1", "mac": RESERVED_MAC, "network": "lan", "address": RESERVED_ADDRESS}
    )
    return {
        "cluster": {"name": "boards", "domain": "boards.lab.internal"},
        "networks": [
            {
                "name": "lan",
                "kind": "infrastructure",
                "cidr": f"{net}.0/24",
                "gateway": f"{net}.254",
                "dns": [addresses[0]],
                "dhcp": {"start": f"{net}.100", "end": f"{net}.150", "lease": "1h"},
            }
        ],
        "nodes": nodes,
        "agent": {"interval_s": 1},
    }


@contextlib.contextmanager
def _boards(tmp: Path) -> Iterator[tuple[NetNS, list[str]]]:
    nspawn = shutil.which("systemd-nspawn")
    if nspawn is None:
        missing("program 'systemd-nspawn' (Debian systemd-container)")
    if shutil.which("ssh-keygen") is None:
        missing("program 'ssh-keygen' (Debian openssh-client)")
    root = _board_root()
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp / "key")], check=True
    )
    (tmp / "authorized_keys").write_text((tmp / "key.pub").read_text())
    (tmp / "authorized_keys").chmod(0o600)
    # Three boards and, in the fourth namespace, a bare DHCP/DNS client.
    with NetNS(4, subnet=SUBNET, prefix="i15d") as net, contextlib.ExitStack() as stack:
        # The host's end of the bridge: where ansible-playbook and the hub reach the boards.
        subprocess.run(
            ["ip", "addr", "add", f"198.18.{SUBNET}.254/24", "dev", net.bridge], check=True
        )
        for i, ns in enumerate(net.names[:3]):
            argv = [
                nspawn,
                "--quiet",
                "--keep-unit",
                "--register=no",
                "--volatile=overlay",
                "-D",
                str(root),
                "-M",
                f"{ns}",
                f"--network-namespace-path=/run/netns/{ns}",
                f"--bind-ro={tmp / 'authorized_keys'}:/root/.ssh/authorized_keys",
                # What a board's root has and dnsmasq's DHCP needs (nspawn drops it).
                "--capability=CAP_NET_ADMIN",
                "-b",
            ]
            stack.enter_context(started(argv, ARTIFACTS / f"deploy-board{i + 1}.log"))
        for addr in net.addresses[:3]:
            wait_for_port(addr, 22, timeout=180)
        yield net, net.addresses[:3]


def _playbook(out: Path, tmp: Path) -> tuple[dict[str, dict[str, int]], str]:
    exe = shutil.which("ansible-playbook", path=str(VENV_BIN))
    if exe is None:
        missing("ansible-playbook (PyPI ansible-core)")
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(tmp / "ansible-home"),
        "ANSIBLE_LOCAL_TEMP": str(tmp / "ansible-tmp"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_SSH_ARGS": "-o UserKnownHostsFile=/dev/null -o StrictHostKeyChecking=no "
        "-o ControlMaster=auto -o ControlPersist=60s",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORKS": "3",
    }
    r = subprocess.run(
        [
            exe,
            "-i",
            str(out / "ansible/inventory.yaml"),
            str(out / "ansible/playbook.yaml"),
            "-u",
            "root",
            "--private-key",
            str(tmp / "key"),
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=900,
        env=env,
    )
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-3000:]
    recap = {}
    for m in re.finditer(r"^(\S+)\s+:\s+(.*)$", r.stdout.split("PLAY RECAP")[-1], re.M):
        recap[m.group(1)] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2))}
    return recap, r.stdout


def _venv_path(out: Path) -> None:
    """Make :data:`VENV_BOARD` install microrack into a venv, offline.

    The wheel is built here (``pip wheel --no-deps``, as the docs say); every
    wheel it needs for the board's CPython 3.11 on x86-64 goes to a wheelhouse
    cached in /var/cache/microrack/wheels, which the playbook copies to the board
    and pip installs from with ``--no-index``: the board needs no index.
    """
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # Built from a copy: setuptools leaves build/ and *.egg-info beside the sources.
    tree = out.parent / "wheel-src"
    shutil.copytree(
        REPO / "src", tree / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, tree / name)
    r = subprocess.run(
        [*pip, "wheel", "--no-deps", "-q", "-w", str(out / "dist"), str(tree)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    (wheel,) = (out / "dist").glob("microrack-*.whl")
    house = CACHE / "wheels" / "venv-cp311-x86_64"
    r = subprocess.run(
        [
            *pip,
            "download",
            "-q",
            "--only-binary=:all:",
            "--platform",
            "manylinux2014_x86_64",
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            "--find-links",
            str(house),
            "-d",
            str(house),
            f"{wheel}[config]",
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    host_vars = out / "ansible/host_vars"
    host_vars.mkdir(parents=True, exist_ok=True)
    (host_vars / f"{VENV_BOARD}.yaml").write_text(
        yaml.safe_dump(
            {
                "microrack_install": "venv",
                "microrack_extras": "config",  # the agent's --board reads the catalog
                "microrack_wheelhouse": str(house),
            }
        )
    )


def _check_dnsmasq(net: NetNS, addresses: list[str]) -> None:
    """board1's dnsmasq, as the playbook laid it down: a client on the boards' bridge
    is offered the address cluster.yaml reserves for its MAC, and resolves a board's
    name and address through it."""
    argv = [
        sys.executable,
        "-c",
        CLIENT,
        net.iface(3),
        RESERVED_MAC,
        addresses[0],
        "board3.boards.lab.internal",
        addresses[2],
    ]
    r = subprocess.run(
        net.exec_argv(3, argv),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    got = dict(line.split(" ", 1) for line in r.stdout.splitlines())
    assert got == {
        "yiaddr": RESERVED_ADDRESS,
        "type": "2",  # DHCPOFFER
        "router": f"198.18.{SUBNET}.254",
        "domain": "boards.lab.internal",
        "a": addresses[2],
        "ptr": "board3.boards.lab.internal",
    }, r.stdout


def _ssh(tmp: Path, address: str, *argv: str) -> str:
    r = subprocess.run(
        [
            "ssh",
            "-i",
            str(tmp / "key"),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            f"root@{address}",
            *argv,
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, f"{argv}: {r.stderr}"
    return r.stdout


def _nodes(base: str) -> dict[str, dict[str, object]]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"{base}/api/v1/nodes", timeout=10) as resp:
        return {n["name"]: n for n in json.loads(resp.read())["nodes"]}


def _wait(what: str, fn, timeout: float = 180.0) -> object:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def test_playbook_deploys_to_three_boards(tmp_path: Path) -> None:
    require_root()
    with _boards(tmp_path) as (net, addresses):
        spec = tmp_path / "cluster.yaml"
        spec.write_text(yaml.safe_dump(_cluster(addresses), sort_keys=False))
        out = tmp_path / "site"
        r = subprocess.run(
            microrack_cmd("spec", "render", str(spec), "--out", str(out)),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stderr
        build_pyz(out / "microrack-agent.pyz", "amd64")
        _venv_path(out)

        recap, log = _playbook(out, tmp_path)
        (ARTIFACTS / "deploy-playbook-first.log").write_text(log)
        assert set(recap) == {"board1", "board2", "board3"}, log
        assert all(
            r["failed"] == 0 and r["unreachable"] == 0 and r["changed"] > 0 for r in recap.values()
        ), recap

        # systemd on the board runs the unit as rendered: notify, watchdog armed, active.
        shown = _ssh(
            tmp_path,
            addresses[1],
            "systemctl",
            "show",
            "microrack-agent.service",
            "-p",
            "Type",
            "-p",
            "ActiveState",
            "-p",
            "WatchdogUSec",
            "-p",
            "NRestarts",
        )
        props = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
        assert props["Type"] == "notify" and props["ActiveState"] == "active", props
        assert props["WatchdogUSec"] == "20s" and props["NRestarts"] == "0", props
        assert "(x86_64, Python 3.11" in _ssh(tmp_path, addresses[1], "microrack", "--version")
        # board2 runs the single file, board3 the venv (without an index: pip saw only
        # the wheelhouse), both as /usr/local/bin/microrack.
        assert (
            _ssh(tmp_path, addresses[1], "readlink", "-f", "/usr/local/bin/microrack")
            == "/usr/local/bin/microrack\n"
        )
        venv_bin = _ssh(tmp_path, addresses[2], "readlink", "/usr/local/bin/microrack")
        assert venv_bin == "/opt/microrack/bin/microrack\n"
        # ssh hands the words to the board's shell: quote the programs.
        where = _ssh(
            tmp_path,
            addresses[2],
            "/opt/microrack/bin/python",
            "-c",
            shlex.quote("import microrack, pydantic, yaml; print(microrack.__file__)"),
        )
        assert where.startswith("/opt/microrack/lib/python3.11/site-packages/microrack/"), where
        assert "(x86_64, Python 3.11" in _ssh(tmp_path, addresses[2], "microrack", "--version")
        metrics = _ssh(
            tmp_path,
            addresses[2],
            "python3",
            "-c",
            shlex.quote(
                "import urllib.request as u; print(u.urlopen("
                "'http://127.0.0.1:9101/metrics', timeout=10).read().decode())"
            ),
        )
        assert "node_memory_MemTotal_bytes" in metrics and "node_cpu_seconds_total" in metrics

        _check_dnsmasq(net, addresses)

        port = free_port()
        base = f"http://127.0.0.1:{port}"
        hub = microrack_cmd(
            "hub",
            "--listen",
            f"127.0.0.1:{port}",
            "--db",
            str(tmp_path / "hub.db"),
            "--spec",
            str(spec),
        )
        with started(hub, ARTIFACTS / "deploy-hub.log", wait=("127.0.0.1", port), timeout=60):
            up = _wait(
                "three nodes up",
                lambda: (
                    (n := _nodes(base))
                    and all(n.get(f"board{i}", {}).get("status") == "up" for i in (1, 2, 3))
                    and n
                ),
            )
            assert isinstance(up, dict)
            import json
            import urllib.request

            for name in ("board1", "board2", "board3"):
                q = f"{base}/api/v1/query?metric=node_memory_MemTotal_bytes&node={name}"
                series = _wait(
                    f"{name}'s series",
                    lambda q=q: json.loads(urllib.request.urlopen(q, timeout=10).read())["series"],
                )
                assert series

            # Idempotent: a second run changes nothing.
            again, log2 = _playbook(out, tmp_path)
            (ARTIFACTS / "deploy-playbook-second.log").write_text(log2)
            assert all(r["changed"] == 0 and r["failed"] == 0 for r in again.values()), again

            # Stopping one board's agent turns it down on the hub.
            _ssh(tmp_path, addresses[0], "systemctl", "stop", "microrack-agent.service")
            _wait("board1 down", lambda: _nodes(base)["board1"]["status"] != "up", timeout=120)
            assert _nodes(base)["board2"]["status"] == "up"


def test_the_cache_script_warms_the_boards_tree() -> None:
    """scripts/deploy-cache.sh builds the tree this test boots (same packages, same key)."""
    script = (REPO / "scripts/deploy-cache.sh").read_text()
    (line,) = [x for x in script.splitlines() if x.startswith("BOARD=")]
    assert line.removeprefix("BOARD=") == BOARD_PACKAGES

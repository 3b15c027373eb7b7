"""A real deployment: three booted Debian "boards" (systemd in systemd-nspawn), each in its
own network namespace with its own sshd on its own address; the rendered playbook deploys
the single-file agent to them with ansible-playbook over SSH, and the hub pulls them."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from pyz import REPO, build_pyz

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
BOARD_PACKAGES = "python3,systemd,systemd-sysv,dbus,openssh-server,sudo,iproute2"
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


def _cluster(addresses: list[str]) -> dict[str, object]:
    return {
        "cluster": {"name": "boards", "domain": "boards.lab.internal"},
        "networks": [{"name": "lan", "kind": "infrastructure", "cidr": f"198.18.{SUBNET}.0/24"}],
        "nodes": [
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
                "roles": [],
            }
            for i, addr in enumerate(addresses)
        ],
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
    with NetNS(3, subnet=SUBNET, prefix="i15d") as net, contextlib.ExitStack() as stack:
        # The host's end of the bridge: where ansible-playbook and the hub reach the boards.
        subprocess.run(
            ["ip", "addr", "add", f"198.18.{SUBNET}.254/24", "dev", net.bridge], check=True
        )
        for i, ns in enumerate(net.names):
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
                "-b",
            ]
            stack.enter_context(started(argv, ARTIFACTS / f"deploy-board{i + 1}.log"))
        for addr in net.addresses:
            wait_for_port(addr, 22, timeout=180)
        yield net, net.addresses


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
    with _boards(tmp_path) as (_net, addresses):
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

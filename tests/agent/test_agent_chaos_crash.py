"""crash: a real podman container stopped by a signed fault and started again at its deadline."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from faults.chaos_support import call, poll, write_token
from microrack.sensors import LocalFS
from microrack.sensors.cgroup import detect_layout
from support import free_port, microrack_cmd, missing, require_binary, require_root, started

pytestmark = pytest.mark.integration


def _podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["podman", "--cgroup-manager=cgroupfs"]
    if detect_layout(LocalFS("/")).version == "hybrid":
        argv += ["--runtime", "runc"]  # crun refuses the hybrid layout
    return subprocess.run([*argv, *args], capture_output=True, text=True, check=check, timeout=180)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[str]:
    require_root()
    require_binary("podman")
    busybox = require_binary("busybox", "/bin/busybox")
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin/busybox").write_bytes(Path(busybox).read_bytes())
    (root / "bin/busybox").chmod(0o755)
    for applet in ("sh", "sleep"):
        (root / "bin" / applet).symlink_to("busybox")
    tar = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    image = f"localhost/microrack-chaos-{os.getpid()}:1"
    name = f"microrack-chaos-{os.getpid()}"
    _podman("import", str(tar), image)
    try:
        run = _podman(
            "run",
            "-d",
            "--name",
            name,
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=4096:4096",
            image,
            "/bin/sleep",
            "3600",
            check=False,
        )
        if run.returncode != 0:
            missing(f"podman able to run a container here: {run.stderr.strip()[-300:]}")
        yield name
    finally:
        _podman("rm", "-f", "-t", "0", name, check=False)
        _podman("rmi", "-f", image, check=False)


def _running(name: str) -> bool:
    out = _podman("inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip()
    return out == "true"


def test_crash_stops_a_listed_container_and_starts_it_at_the_deadline(
    container: str, tmp_path: Path
) -> None:
    secret = write_token(tmp_path / "token")
    port = free_port()
    # the agent's podman must find the container the way it was created
    shim = tmp_path / "bin"
    shim.mkdir()
    flags = "--cgroup-manager=cgroupfs"
    if detect_layout(LocalFS("/")).version == "hybrid":
        flags += " --runtime runc"
    podman = subprocess.run(
        ["sh", "-c", "command -v podman"], capture_output=True, text=True, check=True
    ).stdout.strip()
    (shim / "podman").write_text(f'#!/bin/sh\nexec {podman} {flags} "$@"\n')
    (shim / "podman").chmod(0o755)
    env = {**os.environ, "PATH": f"{shim}:{os.environ['PATH']}"}
    argv = microrack_cmd(
        "agent",
        "--listen",
        f"127.0.0.1:{port}",
        "--node",
        "c1",
        "--chaos-token",
        str(tmp_path / "token"),
        "--chaos-allow",
        "crash",
        "--chaos-unit",
        f"podman:{container}",
        "--chaos-state",
        str(tmp_path / "state.json"),
    )
    with started(argv, tmp_path / "agent.log", env=env, wait=("127.0.0.1", port)):
        assert _running(container)
        status, obj = call(
            "127.0.0.1",
            port,
            secret,
            "POST",
            "/api/v1/faults",
            {"id": "c", "kind": "crash", "duration_s": 3, "params": {"target": "podman:other"}},
        )
        assert status == 403 and obj["field"] == "params.target"
        status, fault = call(
            "127.0.0.1",
            port,
            secret,
            "POST",
            "/api/v1/faults",
            {
                "id": "c",
                "kind": "crash",
                "duration_s": 3,
                "params": {"target": f"podman:{container}"},
            },
            timeout=60,
        )
        assert status == 201, fault
        assert fault["commands"][0] == f"podman stop --time 2 {container}"
        assert not _running(container)
        poll(lambda: _running(container), timeout=120, what="container started again")

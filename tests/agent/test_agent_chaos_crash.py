"""crash: a real podman container stopped by a signed fault and started again at its deadline."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.podman_support import busybox_image, podman, run_container
from faults.chaos_support import call, poll, write_token
from microrack.sensors import LocalFS
from microrack.sensors.cgroup import detect_layout
from support import free_port, microrack_cmd, started

pytestmark = pytest.mark.integration


@pytest.fixture
def container(tmp_path: Path) -> Iterator[str]:
    with busybox_image(tmp_path, "microrack-chaos", ("sh", "sleep")) as image:
        name = f"microrack-chaos-{os.getpid()}"
        try:
            run_container(image, name, "/bin/sleep", "3600")
            yield name
        finally:
            podman("rm", "-f", "-t", "0", name, check=False)


def _running(name: str) -> bool:
    out = podman("inspect", "-f", "{{.State.Running}}", name, check=False).stdout.strip()
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

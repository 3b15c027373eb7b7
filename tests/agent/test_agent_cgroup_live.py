"""Real cgroups: the test makes them, runs a CPU burner and a memory allocator inside,
and the agent's figures agree with the kernel's own files."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.podman_support import busybox_image, podman, run_container
from microrack.agent._collectors.cgroup import CgroupCollector, CgroupOptions
from microrack.agent._families import PointSink
from microrack.sensors import LocalFS
from microrack.sensors.cgroup import CgroupLayout, detect_layout
from support import missing, require_root

pytestmark = pytest.mark.integration

BURNER = "import os\nwhile True:\n    os.getpid()\n"
# Touch every page so that the memory is really charged to the cgroup.
ALLOCATOR = (
    "import sys, time\nb = bytearray(96 << 20)\n"
    "for i in range(0, len(b), 4096):\n    b[i] = 1\n"
    "sys.stdout.write('ready\\n'); sys.stdout.flush()\ntime.sleep(600)\n"
)


def _dirs(layout: CgroupLayout, name: str) -> dict[str, Path]:
    """Where the test's cgroup lives in each hierarchy the agent reads."""
    if layout.unified and layout.unified_has_controllers:
        return {"unified": Path(layout.unified) / name}
    out = {}
    for controller in ("cpuacct", "cpu", "memory"):
        mount = layout.v1_mount(controller)
        if mount:
            out[controller] = Path(mount) / name
    return out


@pytest.fixture
def test_cgroup() -> Iterator[tuple[str, dict[str, Path], CgroupLayout]]:
    require_root()
    layout = detect_layout(LocalFS("/"))
    if layout.version == "none":
        missing("a mounted cgroup hierarchy (/sys/fs/cgroup)")
    name = f"microrack-test-{os.getpid()}"
    dirs = _dirs(layout, name)
    if "unified" not in dirs and not {"cpuacct", "memory"} <= set(dirs):
        missing(f"cgroup v1 cpuacct and memory controllers (found {layout})")
    made: list[Path] = []
    try:
        if "unified" in dirs:
            root = Path(layout.unified or "/sys/fs/cgroup")
            enabled = (root / "cgroup.subtree_control").read_text().split()
            for c in ("cpu", "memory", "io"):
                if c not in enabled:
                    (root / "cgroup.subtree_control").write_text(f"+{c}")
        for d in dirs.values():
            d.mkdir()
            made.append(d)
    except OSError as exc:
        for d in reversed(made):
            d.rmdir()
        missing(f"a writable cgroup hierarchy ({exc})")
    try:
        yield "/" + name, dirs, layout
    finally:
        for d in reversed(made):
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def _start_in(dirs: dict[str, Path], code: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    for d in dirs.values():
        (d / "cgroup.procs").write_text(str(proc.pid))
    return proc


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


def _kernel_cpu_seconds(dirs: dict[str, Path]) -> float:
    if "unified" in dirs:
        for line in (dirs["unified"] / "cpu.stat").read_text().splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) / 1e6
        raise AssertionError("no usage_usec")
    return int((dirs["cpuacct"] / "cpuacct.usage").read_text()) / 1e9


def _kernel_memory_bytes(dirs: dict[str, Path]) -> float:
    if "unified" in dirs:
        return float((dirs["unified"] / "memory.current").read_text())
    return float((dirs["memory"] / "memory.usage_in_bytes").read_text())


def _agent_values(path: str) -> dict[str, float]:
    col = CgroupCollector(LocalFS("/"), CgroupOptions(include="^" + path + "$"))
    sink = PointSink({})
    col.collect(sink)
    return {p.key.name: p.value for p in sink.points if p.key.label("id") == path}


def test_agent_agrees_with_the_kernel_on_real_cgroups(test_cgroup) -> None:
    path, dirs, _layout = test_cgroup
    burner = _start_in(dirs, BURNER)
    allocator = _start_in(dirs, ALLOCATOR)
    try:
        assert allocator.stdout is not None
        assert allocator.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 60
        while _kernel_cpu_seconds(dirs) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.2)
        # Freeze both so that the kernel's figures hold still while the two are compared.
        os.kill(burner.pid, signal.SIGSTOP)
        os.kill(allocator.pid, signal.SIGSTOP)
        time.sleep(0.2)
        kernel_cpu = _kernel_cpu_seconds(dirs)
        kernel_mem = _kernel_memory_bytes(dirs)
        agent = _agent_values(path)
        assert kernel_cpu >= 1.0, "the burner did not get a second of CPU in a minute"
        assert agent["container_cpu_usage_seconds_total"] == pytest.approx(kernel_cpu, rel=0.05)
        assert kernel_mem >= 96 << 20
        assert agent["container_memory_usage_bytes"] == pytest.approx(kernel_mem, rel=0.05)
        assert agent["container_memory_rss"] >= 90 << 20
        assert agent["container_processes"] == 2
        # user + system is the whole usage, within the tick rounding of cpuacct.stat.
        split = (
            agent["container_cpu_user_seconds_total"] + agent["container_cpu_system_seconds_total"]
        )
        assert split == pytest.approx(kernel_cpu, rel=0.05, abs=0.05)
    finally:
        for p in (burner, allocator):
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)
            _stop(p)


def _cgroup_of(pid: int, layout: CgroupLayout) -> str:
    """The process's cgroup path in the hierarchy the agent reads CPU from."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if layout.version == "v2" and controllers == "":
            return path
        if "cpuacct" in controllers.split(","):
            return path
    raise AssertionError(f"no cgroup for pid {pid}")


@pytest.fixture
def podman_image(tmp_path: Path) -> Iterator[str]:
    """An image imported from a rootfs tarball the test builds (busybox only)."""
    with busybox_image(tmp_path, "microrack-test", ("sh", "sleep", "head", "cat")) as image:
        yield image


def test_agent_agrees_with_the_kernel_on_a_podman_container(podman_image: str) -> None:
    name = f"microrack-test-{os.getpid()}"
    script = "while :; do :; done"
    try:
        cid = run_container(podman_image, name, "/bin/sh", "-c", script)
        pid = int(podman("inspect", "-f", "{{.State.Pid}}", name).stdout.strip())
        layout = detect_layout(LocalFS("/"))
        rel = _cgroup_of(pid, layout)
        dirs = _dirs(layout, rel.lstrip("/"))
        deadline = time.monotonic() + 60
        while _kernel_cpu_seconds(dirs) < 1.0 and time.monotonic() < deadline:
            time.sleep(0.2)
        podman("pause", name)
        time.sleep(0.2)
        kernel_cpu = _kernel_cpu_seconds(dirs)
        kernel_mem = _kernel_memory_bytes(dirs)
        col = CgroupCollector(LocalFS("/"), CgroupOptions(containers_only=True))
        sink = PointSink({})
        col.collect(sink)
        mine = [p for p in sink.points if p.key.label("container_id") == cid]
        values = {p.key.name: p.value for p in mine}
        labels = dict(mine[0].key.labels)
        assert labels["id"] == rel
        assert labels["name"] == name
        assert labels["image"] == podman_image
        assert kernel_cpu >= 1.0
        assert values["container_cpu_usage_seconds_total"] == pytest.approx(kernel_cpu, rel=0.05)
        assert values["container_memory_usage_bytes"] == pytest.approx(kernel_mem, rel=0.05)
        runtimes = {
            p.key.label("runtime"): p.value
            for p in sink.points
            if p.key.name == "microrack_containers"
        }
        assert runtimes.get("podman", 0) >= 1
    finally:
        podman("rm", "-f", name, check=False)

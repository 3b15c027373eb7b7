"""The single-file agent on arm64, armhf (armv7) and riscv64 under qemu-user-static, and on
this machine: each in a Debian root filesystem of its architecture, with Debian's python3."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from pyz import MACHINE, build_pyz, in_rootfs, rootfs

from support import ARTIFACTS, free_port, http_get, started, wait_http_ok

FAN_YAML = """\
interval_s: 1
sensors:
  - {name: soc, thermal_zone: "0"}
fans:
  - name: fan
    driver: {type: hwmon, chip: pwmfan, pwm: 1}
    curve: [{temp_c: 20, duty_pct: 40}, {temp_c: 80, duty_pct: 100}]
"""

pytestmark = [pytest.mark.timeout(5400), pytest.mark.integration]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Mounted as /tmp in every root filesystem: holds the single file."""
    d = tmp_path_factory.mktemp("shared")
    build_pyz(d / "microrack-agent.pyz", *MACHINE)
    d.chmod(0o1777)
    return d


def _host_meminfo_total() -> int:
    text = Path("/proc/meminfo").read_text()
    kb = int(re.search(r"^MemTotal:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]
    return kb * 1024


def _host_cpu_seconds() -> dict[tuple[str, str], float]:
    modes = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    hz = 100  # USER_HZ, fixed by the kernel's ABI
    out = {}
    for line in Path("/proc/stat").read_text().splitlines():
        parts = line.split()
        if re.fullmatch(r"cpu\d+", parts[0]):
            for mode, v in zip(modes, parts[1:9], strict=True):
                out[(parts[0][3:], mode)] = int(v) / hz
    return out


def _series(text: str, name: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


@pytest.mark.parametrize("arch", list(MACHINE))
def test_single_file_runs_on_every_processor(arch: str, shared: Path, tmp_path: Path) -> None:
    root = rootfs(arch)
    env = {"MICRORACK_PYZ_ROOT": f"/tmp/unpacked-{arch}", "PYTHONDONTWRITEBYTECODE": "1"}

    def argv(*args: str) -> list[str]:
        return in_rootfs(root, shared, ["/usr/bin/python3", "/tmp/microrack-agent.pyz", *args], env)

    version = subprocess.run(argv("--version"), capture_output=True, text=True, timeout=300)
    assert version.returncode == 0, version.stderr
    assert f"({MACHINE[arch]}, Python 3." in version.stdout, version.stdout

    # The fan controller runs a curve on the hardware twin: duty is the curve at the input.
    (shared / "fan.yaml").write_text(FAN_YAML)
    fan = subprocess.run(
        argv("fan", "--config", "/tmp/fan.yaml", "--simulate", "pi4b", "--once", "--json"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert fan.returncode == 0, fan.stderr
    (state,) = json.loads(fan.stdout.splitlines()[-1])["fans"]
    temp = state["input_celsius"]
    assert 20 < temp < 80 and state["failsafe"] is None and state["rpm"] > 0, state
    assert state["duty_ratio"] == pytest.approx(0.4 + 0.6 * (temp - 20) / 60, abs=0.002), state

    port = free_port()
    log = ARTIFACTS / f"deploy-arch-{arch}.log"
    with started(
        argv("agent", "--listen", f"127.0.0.1:{port}", "--interval", "1", "--node", f"qemu-{arch}"),
        log,
    ):
        wait_http_ok(f"http://127.0.0.1:{port}/metrics", timeout=240)
        before = _host_cpu_seconds()
        status, body = http_get(f"http://127.0.0.1:{port}/metrics")
        after = _host_cpu_seconds()
    assert status == 200
    text = body.decode()
    mem = _series(text, "node_memory_MemTotal_bytes")
    assert list(mem.values()) == [_host_meminfo_total()], mem
    cpu = _series(text, "node_cpu_seconds_total")
    seen = {}
    for key, value in cpu.items():
        labels = dict(re.findall(r'(\w+)="([^"]*)"', key))
        seen[(labels["cpu"], labels["mode"])] = value
    # The host kernel's own counters, read just before and after the scrape.
    assert set(seen) >= set(before) and before
    for k in before:
        assert before[k] - 1.01 <= seen[k] <= after[k] + 0.01, (k, before[k], seen[k], after[k])

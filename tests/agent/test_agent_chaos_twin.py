"""Node faults on a twin-backed agent (``--simulate``): each seen in /metrics, each ends itself.

The twin runs at ``speed`` twin seconds per real second, so a thermal change of
minutes shows within a few seconds; every fault below is reverted by the
agent's own lease timer (no DELETE is sent).
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from faults.chaos_support import agent_argv, call, poll, write_token
from faults.scrape import scrape, values
from support import free_port, started

pytestmark = pytest.mark.integration

PI5_TOP_HZ = 2_400_000_000  # cpuinfo_max_freq of the twin's Pi 5, in Hz
FREQ_MAX = "node_cpu_scaling_frequency_max_hertz"
TEMP = "node_thermal_zone_temp"


class Twin(NamedTuple):
    port: int
    secret: bytes
    state: Path

    def post(self, fid: str, kind: str, duration: float, **params: Any) -> dict[str, Any]:
        body = {"id": fid, "kind": kind, "duration_s": duration, "params": params}
        status, obj = call("127.0.0.1", self.port, self.secret, "POST", "/api/v1/faults", body)
        assert status == 201, obj
        return obj  # type: ignore[no-any-return]

    def faults(self) -> list[dict[str, Any]]:
        return call("127.0.0.1", self.port, self.secret, "GET", "/api/v1/faults")[1]["faults"]  # type: ignore[no-any-return]

    def metrics(self) -> dict[str, float]:
        return scrape(self.port)

    def temp(self) -> float:
        return statistics.fmean(values(self.metrics(), TEMP))

    def wait(self, check: Callable[[dict[str, float]], bool], what: str) -> dict[str, float]:
        seen: list[dict[str, float]] = []

        def probe() -> bool:
            seen[:] = [self.metrics()]
            return check(seen[0])

        poll(probe, timeout=60, what=what)
        return seen[0]


def _twin(tmp: Path, util: float, speed: float = 40) -> Iterator[Twin]:
    script = tmp / "node.yaml"
    script.write_text(f"speed: {speed}\nload:\n  - {{at: 0, util: {util}}}\n")
    port = free_port()
    tok = tmp / "token"
    secret = write_token(tok)
    state = tmp / "state" / "chaos-state.json"
    argv = agent_argv(
        f"127.0.0.1:{port}",
        None,
        "twin",
        state,
        token=tok,
        allow=("throttle", "pressure", "fan_stall", "disk_fill"),
        simulate="pi5",
        interval=0.5,
        extra=("--sim-script", str(script), "--fan", "auto"),
    )
    with started(argv, tmp / "agent.log", wait=("127.0.0.1", port)):
        yield Twin(port, secret, state)


@pytest.fixture
def busy_twin(tmp_path: Path) -> Iterator[Twin]:
    yield from _twin(tmp_path, util=1.0)


@pytest.fixture
def idle_twin(tmp_path: Path) -> Iterator[Twin]:
    yield from _twin(tmp_path, util=0.1)


def test_throttle_caps_the_twin_clock_and_cools_it_until_the_deadline(busy_twin: Twin) -> None:
    t = busy_twin
    m = t.wait(lambda m: len(values(m, FREQ_MAX)) == 4, "cpufreq series")
    assert values(m, FREQ_MAX) == [PI5_TOP_HZ] * 4
    hot = t.temp()
    fault = t.post("th", "throttle", 10, max_pct=70)
    assert fault["commands"] == [
        f"write /sys/devices/system/cpu/cpu{i}/cpufreq/scaling_max_freq: 1680000" for i in range(4)
    ]
    m = t.wait(lambda m: values(m, FREQ_MAX) == [1.68e9] * 4, "capped scaling_max_freq")
    assert max(values(m, "node_cpu_scaling_frequency_hertz")) <= 1.68e9
    # a lower clock draws less power: the die cools while the cap holds
    t.wait(lambda m: statistics.fmean(values(m, TEMP)) < hot - 2, "cooler die under the cap")
    assert [f["id"] for f in t.faults()] == ["th"]
    t.wait(lambda m: values(m, FREQ_MAX) == [PI5_TOP_HZ] * 4, "cap lifted at the deadline")
    assert t.faults() == []
    t.wait(lambda m: max(values(m, "node_cpu_scaling_frequency_hertz")) > 1.5e9, "full clock")
    # below cpuinfo_min_freq (1.5 GHz on a Pi 5) the cap is clamped to it, as the kernel does
    t.post("low", "throttle", 30, max_khz=1000)
    t.wait(lambda m: values(m, FREQ_MAX) == [1.5e9] * 4, "cap clamped to the lowest clock")


def test_pressure_loads_the_twin_until_the_deadline(idle_twin: Twin) -> None:
    t = idle_twin
    m = t.wait(lambda m: bool(values(m, "node_load1")), "load series")
    assert values(m, "node_load1")[0] < 1
    cool = t.temp()
    avail = values(m, "node_memory_MemAvailable_bytes")[0]
    fault = t.post("pr", "pressure", 10, cpu=4, memory_bytes=256 << 20)
    assert fault["commands"] == [f"twin load +4 cores, +{256 << 20} bytes"]
    m = t.wait(lambda m: values(m, "node_load1")[0] == 4.0, "four busy cores")
    assert values(m, "node_memory_MemAvailable_bytes")[0] <= avail - (200 << 20)
    t.wait(lambda m: statistics.fmean(values(m, TEMP)) > cool + 2, "warmer die under load")
    t.wait(lambda m: values(m, "node_load1")[0] < 1, "load gone at the deadline")
    assert t.faults() == []


def test_pressure_beyond_the_twin_cores_is_400(idle_twin: Twin) -> None:
    t = idle_twin
    body = {"id": "p5", "kind": "pressure", "duration_s": 5, "params": {"cpu": 5}}
    status, obj = call("127.0.0.1", t.port, t.secret, "POST", "/api/v1/faults", body)
    assert status == 400 and obj["field"] == "params.cpu" and "4 cores" in obj["error"]


def test_disk_fill_takes_twin_space_until_the_deadline(idle_twin: Twin) -> None:
    t = idle_twin
    free = 'node_filesystem_free_bytes{device="/dev/root",fstype="ext4",mountpoint="/"}'
    m = t.wait(lambda m: free in m, "root file system")
    before = m[free]
    fault = t.post("df", "disk_fill", 6, bytes=10**10)
    assert fault["commands"][0] == f"twin file system /: +{10**10} bytes used"
    t.wait(lambda m: m[free] == before - 10**10, "ten GB less free")
    t.wait(lambda m: m[free] == before, "space back at the deadline")
    assert t.faults() == []
    # more than would leave 5 % free is refused, naming the parameter
    body = {"id": "big", "kind": "disk_fill", "duration_s": 5, "params": {"fill_pct": 90}}
    status, obj = call("127.0.0.1", t.port, t.secret, "POST", "/api/v1/faults", body)
    assert status == 422 and obj["field"] == "params.fill_pct"


def test_fan_stall_stops_the_twin_fan_until_the_deadline(busy_twin: Twin) -> None:
    t = busy_twin
    duty = "microrack_fan_duty_ratio"
    t.wait(lambda m: bool(values(m, duty)) and values(m, duty)[0] > 0.2, "fan on its curve")
    t.post("fs", "fan_stall", 8, limit_c=95)
    m = t.wait(
        lambda m: values(m, duty)[0] == 0 and values(m, "microrack_fan_rpm")[0] == 0, "fan stopped"
    )
    hot = statistics.fmean(values(m, TEMP))
    t.wait(lambda m: statistics.fmean(values(m, TEMP)) > hot + 2, "die warms without the fan")
    t.wait(lambda m: values(m, duty)[0] > 0.2, "curve back at the deadline")
    assert t.faults() == []

"""Hung drivers, unparseable tachs and killed daemons, on a plain-file tree and on the twin.

A FIFO stands in for a hung driver: opening it blocks (for reading with no
writer, for writing with no reader) exactly like a read of a sensor behind a
wedged I2C bus.  Each test releases its FIFOs at teardown so the stuck device
thread ends.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fan_trees import Tree, fan_yaml

from microrack.errors import ResourceError
from microrack.sensors import HostFS, LocalFS
from microrack.sim import open_node
from microrack.thermal import FanService
from microrack.thermal._deadline import DeadlineMissed, Worker

IO_TIMEOUT = 0.2


@contextlib.contextmanager
def fifo(path: Path) -> Iterator[Path]:
    """Replace ``path`` with a FIFO; at exit, unblock whoever is stuck opening it, remove it."""
    path.unlink()
    os.mkfifo(path)
    try:
        yield path
    finally:
        for flags in (os.O_WRONLY | os.O_NONBLOCK, os.O_RDONLY | os.O_NONBLOCK):
            with contextlib.suppress(OSError):
                fd = os.open(path, flags)
                time.sleep(0.05)  # let the blocked opener see the other end
                os.close(fd)
        path.unlink()  # a plain file again from here on


def _service(tree: Tree, tmp_path: Path, fs: HostFS | None = None, **fan: object) -> FanService:
    cfg = fan_yaml(tmp_path, **fan)
    text = cfg.read_text().replace(
        "interval_s: 0.2", f"interval_s: 0.2\nio_timeout_s: {IO_TIMEOUT}"
    )
    cfg.write_text(text)
    return FanService.from_file(cfg, fs or LocalFS(str(tree.root)))


def _timed_step(service: FanService, now: float) -> float:
    t0 = time.monotonic()
    service.step(now)
    return time.monotonic() - t0


def test_worker_fails_fast_while_a_call_is_hung() -> None:
    release = threading.Event()
    w = Worker("dev")
    with pytest.raises(DeadlineMissed, match=r"within 0\.05 s"):
        w.call(release.wait, 0.05)
    assert w.hung
    with pytest.raises(DeadlineMissed, match="still hung"):
        w.call(lambda: 1, 5.0)  # refused at once, not queued behind the hung call
    release.set()
    deadline = time.monotonic() + 5
    while w.hung and time.monotonic() < deadline:
        time.sleep(0.01)
    assert w.call(lambda: 42, 1.0) == 42
    with pytest.raises(ZeroDivisionError):
        w.call(lambda: 1 / 0, 1.0)


def test_hung_sensor_is_failsafe_at_once_and_the_loop_keeps_running(
    tree: Tree, tmp_path: Path
) -> None:
    tree.set_temp(40.0)
    tree.write(tree.TACH, 1500)
    service = _service(tree, tmp_path)
    service.step(0.0)
    assert service.fans[0].state.failsafe is None and tree.pwm == 76  # 30 %
    with fifo(tree.path(tree.ZONE)):
        for i in range(1, 5):
            took = _timed_step(service, i * 0.2)
            assert took < 10 * IO_TIMEOUT  # bounded by the deadline, not by the driver
            state = service.fans[0].state
            assert state.failsafe == "cpu:timeout" and state.duty == 1.0
            assert tree.pwm == 255
    # The hung read returns (empty) once released; a good value clears the failsafe.
    tree.set_temp(40.0)
    deadline, now = time.monotonic() + 10, 1.0
    while service.fans[0].state.failsafe is not None and time.monotonic() < deadline:
        now += 0.2
        service.step(now)
    assert service.fans[0].state.failsafe is None


def test_hung_pwm_write_is_failsafe_then_fatal_never_a_frozen_loop(
    tree: Tree, tmp_path: Path
) -> None:
    tree.set_temp(55.0)
    tree.write(tree.TACH, 1500)
    service = _service(tree, tmp_path)
    with fifo(tree.path(tree.PWM)):
        for i in range(4):
            took = _timed_step(service, float(i))
            assert took < 10 * IO_TIMEOUT
            assert service.fans[0].state.failsafe == "driver_timeout"
        t0 = time.monotonic()
        with pytest.raises(ResourceError, match="5 failed writes"):
            service.step(5.0)
        assert time.monotonic() - t0 < 10 * IO_TIMEOUT
        t0 = time.monotonic()
        service.close()  # hands back what it can, within its own deadline
        assert time.monotonic() - t0 < 5


@pytest.mark.parametrize("raw", ["xyz", "-5", "1e3", "", "nan", "12 34"])
def test_unparseable_tach_is_a_failed_read(tree: Tree, tmp_path: Path, raw: str) -> None:
    tree.set_temp(55.0)
    tree.write(tree.TACH, 1500)
    service = _service(tree, tmp_path)
    service.step(0.0)
    assert service.fans[0].state.failsafe is None and service.fans[0].rpm == 1500.0
    tree.path(tree.TACH).write_text(raw + "\n")
    service.step(1.0)
    assert service.fans[0].state.failsafe == "tach:unreadable"
    assert tree.pwm == 255
    tree.write(tree.TACH, 1500)
    service.step(2.0)
    assert service.fans[0].state.failsafe is None


def test_hung_tach_is_failsafe(tree: Tree, tmp_path: Path) -> None:
    tree.set_temp(55.0)
    service = _service(tree, tmp_path)
    with fifo(tree.path(tree.TACH)):
        assert _timed_step(service, 0.0) < 10 * IO_TIMEOUT
        assert service.fans[0].state.failsafe == "tach:timeout"


def test_sigkill_equivalent_in_process_then_failsafe(tree: Tree, tmp_path: Path) -> None:
    """A service that is abandoned without close() (what SIGKILL does) leaves manual mode."""
    tree.set_temp(55.0)
    tree.write(tree.TACH, 1500)
    killed = _service(tree, tmp_path)
    killed.step(0.0)
    modes = killed.modes()
    assert modes == {"case": "2"}
    assert tree.read(tree.ENABLE) == "1" and tree.pwm == 102
    rescue = _service(tree, tmp_path)
    assert rescue.failsafe(modes) == []
    assert tree.pwm == 255 and tree.read(tree.ENABLE) == "2"


# -- the same failures on the hardware twin ------------------------------------------


class Faulty:
    """A HostFS wrapper over the twin: chosen paths hang or read garbage."""

    def __init__(self, inner: HostFS) -> None:
        self.inner = inner
        self.hang_read: set[str] = set()
        self.hang_write: set[str] = set()
        self.garbage: dict[str, str] = {}
        self.release = threading.Event()

    def __repr__(self) -> str:
        return f"Faulty({self.inner!r})"

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def read_text(self, path: str) -> str:
        if path in self.hang_read:
            self.release.wait()
            raise OSError(errno.EIO, "released")
        if path in self.garbage:
            return self.garbage[path]
        return self.inner.read_text(path)

    def write_text(self, path: str, data: str) -> None:
        if path in self.hang_write:
            self.release.wait()
            raise OSError(errno.EIO, "released")
        self.inner.write_text(path, data)


@pytest.fixture
def twin() -> Iterator[tuple[Faulty, object]]:
    node = open_node("pi5", seed=1, clock=lambda: 0.0)
    fs = Faulty(node)
    yield fs, node
    fs.release.set()


def _twin_service(fs: Faulty, tmp_path: Path) -> FanService:
    cfg = tmp_path / "twin-fan.yaml"
    cfg.write_text(
        f"interval_s: 0.5\nio_timeout_s: {IO_TIMEOUT}\n"
        "sensors: [{name: soc, thermal_zone: cpu-thermal, stale_after_s: null}]\n"
        "fans:\n- name: fan\n  driver: {type: hwmon, chip: pwmfan}\n"
        "  curve: [{temp_c: 20, duty_pct: 30}, {temp_c: 90, duty_pct: 100}]\n"
        "  spinup: {seconds: 0}\n"
    )
    return FanService.from_file(cfg, fs)


def _twin_path(service: FanService, kind: str) -> str:
    fan = service.fans[0]
    if kind == "sensor":
        return fan.inputs[0].path
    desc = fan.driver.description.removeprefix("hwmon ")
    return desc if kind == "pwm" else desc.replace("pwm1", "fan1_input")


def test_twin_hung_sensor(twin: tuple[Faulty, object], tmp_path: Path) -> None:
    fs, node = twin
    service = _twin_service(fs, tmp_path)
    service.step(0.0)
    assert service.fans[0].state.failsafe is None
    fs.hang_read.add(_twin_path(service, "sensor"))
    assert _timed_step(service, 1.0) < 10 * IO_TIMEOUT
    assert service.fans[0].state.failsafe == "soc:timeout"
    assert node.pwm == 255  # type: ignore[attr-defined]


def test_twin_hung_pwm_write(twin: tuple[Faulty, object], tmp_path: Path) -> None:
    fs, _node = twin
    service = _twin_service(fs, tmp_path)
    service.step(0.0)
    fs.hang_write.add(_twin_path(service, "pwm"))
    assert _timed_step(service, 1.0) < 10 * IO_TIMEOUT
    assert service.fans[0].state.failsafe == "driver_timeout"


def test_twin_unparseable_tach(twin: tuple[Faulty, object], tmp_path: Path) -> None:
    fs, node = twin
    service = _twin_service(fs, tmp_path)
    fs.garbage[_twin_path(service, "tach")] = "xyz\n"
    service.step(0.0)
    assert service.fans[0].state.failsafe == "tach:unreadable"
    assert node.pwm == 255  # type: ignore[attr-defined]


def test_twin_killed_service_then_failsafe(twin: tuple[Faulty, object], tmp_path: Path) -> None:
    fs, node = twin
    killed = _twin_service(fs, tmp_path)
    killed.step(0.0)
    assert node.pwm_enable == 1 and node.pwm < 255  # type: ignore[attr-defined]
    modes = killed.modes()
    assert _twin_service(fs, tmp_path).failsafe(modes) == []
    assert node.pwm_enable == 2  # type: ignore[attr-defined]  # the firmware curve again

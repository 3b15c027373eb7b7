"""Temperature inputs of the fan loop, read through a :class:`HostFS`.

An input is one file holding millidegrees (a thermal zone's ``temp``, an
hwmon ``tempN_input``).  It is located once, by the names a person knows
(``cpu-thermal``, ``nvme``/``Composite``), because ``thermal_zoneN`` and
``hwmonN`` numbers change between boots.  Each reading is judged: missing,
stale (unchanged for too long: a hung sensor keeps returning its last value)
or outside the physical range all count as faults that force full duty.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import partial

from microrack.sensors import HostFS
from microrack.thermal._deadline import DeadlineMissed, Pending, Worker

__all__ = [
    "AgentInput",
    "Input",
    "InputReading",
    "find_hwmon",
    "find_thermal_zone",
    "list_hwmon",
]

THERMAL = "/sys/class/thermal"
HWMON = "/sys/class/hwmon"


def _read(fs: HostFS, path: str) -> str | None:
    try:
        return fs.read_text(path).strip()
    except OSError:
        return None


def find_thermal_zone(fs: HostFS, zone: str) -> str | None:
    """Path of the ``temp`` file of a zone given by type (``cpu-thermal``) or number."""
    if zone.isdigit():
        path = f"{THERMAL}/thermal_zone{zone}/temp"
        return path if fs.exists(path) else None
    try:
        names = fs.listdir(THERMAL)
    except OSError:
        return None
    for name in names:
        if name.startswith("thermal_zone") and _read(fs, f"{THERMAL}/{name}/type") == zone:
            return f"{THERMAL}/{name}/temp"
    return None


def list_hwmon(fs: HostFS) -> list[tuple[str, str]]:
    """``(directory, chip name)`` of every hwmon device."""
    try:
        names = fs.listdir(HWMON)
    except OSError:
        return []
    found = []
    for name in names:
        chip = _read(fs, f"{HWMON}/{name}/name")
        if chip is not None:
            found.append((f"{HWMON}/{name}", chip))
    return found


def find_hwmon(fs: HostFS, chip: str) -> str | None:
    """Directory of the first hwmon device whose ``name`` is ``chip`` (or a path to one)."""
    if chip.startswith("/"):
        return chip if fs.exists(f"{chip}/name") or fs.exists(chip) else None
    for directory, name in list_hwmon(fs):
        if name == chip:
            return directory
    return None


def find_hwmon_temp(fs: HostFS, directory: str, which: str) -> str | None:
    """``tempN_input`` of an hwmon device, by channel (``temp1``) or by label (``Composite``)."""
    if which.startswith("temp") and which[4:].isdigit():
        path = f"{directory}/{which}_input"
        return path if fs.exists(path) else None
    try:
        names = fs.listdir(directory)
    except OSError:
        return None
    for name in names:
        if (
            name.startswith("temp")
            and name.endswith("_label")
            and _read(fs, f"{directory}/{name}") == which
        ):
            return f"{directory}/{name[: -len('_label')]}_input"
    return None


@dataclass(frozen=True, slots=True)
class InputReading:
    """One input's temperature (NaN when unusable) and the fault, if any."""

    name: str
    temp_c: float
    fault: str | None  # "missing" | "timeout" | "stale" | "out_of_range" | None


class Input:
    """One temperature file with its staleness and range limits."""

    def __init__(
        self,
        name: str,
        fs: HostFS,
        path: str,
        *,
        stale_after_s: float | None,
        min_c: float,
        max_c: float,
    ) -> None:
        self.name = name
        self.path = path
        self._fs = fs
        self._stale_after = stale_after_s
        self._min = min_c
        self._max = max_c
        self._raw: str | None = None
        self.io = Worker(f"sensor {name} ({path})")
        self._changed_at: float | None = None

    def __repr__(self) -> str:
        return f"Input({self.name!r}, {self.path!r})"

    def submit(self) -> Pending[str | None]:
        """Start reading the file on the sensor's own thread."""
        return self.io.submit(partial(_read, self._fs, self.path))

    def judge(self, pending: Pending[str | None], deadline: float, now: float) -> InputReading:
        """The reading started by :meth:`submit`, waited for until ``deadline`` (monotonic)."""
        try:
            raw = pending.result(deadline - time.monotonic())
        except DeadlineMissed:
            # A hung driver: the same as a stale sensor, but known at once.
            return InputReading(self.name, math.nan, "timeout")
        return self._judge(raw, now)

    def read(self, now: float, timeout: float = 1.0) -> InputReading:
        """Read and judge the input now (waiting at most ``timeout`` seconds)."""
        return self.judge(self.submit(), time.monotonic() + timeout, now)

    def _parse(self, raw: str) -> float:
        return int(raw) / 1000.0  # sysfs: integer millidegrees

    def _judge(self, raw: str | None, now: float) -> InputReading:
        try:
            temp = self._parse(raw) if raw else math.nan
        except ValueError:
            temp = math.nan
        if not math.isfinite(temp):
            return InputReading(self.name, math.nan, "missing")
        if raw != self._raw or self._changed_at is None:
            self._raw, self._changed_at = raw, now
        if not self._min <= temp <= self._max:
            return InputReading(self.name, temp, "out_of_range")
        if self._stale_after is not None and now - self._changed_at > self._stale_after:
            return InputReading(self.name, temp, "stale")
        return InputReading(self.name, temp, None)


MAX_SNAPSHOT_BYTES = 4 * 1024 * 1024


class AgentInput(Input):
    """A neighbour board's temperature, from its agent's ``/api/v1/snapshot``.

    The reading is the snapshot's ``headline`` value (``temp_max_celsius``: the
    board's hottest sensor); it is stale when the agent's collection sequence
    has not advanced for ``stale_after_s`` (an agent whose collector hangs
    keeps serving its last snapshot), so clocks need not agree across boards.
    An agent that does not answer within the loop's deadline is a ``timeout``,
    one that answers with anything else is ``missing``.
    """

    def __init__(
        self,
        name: str,
        url: str,
        *,
        headline: str,
        stale_after_s: float | None,
        min_c: float,
        max_c: float,
        timeout_s: float = 1.0,
    ) -> None:
        no_fs: HostFS = _NoFS()  # type: ignore[assignment]
        super().__init__(
            name,
            no_fs,
            url.rstrip("/") + "/api/v1/snapshot",
            stale_after_s=stale_after_s,
            min_c=min_c,
            max_c=max_c,
        )
        self.headline = headline
        self.timeout_s = timeout_s

    def submit(self) -> Pending[str | None]:
        return self.io.submit(self._fetch)

    def _fetch(self) -> str | None:
        import json
        import urllib.request

        try:
            with urllib.request.urlopen(self.path, timeout=self.timeout_s) as resp:
                body = resp.read(MAX_SNAPSHOT_BYTES + 1)
            if len(body) > MAX_SNAPSHOT_BYTES:
                return None
            snap = json.loads(body)
            value = float(snap["headline"][self.headline])
            seq = int(snap["seq"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return f"{seq} {value!r}"  # the sequence makes an unchanged value still "changed"

    def _parse(self, raw: str) -> float:
        return float(raw.split()[1])


class _NoFS:
    """An agent input reads no file."""

    def __repr__(self) -> str:
        return "http"


def combine(readings: list[InputReading]) -> tuple[float, str | None]:
    """The hottest input, and the first fault (``sensor:kind``) if any input has one."""
    fault = next((f"{r.name}:{r.fault}" for r in readings if r.fault), None)
    temps = [r.temp_c for r in readings if not math.isnan(r.temp_c)]
    return (max(temps) if temps else math.nan), fault

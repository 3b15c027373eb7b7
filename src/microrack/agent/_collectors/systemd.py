"""The systemd collector (off by default, as in node_exporter): unit states through ``systemctl``.

node_exporter asks systemd over D-Bus.  The agent stays on the standard
library, and Python has no D-Bus client in it, so it asks ``systemctl``,
which speaks D-Bus to the same manager: three short-lived calls per collection
(``list-units --all``, ``show`` of the service units for their ``Type`` and
``NRestarts``, ``show`` of the manager for ``SystemState`` and ``Version``).
Without systemd as init (a container, the twin, a captured tree) it has no data.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import ClassVar

from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NoData
from microrack.sensors import HostFS, LocalFS

__all__ = ["SystemdCollector", "parse_list_units", "parse_show"]

STATES = ("activating", "active", "deactivating", "failed", "inactive")
_TIMEOUT = 10.0


def parse_list_units(text: str) -> list[tuple[str, str, str]]:
    """``systemctl list-units --all --plain --no-legend`` -> [(unit, load, active)]."""
    units = []
    for line in text.splitlines():
        parts = line.lstrip().lstrip("●*").split(None, 4)  # ● marks failed units
        if len(parts) >= 4:
            units.append((parts[0], parts[1], parts[2]))
    return units


def parse_show(text: str) -> list[dict[str, str]]:
    """``systemctl show``: ``KEY=value`` blocks separated by blank lines."""
    blocks: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if cur:
                blocks.append(cur)
                cur = {}
            continue
        key, sep, value = line.partition("=")
        if sep:
            cur[key] = value
    if cur:
        blocks.append(cur)
    return blocks


class SystemdCollector:
    name: ClassVar[str] = "systemd"
    default: ClassVar[bool] = False

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.systemctl = shutil.which("systemctl")
        self.include = re.compile(f"^(?:{options.systemd_unit_include})$")
        self.exclude = re.compile(f"^(?:{options.systemd_unit_exclude})$")

    def _run(self, *args: str) -> str:
        assert self.systemctl is not None
        p = subprocess.run(
            [self.systemctl, *args], capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
        if p.returncode != 0:
            msg = (p.stderr or p.stdout).strip().splitlines()
            reason = msg[0] if msg else f"exit status {p.returncode}"
            if "not been booted with systemd" in reason or "Failed to connect" in reason:
                raise NoData(f"systemctl: {reason}")
            raise OSError(f"systemctl {' '.join(args)}: {reason}")
        return p.stdout

    def collect(self, out: PointSink) -> None:
        if not (isinstance(self.fs, LocalFS) and self.fs.root == "/"):
            raise NoData("systemd is asked on the live host only (not a tree or the twin)")
        if self.systemctl is None:
            raise NoData("no systemctl on this host")
        units = parse_list_units(
            self._run("list-units", "--all", "--plain", "--no-legend", "--no-pager")
        )
        counts = dict.fromkeys(STATES, 0)
        for _, _, active in units:
            if active in counts:
                counts[active] += 1
        wanted = [u for u in units if self.include.match(u[0]) and not self.exclude.match(u[0])]
        services = [u[0] for u in wanted if u[0].endswith(".service")]
        props: dict[str, dict[str, str]] = {}
        if services:
            for block in parse_show(
                self._run("show", "--property=Id,Type,NRestarts", "--no-pager", *services)
            ):
                if "Id" in block:
                    props[block["Id"]] = block
        for name, _, active in wanted:
            stype = props.get(name, {}).get("Type", "")
            for state in STATES:
                out.add_help(
                    "node_systemd_unit_state",
                    1 if state == active else 0,
                    "gauge",
                    "Systemd unit",
                    name=name,
                    state=state,
                    type=stype,
                )
        for name in services:
            restarts = props.get(name, {}).get("NRestarts", "")
            if restarts.isdigit():
                out.add_help(
                    "node_systemd_service_restart_total",
                    int(restarts),
                    "counter",
                    "Service unit count of Restart triggers",
                    name=name,
                )
        for state, n in counts.items():
            out.add_help(
                "node_systemd_units", n, "gauge", "Summary of systemd unit states", state=state
            )
        manager = parse_show(self._run("show", "--property=SystemState,Version", "--no-pager"))
        info = manager[0] if manager else {}
        out.add_help(
            "node_systemd_system_running",
            1 if info.get("SystemState") == "running" else 0,
            "gauge",
            "Whether the system is operational (see 'systemctl is-system-running')",
        )
        version = info.get("Version", "")
        m = re.match(r"(\d+)(?:\.(\d+))?", version)
        if m:
            out.add_help(
                "node_systemd_version",
                float(m[0]),
                "gauge",
                "Detected systemd version",
                version=version,
            )

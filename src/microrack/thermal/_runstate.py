"""A small state file that outlives a killed fan daemon.

While the daemon controls its fans it keeps ``/run/microrack/fan-<key>.json``
(``--state-file``; the key is a hash of the config path and ``--root``): its
pid, when it started, and the mode each fan was in before it took over
(``pwm1_enable`` 2, an EMC230x's RPM-control bit). A clean exit removes the
file. So at start a file that is still there means the previous run was killed
(SIGKILL, OOM killer, power cut of the daemon only) or crashed, which is
logged; and ``microrack fan --failsafe``, which the systemd unit runs as
``ExecStopPost``, reads it to hand every fan back to the mode it had before
the killed run, not to the manual mode it left.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "RunState",
    "default_state_file",
    "describe_unclean",
    "read_state",
    "remove_state",
    "write_state",
]

log = logging.getLogger("microrack.thermal")

STATE_DIR = "/run/microrack"
MAX_STATE_BYTES = 64 * 1024


def default_state_file(source: str, root: str) -> str:
    """One file per fan source (config path or board) and ``--root``: daemons do not collide."""
    key = hashlib.sha256(f"{source}\0{root}".encode()).hexdigest()[:12]
    return f"{STATE_DIR}/fan-{key}.json"


@dataclass(frozen=True, slots=True)
class RunState:
    pid: int
    started: float  # unix time
    source: str  # the fan.yaml (or board) being run
    modes: dict[str, str] = field(default_factory=dict)  # fan name -> mode to hand back
    failsafe_at: float | None = None  # when ``--failsafe`` last handed the fans back


def read_state(path: str) -> RunState | None:
    """The state left by an earlier run, or None (absent, or not a state file: logged)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_STATE_BYTES + 1)
    except FileNotFoundError:
        return None
    except OSError as exc:
        log.warning("state file %s: cannot read: %s", path, exc.strerror or exc)
        return None
    try:
        if len(raw) > MAX_STATE_BYTES:
            raise ValueError("too large")
        data = json.loads(raw.decode("utf-8"))
        modes = data.get("modes", {})
        return RunState(
            pid=int(data["pid"]),
            started=float(data["started"]),
            source=str(data.get("source", "")),
            modes={str(k): str(v) for k, v in modes.items()},
            failsafe_at=None if data.get("failsafe_at") is None else float(data["failsafe_at"]),
        )
    except (ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as exc:
        log.warning("state file %s: not a fan state file (%s); ignored", path, exc)
        return None


def write_state(path: str, state: RunState) -> bool:
    """Write ``state`` atomically; False (logged once) where it cannot be written."""
    data = {
        "pid": state.pid,
        "started": state.started,
        "source": state.source,
        "modes": state.modes,
        "failsafe_at": state.failsafe_at,
    }
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:
        log.warning(
            "state file %s: cannot write (%s): an unclean exit will not be detected",
            path,
            exc.strerror or exc,
        )
        return False
    return True


def remove_state(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("state file %s: cannot remove: %s", path, exc.strerror or exc)


def describe_unclean(state: RunState) -> str:
    """One log line about a previous run that did not exit cleanly."""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(state.started))
    line = (
        f"the previous fan daemon (pid {state.pid}, started {when} UTC, {state.source}) "
        "did not exit cleanly (killed or crashed)"
    )
    if state.failsafe_at is not None:
        at = time.strftime("%H:%M:%S", time.gmtime(state.failsafe_at))
        line += f"; 'fan --failsafe' set its fans to full at {at} UTC"
    else:
        line += "; its fans were left as it last drove them until now"
    return line

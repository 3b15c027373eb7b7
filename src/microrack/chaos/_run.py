"""Carry out a ``ChaosPlan``: signed requests at their times, and stop on any way out.

Every agent fault is a lease: the agent reverts it at its deadline on its own
(the dead man), so a killed ``chaos run`` cannot leave a fault behind for
longer than the fault's duration.  A normal end, Ctrl-C or SIGTERM also
reverts at once: ``DELETE /api/v1/faults/{id}`` for every fault still on,
power on for every node a BMC switched off.
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from microrack.chaos._health import MemberProbe, MemberRecord, Prober
from microrack.chaos._plan import AgentStep, BmcStep, ChaosPlan
from microrack.errors import MicrorackError
from microrack.faults import sign_headers

__all__ = [
    "ChaosError",
    "FaultRecord",
    "HubAnnotator",
    "RunRecord",
    "load_bmc_auth",
    "run_plan",
    "stop_nodes",
]


class ChaosError(MicrorackError):
    """A node refused or could not be reached; names the node and the answer."""

    exit_code = 1


@dataclass
class FaultRecord:
    fault: int
    node: str
    kind: str
    id: str
    start_unix: float
    end_unix: float | None = None
    commands: list[str] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "node": self.node,
            "kind": self.kind,
            "id": self.id,
            "start_unix": round(self.start_unix, 3),
            "end_unix": None if self.end_unix is None else round(self.end_unix, 3),
            "commands": self.commands,
            "error": self.error,
        }


@dataclass
class RunRecord:
    scenario: str
    run_id: str
    start_unix: float
    end_unix: float = 0.0
    interrupted: bool = False
    faults: list[FaultRecord] = field(default_factory=list)
    probes: list[MemberRecord] = field(default_factory=list)
    t0_unix: float = (
        0.0  # when the probes' and the plan's clock started (probe times count from it)
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "run_id": self.run_id,
            "start_unix": round(self.start_unix, 3),
            "end_unix": round(self.end_unix, 3),
            "t0_unix": round(self.t0_unix, 3),
            "interrupted": self.interrupted,
            "faults": [f.as_dict() for f in self.faults],
            "probes": [p.as_dict() for p in self.probes],
        }


class _Signed:
    """httpx with the chaos contract's three signature headers on every request."""

    def __init__(self, secret: bytes, timeout: float = 10.0) -> None:
        import httpx

        self.secret = secret
        self.client = httpx.Client(timeout=timeout)

    def call(self, method: str, base: str, path: str, obj: Any | None = None) -> tuple[int, Any]:
        body = b"" if obj is None else json.dumps(obj).encode()
        headers = sign_headers(self.secret, method, path, body)
        if obj is not None:
            headers["Content-Type"] = "application/json"
        r = self.client.request(method, base + path, content=body, headers=headers)
        try:
            data = r.json()
        except ValueError:
            data = {"error": r.text[:200]}
        return r.status_code, data

    def close(self) -> None:
        self.client.close()


def _bmc_power(step: BmcStep, on: bool, auth: tuple[str, str] | None, timeout: float) -> None:
    """Turing Pi 2 BMC API (firmware 2.x): ``GET /api/bmc?opt=set&type=power&nodeN=0|1``."""
    import httpx

    headers = {}
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    url = f"{step.bmc_url}/api/bmc"
    params = {"opt": "set", "type": "power", f"node{step.slot}": "1" if on else "0"}
    r = httpx.get(url, params=params, headers=headers, timeout=timeout, verify=False)
    if r.status_code != 200:
        raise ChaosError(
            f"BMC {step.bmc_url} (node {step.node}, slot {step.slot}): "
            f"HTTP {r.status_code} {r.text[:200]}"
        )


def _refusal(node: str, status: int, data: Any) -> str:
    msg = data.get("error") if isinstance(data, dict) else None
    return f"node {node}: HTTP {status}: {msg or data}"


class HubAnnotator:
    """Marks each fault's window on the hub's charts (signed ``POST /api/v1/annotations``).

    A hub that cannot be reached or refuses is reported once in ``errors``; the
    run itself goes on (the record stays complete in the command's own output).
    """

    def __init__(self, url: str, secret: bytes, plan: ChaosPlan) -> None:
        self.url = url.rstrip("/")
        self.client = _Signed(secret, timeout=5.0)
        self.plan = plan
        self.errors: list[str] = []

    def __call__(self, what: str, r: FaultRecord) -> None:
        if what != "end" or self.errors:
            return
        body = {
            "start": r.start_unix,
            "end": r.end_unix or time.time(),
            "text": f"{r.kind} on {r.node} ({self.plan.scenario} fault {r.fault})",
            "kind": r.kind,
            "nodes": [r.node],
            "run": self.plan.run_id,
            "fault": r.fault,
        }
        try:
            status, data = self.client.call("POST", self.url, "/api/v1/annotations", body)
        except Exception as exc:
            self.errors.append(f"hub {self.url}: {type(exc).__name__}: {exc}")
            return
        if status != 201:
            self.errors.append(f"hub {self.url}: HTTP {status}: {data}")

    def close(self) -> None:
        self.client.close()


def stop_nodes(urls: dict[str, str], secret: bytes) -> dict[str, Any]:
    """``POST /api/v1/faults/stop`` on every node: {node: reverted ids or the error}."""
    client = _Signed(secret, timeout=5.0)
    out: dict[str, Any] = {}
    try:
        for node, base in sorted(urls.items()):
            try:
                status, data = client.call("POST", base, "/api/v1/faults/stop", {})
            except Exception as exc:
                out[node] = {"error": f"{type(exc).__name__}: {exc}"}
                continue
            out[node] = data if status == 200 else {"error": _refusal(node, status, data)}
    finally:
        client.close()
    return out


def run_plan(
    plan: ChaosPlan,
    secret: bytes,
    *,
    progress: Callable[[float, float], None] | None = None,
    bmc_auth: tuple[str, str] | None = None,
    on_event: Callable[[str, FaultRecord], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    install_signals: bool = True,
    probes: list[MemberProbe] | None = None,
    probe_every: float = 0.5,
) -> RunRecord:
    """Run ``plan`` in real time; returns what each node did.

    ``on_event("start"|"end", record)`` is called as faults start and end (the
    hub's annotations).  ``probes`` (``microrack.chaos.group_probes`` of the
    spec, and any ``--probe``) are checked every ``probe_every`` seconds
    through the run, each member in its own thread.  A node's
    refusal stops everything at once and raises ``ChaosError`` naming the node.
    """
    stop = threading.Event()
    interrupted: list[int] = []

    def _handler(signum: int, _frame: Any) -> None:
        interrupted.append(signum)
        stop.set()

    old: dict[signal.Signals, Any] = {}
    if install_signals and threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, _handler)
    client = _Signed(secret)
    rec = RunRecord(plan.scenario, plan.run_id, time.time())
    events: list[tuple[float, int, str, AgentStep | BmcStep]] = []
    for s in plan.agents:
        events.append((s.at_s, 1, "start", s))
    for b in plan.bmcs:
        events.append((b.at_s, 1, "start", b))
        events.append((b.at_s + b.duration_s, 0, "end", b))
    for a in plan.agents:
        events.append((a.at_s + a.duration_s, 0, "end", a))
    events.sort(key=lambda e: (e[0], e[1]))
    live: dict[str, tuple[AgentStep | BmcStep, FaultRecord]] = {}
    prober = Prober(probes or [], every=probe_every)
    rec.probes = prober.records
    t0 = clock()
    rec.t0_unix = time.time()
    failure: str | None = None
    prober.start()
    try:
        for at, _order, what, step in events:
            while not stop.is_set():
                now = clock() - t0
                if progress is not None:
                    progress(min(now, plan.duration_s), plan.duration_s)
                if now >= at:
                    break
                stop.wait(min(0.25, at - now))
            if stop.is_set():
                break
            key = step.id if isinstance(step, AgentStep) else f"bmc-{step.fault}-{step.node}"
            if what == "start":
                r = _start(client, step, plan, key, bmc_auth)
                rec.faults.append(r)
                if r.error is not None:
                    failure = r.error
                    break
                live[key] = (step, r)
                if on_event is not None:
                    on_event("start", r)
            elif key in live:
                st, r = live.pop(key)
                _end(client, st, r, bmc_auth)
                if on_event is not None:
                    on_event("end", r)
        if not stop.is_set() and failure is None:
            while clock() - t0 < plan.duration_s and not stop.is_set():
                if progress is not None:
                    progress(clock() - t0, plan.duration_s)
                stop.wait(0.25)
        if progress is not None:
            progress(min(clock() - t0, plan.duration_s), plan.duration_s)
    finally:
        for st, r in list(live.values()):  # stop everything still on
            _end(client, st, r, bmc_auth)
            if on_event is not None:
                on_event("end", r)
        client.close()
        prober.stop()
        for sig, h in old.items():
            signal.signal(sig, h)
    rec.end_unix = time.time()
    rec.interrupted = bool(interrupted)
    if failure is not None:
        raise ChaosError(f"{failure}; every fault already applied was reverted")
    return rec


def _start(
    client: _Signed,
    step: AgentStep | BmcStep,
    plan: ChaosPlan,
    key: str,
    bmc_auth: tuple[str, str] | None,
) -> FaultRecord:
    now = time.time()
    if isinstance(step, BmcStep):
        r = FaultRecord(
            step.fault,
            step.node,
            "power_cycle",
            key,
            now,
            commands=[
                f"{step.bmc_url}: node{step.slot} power off",
                f"after {step.duration_s:g} s: node{step.slot} power on",
            ],
        )
        try:
            _bmc_power(step, False, bmc_auth, 10.0)
        except Exception as exc:
            r.error = str(exc)
        return r
    body = {"id": step.id, "kind": step.kind, "duration_s": step.duration_s, "params": step.params}
    r = FaultRecord(step.fault, step.node, step.kind, step.id, now)
    try:
        status, data = client.call("POST", step.url, "/api/v1/faults", body)
    except Exception as exc:
        r.error = f"node {step.node} ({step.url}): {type(exc).__name__}: {exc}"
        return r
    if status != 201:
        r.error = _refusal(step.node, status, data)
    else:
        r.commands = [str(c) for c in data.get("commands", [])]
    return r


def _end(
    client: _Signed, step: AgentStep | BmcStep, r: FaultRecord, bmc_auth: tuple[str, str] | None
) -> None:
    r.end_unix = time.time()
    try:
        if isinstance(step, BmcStep):
            _bmc_power(step, True, bmc_auth, 10.0)
            return
        status, data = client.call("DELETE", step.url, f"/api/v1/faults/{step.id}")
        if status not in (200, 404):  # 404: the agent's own deadline came first
            r.error = _refusal(step.node, status, data)
    except Exception as exc:
        r.error = f"revert: {type(exc).__name__}: {exc} (the agent reverts at the deadline)"


def load_bmc_auth(path: str | Path | None) -> tuple[str, str] | None:
    """``user:password`` from a file (the BMC's Basic auth), or None."""
    if path is None:
        return None
    text = Path(path).read_text(encoding="utf-8").strip()
    user, sep, password = text.partition(":")
    if not sep or not user:
        raise ChaosError(f"{path}: expected one line user:password")
    return user, password

"""Health checks of the quorum groups cluster.yaml names, polled through a chaos run.

Each consensus role has a default check on every member's address (its first
NIC); ``services.health`` in cluster.yaml overrides any part of it:

==============  ==============  ==========================================
role            check           default target
==============  ==============  ==========================================
etcd            etcd-put        ``POST http://ADDR:2379/v3/kv/put`` (a write)
control-plane   http            ``GET https://ADDR:6443/readyz`` (2xx)
consul-server   leader          ``GET http://ADDR:8500/v1/status/leader``
nomad-server    leader          ``GET http://ADDR:4646/v1/status/leader``
vault-server    vault-health    ``GET http://ADDR:8200/v1/sys/health``
ceph-mon        none            no HTTP of its own (see ``CEPH_MON_REASON``)
==============  ==============  ==========================================

A member serves when its check passes: etcd commits a write (so only a
member on a side with quorum passes), Consul/Nomad name a leader, Vault
answers 200 (active), 429 (standby) or 473 (performance standby), a Ceph mgr's
``ceph_mon_quorum_status`` of ``mon.NODE`` is 1.  A group is available while
a majority of its members serve.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CEPH_MON_REASON",
    "DEFAULT_CHECKS",
    "GroupProbe",
    "MemberProbe",
    "MemberRecord",
    "Prober",
    "group_probes",
    "group_timeline",
    "passes",
]

CEPH_MON_REASON = (
    "Ceph monitors serve no HTTP of their own: set services.health.ceph-mon.url to the "
    "active mgr's prometheus module (http://MGR:9283/metrics, check ceph-mgr) to read "
    "ceph_mon_quorum_status per monitor"
)


@dataclass(frozen=True, slots=True)
class _Default:
    check: str
    scheme: str
    port: int
    path: str
    timeout_s: float = 2.0


DEFAULT_CHECKS: dict[str, _Default] = {
    "etcd": _Default("etcd-put", "http", 2379, "/v3/kv/put"),
    "control-plane": _Default("http", "https", 6443, "/readyz"),
    "consul-server": _Default("leader", "http", 8500, "/v1/status/leader"),
    "nomad-server": _Default("leader", "http", 4646, "/v1/status/leader"),
    "vault-server": _Default("vault-health", "http", 8200, "/v1/sys/health"),
    "ceph-mon": _Default("none", "http", 9283, "/metrics"),
}

_VAULT_SERVING = frozenset({200, 429, 473})


@dataclass(frozen=True, slots=True)
class MemberProbe:
    """One member's check: ``check`` against ``url`` (``None`` url: not probed)."""

    group: str
    node: str | None  # None: an extra --probe URL, not a spec member
    check: str
    url: str | None
    timeout_s: float
    grace_s: float = 0.0  # an outage this short or shorter is not counted (an election)


@dataclass(frozen=True, slots=True)
class GroupProbe:
    group: str
    members: tuple[MemberProbe, ...]
    skipped: str | None = None  # why the group is not probed


def group_probes(spec: Any) -> list[GroupProbe]:
    """The checks of every consensus group in ``spec`` (defaults, then services.health)."""
    from microrack.spec._rules import quorum_groups

    by_name = {n.name: n for n in spec.nodes}
    overrides = spec.services.health
    out = []
    for role, names in quorum_groups(spec).items():
        d = DEFAULT_CHECKS.get(role)
        if d is None:
            continue
        o = overrides.get(role)
        check = (o.check if o is not None and o.check else None) or d.check
        timeout = (o.timeout_s if o is not None and o.timeout_s else None) or d.timeout_s
        grace = (o.grace_s if o is not None else None) or 0.0
        if check == "none":
            reason = CEPH_MON_REASON if role == "ceph-mon" else "services.health says check: none"
            out.append(GroupProbe(role, (), reason))
            continue
        members = []
        for name in names:
            addr = by_name[name].address
            host = f"[{addr}]" if ":" in addr else addr
            if o is not None and o.url:
                url = o.url.replace("{address}", host).replace("{node}", name)
            else:
                scheme = (o.scheme if o is not None else None) or d.scheme
                port = (o.port if o is not None else None) or d.port
                path = (o.path if o is not None else None) or d.path
                url = f"{scheme}://{host}:{port}{path}"
            members.append(MemberProbe(role, name, check, url, float(timeout), float(grace)))
        out.append(GroupProbe(role, tuple(members)))
    return out


#: the most of an answer read: a health answer is small; a Ceph mgr's exposition is not
MAX_ANSWER = 1 << 20
MAX_EXPOSITION = 64 << 20


class _TooMuch(Exception):
    pass


def _fetch(client: Any, probe: MemberProbe) -> tuple[int, bytes]:
    """(status, body) within the probe's timeout overall, not per read; body capped."""
    limit = MAX_EXPOSITION if probe.check == "ceph-mgr" else MAX_ANSWER
    kw: dict[str, Any] = {"timeout": probe.timeout_s}
    method = "GET"
    if probe.check == "etcd-put":
        key = base64.b64encode(f"microrack/chaos/probe/{probe.node}".encode()).decode()
        val = base64.b64encode(repr(time.time()).encode()).decode()
        method, kw["json"] = "POST", {"key": key, "value": val}
    end = time.monotonic() + probe.timeout_s
    body = bytearray()
    with client.stream(method, probe.url, **kw) as r:
        for chunk in r.iter_bytes():
            body += chunk
            if len(body) > limit:
                raise _TooMuch(f"answer over {limit} bytes")
            if time.monotonic() > end:
                raise _TooMuch("answer slower than the timeout")
        return int(r.status_code), bytes(body)


def passes(client: Any, probe: MemberProbe) -> tuple[bool, str]:
    """Run one check: (serving, a short note of what answered)."""
    import httpx

    assert probe.url is not None
    try:
        status, body = _fetch(client, probe)
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    except _TooMuch as exc:
        return False, str(exc)
    note = f"HTTP {status}"
    if probe.check == "vault-health":
        return status in _VAULT_SERVING, note
    if not 200 <= status < 300:
        return False, note
    if probe.check == "etcd-put":
        doc = _json(body)
        return isinstance(doc, dict) and "header" in doc, note
    if probe.check == "leader":
        leader = _json(body)
        return isinstance(leader, str) and leader != "", note
    if probe.check == "ceph-mgr":
        return _mon_in_quorum(body.decode("utf-8", "replace"), probe.node or ""), note
    return True, note


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _mon_in_quorum(text: str, node: str) -> bool:
    """``ceph_mon_quorum_status{ceph_daemon="mon.NODE"} 1`` in a mgr's exposition."""
    pat = re.compile(
        r'^ceph_mon_quorum_status\{[^}]*ceph_daemon="mon\.' + re.escape(node) + r'"[^}]*\}\s+(\S+)',
        re.M,
    )
    m = pat.search(text)
    try:
        return m is not None and float(m.group(1)) == 1.0
    except ValueError:
        return False


@dataclass
class MemberRecord:
    """Every check of one member: when it answered (seconds after the run's start) and how."""

    group: str
    node: str | None  # None: a --probe URL of its own, not a spec member
    check: str
    url: str
    times: list[float] = field(default_factory=list)
    results: list[bool] = field(default_factory=list)
    last_note: str = ""
    grace_s: float = 0.0

    def counted(self) -> list[bool]:
        """``results`` with the failures of outages of at most ``grace_s`` forgiven.

        An outage still open at the end of the run is always counted.
        """
        out = list(self.results)
        if self.grace_s <= 0:
            return out
        start: int | None = None
        for k, ok in enumerate(self.results):
            if not ok and start is None:
                start = k
            elif ok and start is not None:
                if self.times[k] - self.times[start] <= self.grace_s:
                    out[start:k] = [True] * (k - start)
                start = None
        return out

    @property
    def checks(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> int:
        return self.results.count(False)

    @property
    def serving(self) -> bool:
        """Passed every counted check of the run (and was checked at all)."""
        return bool(self.results) and all(self.counted())

    def outages(self) -> list[tuple[float, float | None]]:
        """(first failed check, first passing check after it) of each run of failures."""
        out: list[tuple[float, float | None]] = []
        start: float | None = None
        for t, ok in zip(self.times, self.results, strict=True):
            if not ok and start is None:
                start = t
            elif ok and start is not None:
                out.append((start, t))
                start = None
        if start is not None:
            out.append((start, None))
        return out

    def as_dict(self) -> dict[str, Any]:
        outs = self.outages()
        return {
            "group": self.group,
            "node": self.node,
            "check": self.check,
            "url": self.url,
            "checks": self.checks,
            "failed": self.failed,
            "serving": self.serving,
            "grace_s": self.grace_s,
            "forgiven": sum(1 for a, b in zip(self.results, self.counted(), strict=True) if a != b),
            "first_failed_s": round(outs[0][0], 2) if outs else None,
            "recovered_s": _recovered(outs),
            "outages": [[round(a, 2), None if b is None else round(b, 2)] for a, b in outs],
            "last_answer": self.last_note,
            "times": [round(t, 2) for t in self.times],
            "results": list(self.results),
        }


def _recovered(outs: list[tuple[float, float | None]]) -> float | None:
    end = outs[-1][1] if outs else None
    return None if end is None else round(end, 2)


def group_timeline(members: list[MemberRecord]) -> list[tuple[float, bool]]:
    """(time, a majority of members serving) at every check, once every member was checked.

    Failures a member's ``grace_s`` forgives count as serving.
    """
    need = len(members) // 2 + 1
    events = sorted(
        (t, k, ok)
        for k, m in enumerate(members)
        for t, ok in zip(m.times, m.counted(), strict=True)
    )
    state: dict[int, bool] = {}
    out = []
    for t, k, ok in events:
        state[k] = ok
        if len(state) == len(members):
            out.append((t, sum(state.values()) >= need))
    return out


class Prober:
    """One thread per member, each checking every ``every`` seconds until stopped.

    Threads, not one loop: a member cut off answers only at its timeout, and
    must not slow the checks of the others.
    """

    def __init__(self, members: list[MemberProbe], every: float = 0.5) -> None:
        self.records = [
            MemberRecord(m.group, m.node, m.check, m.url or "", grace_s=m.grace_s)
            for m in members
            if m.url
        ]
        self._probes = [m for m in members if m.url]
        self.every = every
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._t0 = time.monotonic()

    def start(self) -> None:
        self._t0 = time.monotonic()
        for probe, rec in zip(self._probes, self.records, strict=True):
            t = threading.Thread(
                target=self._loop, args=(probe, rec), name=f"probe-{probe.group}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def _loop(self, probe: MemberProbe, rec: MemberRecord) -> None:
        import httpx

        # certificates are not checked: a health answer carries no secret, and a
        # cluster's services often use their own CA
        with httpx.Client(verify=False) as client:
            while not self._stop.is_set():
                ok, note = passes(client, probe)
                # the time of the answer: a write in flight at a heal passes after it
                rec.times.append(time.monotonic() - self._t0)
                rec.results.append(ok)
                rec.last_note = note
                self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=70)

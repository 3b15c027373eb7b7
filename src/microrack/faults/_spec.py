"""Fault requests: validation of the wire body and the commands a fault applies.

Everything here is pure (no file, process or socket is touched), so the
command side can show what a fault would do without reaching the node.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from microrack.errors import MicrorackError

__all__ = [
    "KINDS",
    "NFT_TABLE",
    "FaultError",
    "FaultRequest",
    "check_params",
    "ifb_name",
    "nft_names",
    "parse_request",
    "plan_commands",
    "tc_netem",
    "tc_netem_in",
    "tc_netem_revert",
]

KINDS: tuple[str, ...] = ("partition", "crash", "fan_stall", "throttle", "pressure", "disk_fill")
NFT_TABLE = "inet microrack_chaos"
MAX_PEERS = 256
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}\Z")
_PROTOCOLS = ("tcp", "udp", "icmp")


class FaultError(MicrorackError):
    """A fault request that cannot be honoured; ``status`` is the HTTP answer."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        self.status = status
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}" if field else message)


@dataclass(frozen=True, slots=True)
class FaultRequest:
    id: str
    kind: str
    duration_s: float
    params: Mapping[str, Any]
    dry_run: bool = False


def _bad(field: str, message: str) -> FaultError:
    return FaultError(400, message, field)


def _number(params: Mapping[str, Any], key: str, *, integer: bool = False) -> float:
    v = params[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise _bad(f"params.{key}", f"expected a number, got {v!r}")
    if integer and not isinstance(v, int):
        raise _bad(f"params.{key}", f"expected an integer, got {v!r}")
    return v


def _keys(
    params: Mapping[str, Any], allowed: tuple[str, ...], required: tuple[str, ...] = ()
) -> None:
    for k in params:
        if k not in allowed:
            raise _bad(f"params.{k}", f"unknown parameter (allowed: {', '.join(allowed)})")
    for k in required:
        if k not in params:
            raise _bad(f"params.{k}", "missing")


def _one_of(params: Mapping[str, Any], a: str, b: str) -> str:
    if (a in params) == (b in params):
        raise _bad(f"params.{a}", f"give exactly one of {a} and {b}")
    return a if a in params else b


def _partition(p: dict[str, Any]) -> None:
    _keys(p, ("peers", "direction", "protocols", "loss_pct", "delay_ms", "jitter_ms"), ("peers",))
    peers = p["peers"]
    if not isinstance(peers, list) or not 1 <= len(peers) <= MAX_PEERS:
        raise _bad("params.peers", f"expected a list of 1 to {MAX_PEERS} addresses")
    nets = []
    for i, peer in enumerate(peers):
        try:
            if not isinstance(peer, str):
                raise ValueError
            nets.append(str(ipaddress.ip_network(peer, strict=False)))
        except ValueError:
            raise _bad(f"params.peers[{i}]", f"not an IP address or CIDR: {peer!r}") from None
    p["peers"] = nets
    direction = p.setdefault("direction", "both")
    if direction not in ("in", "out", "both"):
        raise _bad("params.direction", f"expected in, out or both, got {direction!r}")
    protos = p.setdefault("protocols", ["tcp", "udp"])
    if (
        not isinstance(protos, list)
        or not protos
        or any(x not in _PROTOCOLS for x in protos)
        or len(set(protos)) != len(protos)
    ):
        raise _bad("params.protocols", f"expected a non-empty subset of {list(_PROTOCOLS)}")
    p.setdefault("loss_pct", 100)
    if not 0 < _number(p, "loss_pct") <= 100:
        raise _bad("params.loss_pct", f"expected 0 < loss_pct <= 100, got {p['loss_pct']}")
    for key in ("delay_ms", "jitter_ms"):
        p.setdefault(key, 0)
        if _number(p, key) < 0:
            raise _bad(f"params.{key}", f"expected >= 0, got {p[key]}")
    if p["jitter_ms"] and not p["delay_ms"]:
        raise _bad("params.jitter_ms", "needs delay_ms > 0")


def _crash(p: dict[str, Any]) -> None:
    _keys(p, ("target",), ("target",))
    t = p["target"]
    if not isinstance(t, str) or not t or len(t) > 256 or any(c.isspace() for c in t):
        raise _bad("params.target", f"expected a unit or container name, got {t!r}")


def _fan_stall(p: dict[str, Any]) -> None:
    _keys(p, ("limit_c",))
    if "limit_c" in p and not -50 <= _number(p, "limit_c") <= 150:
        raise _bad("params.limit_c", f"expected -50..150 °C, got {p['limit_c']}")


def _throttle(p: dict[str, Any]) -> None:
    _keys(p, ("max_khz", "max_pct"))
    key = _one_of(p, "max_khz", "max_pct")
    v = _number(p, key, integer=True)
    if key == "max_khz" and v <= 0:
        raise _bad("params.max_khz", f"expected a positive frequency in kHz, got {v}")
    if key == "max_pct" and not 1 <= v <= 100:
        raise _bad("params.max_pct", f"expected 1..100, got {v}")


def _pressure(p: dict[str, Any]) -> None:
    _keys(p, ("cpu", "memory_bytes"))
    if not p:
        raise _bad("params.cpu", "give cpu, memory_bytes or both")
    p.setdefault("cpu", 0)
    p.setdefault("memory_bytes", 0)
    if _number(p, "cpu") < 0:
        raise _bad("params.cpu", f"expected 0 < cpu <= the node's cores, got {p['cpu']}")
    if _number(p, "memory_bytes", integer=True) < 0:
        raise _bad("params.memory_bytes", f"expected >= 0, got {p['memory_bytes']}")
    if not p["cpu"] and not p["memory_bytes"]:
        raise _bad("params.cpu", "cpu and memory_bytes are both 0: nothing to apply")


def _disk_fill(p: dict[str, Any]) -> None:
    _keys(p, ("bytes", "fill_pct"))
    key = _one_of(p, "bytes", "fill_pct")
    v = _number(p, key, integer=key == "bytes")
    if key == "bytes" and v <= 0:
        raise _bad("params.bytes", f"expected > 0, got {v}")
    if key == "fill_pct" and not 0 < v < 100:
        raise _bad("params.fill_pct", f"expected 0 < fill_pct < 100, got {v}")


#: One validator per kind: checks ``params`` in place and fills in the defaults.
_VALIDATORS: dict[str, Callable[[dict[str, Any]], None]] = {
    "partition": _partition,
    "crash": _crash,
    "fan_stall": _fan_stall,
    "throttle": _throttle,
    "pressure": _pressure,
    "disk_fill": _disk_fill,
}


def check_params(kind: str, params: Any) -> dict[str, Any]:
    """``params`` of ``kind`` checked, defaults filled in; :class:`FaultError` 400 otherwise."""
    if kind not in KINDS:
        raise _bad("kind", f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
    if not isinstance(params, dict):
        raise _bad("params", "expected an object")
    p = dict(params)
    _VALIDATORS[kind](p)
    return p


def parse_request(body: Any, *, max_lease: float = 3600.0) -> FaultRequest:
    """The JSON body of ``POST /api/v1/faults`` checked field by field."""
    if not isinstance(body, dict):
        raise _bad("body", "expected a JSON object")
    for k in body:
        if k not in ("id", "kind", "duration_s", "params", "dry_run"):
            raise _bad(str(k), "unknown field")
    fid = body.get("id")
    if not isinstance(fid, str) or not _ID.match(fid):
        raise _bad("id", "expected 1-64 characters of A-Z a-z 0-9 . _ -")
    kind = body.get("kind")
    if kind not in KINDS:
        raise _bad("kind", f"unknown fault kind {kind!r} (known: {', '.join(KINDS)})")
    d = body.get("duration_s")
    if isinstance(d, bool) or not isinstance(d, int | float) or not math.isfinite(d) or d <= 0:
        raise _bad("duration_s", f"expected a number of seconds > 0, got {d!r}")
    if d > max_lease:
        raise _bad(
            "duration_s", f"{d:g} s is longer than this node's --chaos-max-lease {max_lease:g} s"
        )
    dry = body.get("dry_run", False)
    if not isinstance(dry, bool):
        raise _bad("dry_run", f"expected true or false, got {dry!r}")
    params = check_params(kind, body.get("params", {}))
    return FaultRequest(fid, kind, float(d), params, dry)


def nft_names(fault_id: str) -> tuple[str, str, str]:
    """Names of the IPv4 set, the IPv6 set and the chain prefix of one fault in the table."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", fault_id)
    tag = f"f{len(fault_id)}_{safe}"  # the length keeps "a.b" and "a_b" apart
    return f"{tag}_v4", f"{tag}_v6", tag


def _timeout(seconds: float) -> str:
    return f"{max(1, math.ceil(seconds * 1000))}ms"


def nft_partition(fault_id: str, params: Mapping[str, Any], duration_s: float) -> list[str]:
    """The ``nft -f -`` lines that add one partition (sets expire in the kernel by themselves).

    ``out`` drops the packets of every flow this node opens toward the peers,
    ``in`` those of every flow the peers open toward it (``ct direction
    original``), so a one-way partition is one-way for TCP too: the answers
    of a flow the other side opened still pass.
    """
    set4, set6, chain = nft_names(fault_id)
    v4 = [n for n in params["peers"] if ":" not in n]
    v6 = [n for n in params["peers"] if ":" in n]
    protos = params.get("protocols", ["tcp", "udp"])
    l4 = ", ".join("icmp, ipv6-icmp" if x == "icmp" else x for x in protos)
    loss = params.get("loss_pct", 100)
    drop = "drop" if loss >= 100 else f"numgen random mod 100 < {math.ceil(loss)} drop"
    # a random draw per packet: loss_pct < 100 is rounded up to whole percent
    ttl = _timeout(duration_s)
    lines = [f"add table {NFT_TABLE}"]
    for name, typ, nets in ((set4, "ipv4_addr", v4), (set6, "ipv6_addr", v6)):
        elems = f" elements = {{ {', '.join(nets)} }};" if nets else ""
        lines.append(
            f"add set {NFT_TABLE} {name} {{ type {typ}; flags interval,timeout; "
            f"timeout {ttl};{elems} }}"
        )
    hooks = {"in": ("input", "saddr"), "out": ("output", "daddr")}
    direction = params.get("direction", "both")
    for d in ("in", "out") if direction == "both" else (direction,):
        hook, field = hooks[d]
        lines.append(
            f"add chain {NFT_TABLE} {chain}_{d} {{ type filter hook {hook} "
            f"priority -10; policy accept; }}"
        )
        if v4:
            lines.append(
                f"add rule {NFT_TABLE} {chain}_{d} ip {field} @{set4} "
                f"meta l4proto {{ {l4} }} ct direction original {drop}"
            )
        if v6:
            lines.append(
                f"add rule {NFT_TABLE} {chain}_{d} ip6 {field} @{set6} "
                f"meta l4proto {{ {l4} }} ct direction original {drop}"
            )
    return lines


#: prio's default priomap (TOS -> band 0..2): ordinary traffic keeps its bands,
#: the delayed band 4 (class 1:4) is reached only through the peer filters.
PRIOMAP = "1 2 2 2 1 2 0 0 1 1 1 1 1 1 1 1"
NETEM_CLASS = "1:4"


def tc_netem(dev: str, params: Mapping[str, Any]) -> list[list[str]]:
    """The ``tc`` calls that delay only this node's packets toward the peers on ``dev``.

    A ``prio`` root with a fourth band under ``netem``; u32 filters steer the
    packets whose destination is a peer (IPv4 and IPv6) into that band, so
    traffic to anyone else keeps its latency.  This is ``out`` and ``both``
    (with ``both`` each side delays what it sends); ``in`` is :func:`tc_netem_in`.
    """
    jitter = [f"{params['jitter_ms']:g}ms"] if params.get("jitter_ms") else []
    out = [
        ["tc", "qdisc", "replace", "dev", dev, "root", "handle", "1:", "prio", "bands", "4",
         "priomap", *PRIOMAP.split()],
        ["tc", "qdisc", "replace", "dev", dev, "parent", NETEM_CLASS, "handle", "40:", "netem",
         "delay", f"{params['delay_ms']:g}ms", *jitter],
    ]  # fmt: skip
    for net in params["peers"]:
        v6 = ":" in net
        out.append(
            ["tc", "filter", "add", "dev", dev, "parent", "1:", "protocol",
             "ipv6" if v6 else "ip", "prio", "2" if v6 else "1", "u32", "match",
             "ip6" if v6 else "ip", "dst", net, "flowid", NETEM_CLASS]
        )  # fmt: skip
    return out


def ifb_name(fault_id: str) -> str:
    """The ifb device of one fault's inbound delay (15 characters at most, as Linux wants)."""
    return "mrc" + hashlib.sha256(fault_id.encode()).hexdigest()[:10]


def tc_netem_in(devs: list[str], ifb: str, params: Mapping[str, Any]) -> list[list[str]]:
    """The calls that delay only the packets arriving from the peers on ``devs``.

    An ifb device holds the ``netem`` qdisc; each device's ``ingress`` qdisc has
    u32 filters on the peers' source addresses whose ``mirred`` action redirects
    those packets through it (the ingress side has no queue of its own to delay in).
    """
    jitter = [f"{params['jitter_ms']:g}ms"] if params.get("jitter_ms") else []
    out = [
        ["ip", "link", "add", ifb, "type", "ifb"],
        ["ip", "link", "set", "dev", ifb, "up"],
        ["tc", "qdisc", "replace", "dev", ifb, "root", "netem", "delay",
         f"{params['delay_ms']:g}ms", *jitter],
    ]  # fmt: skip
    for dev in devs:
        out.append(["tc", "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"])
        for net in params["peers"]:
            v6 = ":" in net
            out.append(
                ["tc", "filter", "add", "dev", dev, "parent", "ffff:", "protocol",
                 "ipv6" if v6 else "ip", "prio", "2" if v6 else "1", "u32", "match",
                 "ip6" if v6 else "ip", "src", net, "action", "mirred", "egress", "redirect",
                 "dev", ifb]
            )  # fmt: skip
    return out


def tc_netem_revert(devs: list[str], ifb: str | None) -> list[list[str]]:
    """What removes a delay: the root (outbound) or ingress qdiscs and the ifb device."""
    if ifb is None:
        return [["tc", "qdisc", "del", "dev", dev, "root"] for dev in devs]
    out = [["tc", "qdisc", "del", "dev", dev, "ingress"] for dev in devs]
    return [*out, ["ip", "link", "del", ifb]]


def nft_partition_revert(fault_id: str, direction: str) -> list[str]:
    set4, set6, chain = nft_names(fault_id)
    lines = []
    for d in ("in", "out") if direction == "both" else (direction,):
        lines += [f"flush chain {NFT_TABLE} {chain}_{d}", f"delete chain {NFT_TABLE} {chain}_{d}"]
    return [*lines, f"delete set {NFT_TABLE} {set4}", f"delete set {NFT_TABLE} {set6}"]


def plan_commands(
    kind: str,
    params: Mapping[str, Any],
    node_facts: Mapping[str, Any] | None = None,
    *,
    fault_id: str = "FAULT",
    duration_s: float = 60.0,
) -> list[str]:
    """What applying a fault would do, one line per nft rule, tc call, file write or unit action.

    ``node_facts`` may give ``cpufreq`` ({policy dir: cpuinfo_max_freq kHz}), ``ncpu``,
    ``fill_dir``, ``fs_size_bytes``, ``fan_override`` (path), ``fan_max_c``,
    ``netem_devs`` (the devices toward the peers) and ``simulate``; what is missing is
    shown as a placeholder.
    """
    facts = node_facts or {}
    p = check_params(kind, params)
    if kind == "partition":
        out = [f"nft -f - <<< {line}" for line in nft_partition(fault_id, p, duration_s)]
        if p["delay_ms"]:
            devs = list(facts.get("netem_devs") or [facts.get("netem_dev", "DEV")])
            if p["direction"] == "in":
                ifb = ifb_name(fault_id)
                calls = tc_netem_in(devs, ifb, p)
                undo = tc_netem_revert(devs, ifb)
            else:
                calls = [argv for dev in devs for argv in tc_netem(dev, p)]
                undo = tc_netem_revert(devs, None)
            out += [" ".join(argv) for argv in calls]
            out += ["at deadline: " + " ".join(a) for a in undo]
        return out
    if kind == "crash":
        return [
            f"{_unit_cmd(p['target'], 'stop')}",
            f"at deadline: {_unit_cmd(p['target'], 'start')}",
        ]
    if kind == "fan_stall":
        limit = p.get("limit_c", facts.get("fan_max_c", "the curve's maximum"))
        path = facts.get("fan_override", "FAN_OVERRIDE")
        return [f"write {path}: duty 0 until deadline or hottest sensor >= {limit} °C"]
    if kind == "throttle":
        pol = facts.get("cpufreq") or {"/sys/devices/system/cpu/cpufreq/policyN": None}
        out = []
        for name, max_khz in sorted(pol.items()):
            if "max_khz" in p:
                cap: Any = p["max_khz"]
            elif max_khz:
                cap = max(1, int(max_khz) * int(p["max_pct"]) // 100)
            else:
                cap = f"{p['max_pct']}% of cpuinfo_max_freq"
            out.append(f"write {name}/scaling_max_freq: {cap}")
        return out
    if kind == "pressure":
        if facts.get("simulate"):
            return [f"twin load +{p['cpu']:g} cores, +{p['memory_bytes']} bytes"]
        return [
            f"cgroup microrack-chaos-{fault_id}: cpu.max "
            f"{int(p['cpu'] * 100000) if p['cpu'] else 'max'} 100000, "
            f"memory.max {p['memory_bytes'] + (16 << 20) if p['memory_bytes'] else 'max'}",
            f"burner: {p['cpu']:g} cores, {p['memory_bytes']} bytes resident",
        ]
    # disk_fill
    d = facts.get("fill_dir", "FILL_DIR")
    if "bytes" in p:
        size: Any = p["bytes"]
    elif facts.get("fs_size_bytes"):
        size = int(facts["fs_size_bytes"] * p["fill_pct"] / 100)
    else:
        size = f"{p['fill_pct']}% of the filesystem"
    if facts.get("simulate"):
        return [f"twin file system /: +{size} bytes used", "at deadline: the twin frees them"]
    return [
        f"write {d}/microrack-chaos-{fault_id}.fill: {size} bytes",
        f"at deadline: remove {d}/microrack-chaos-{fault_id}.fill",
    ]


def _unit_cmd(target: str, action: str) -> str:
    engine, sep, name = target.partition(":")
    if sep and engine in ("podman", "docker"):
        return (
            f"{engine} {action} --time 2 {name}"
            if action == "stop"
            else f"{engine} {action} {name}"
        )
    return f"systemctl {action} {target}"

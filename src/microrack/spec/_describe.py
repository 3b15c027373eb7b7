"""``microrack spec describe``: the nodes as a table and what survives losing nodes."""

from __future__ import annotations

import json
from collections import defaultdict

from microrack.spec._boot import boot_dependencies, cannot_boot
from microrack.spec._model import ClusterSpec, Node
from microrack.spec._rules import node_peak_w, node_ram_need_gb
from microrack.spec._tolerance import Scenario, boot_tolerance, failure_scenarios, tolerance


def summary(spec: ClusterSpec) -> dict[str, object]:
    """Per group: failures tolerated, and which single/double losses break it."""
    scenarios = failure_scenarios(spec, 2, domains=True)
    broken: dict[str, dict[int, list[list[str]]]] = defaultdict(lambda: {1: [], 2: []})
    broken_by_domain: dict[str, list[str]] = defaultdict(list)
    names: dict[str, str] = {}
    for sc in scenarios:
        for o in sc.outcomes:
            names[o.name] = o.kind
            if o.ok:
                continue
            if sc.cause:
                broken_by_domain[o.name].append(sc.cause)
            else:
                broken[o.name][len(sc.lost)].append(list(sc.lost))
    tol = tolerance(spec) | boot_tolerance(spec)
    groups = []
    for name, kind in names.items():
        b = broken[name]
        groups.append(
            {
                "name": name,
                "kind": kind,
                "tolerates": tol.get(name),
                "survives_any_one": not b[1],
                "survives_any_two": not b[2],
                "broken_by_one": b[1],
                "broken_by_two": b[2],
                "broken_by_switch_or_power": broken_by_domain[name],
            }
        )
    return {
        "cluster": spec.cluster.name,
        "nodes": [
            {
                "name": n.name,
                "board": n.board,
                "ram_gb": n.ram_gb,
                "address": n.address,
                "mac": n.mac,
                "roles": [r.value for r in n.roles],
                "peak_w": round(node_peak_w(n), 1),
                "ram_need_gb": round(node_ram_need_gb(n), 2),
                **_boot(spec, n),
            }
            for n in spec.nodes
        ],
        "groups": groups,
        "cannot_boot_without": boot_blast(spec),
        "scenarios_checked": len(scenarios),
    }


def _boot(spec: ClusterSpec, node: Node) -> dict[str, object]:
    nb = node.netboot if node.boot == "net" else None
    return {
        "boot": node.boot or "local",
        "firmware": nb.firmware if nb else None,
        "serial": node.serial,
        "boot_needs": [
            {"service": d.service, "node": d.node, "hard": d.hard}
            for d in boot_dependencies(spec, node)
        ],
    }


def boot_blast(spec: ClusterSpec) -> dict[str, list[str]]:
    """For each node others need at boot: the nodes that cannot boot while it is down."""
    out = {}
    for n in spec.nodes:
        stuck = cannot_boot(spec, frozenset({n.name}))
        if stuck:
            out[n.name] = stuck
    return out


def _boot_cell(n: dict) -> str:  # type: ignore[type-arg]
    text = str(n["boot"]) + (f" ({n['firmware']})" if n["firmware"] else "")
    hard: dict[str, list[str]] = {}
    soft: list[str] = []
    for d in n["boot_needs"]:
        if d["hard"]:
            hard.setdefault(d["node"], []).append(d["service"])
        else:
            soft.append(f"{d['service']} from {d['node']}")
    needs = [f"{'+'.join(svcs)} from {node}" for node, svcs in hard.items()]
    if needs:
        text += ": needs " + ", ".join(needs)
    elif soft:
        text += ": address by " + ", ".join(soft)
    return text


def _losses(lists: list[list[str]], limit: int = 4) -> str:
    shown = ["+".join(x) for x in lists[:limit]]
    more = len(lists) - limit
    return ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")


def describe(spec: ClusterSpec, *, as_json: bool = False) -> int:
    data = summary(spec)
    if as_json:
        print(json.dumps(data, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    nodes = Table(title=f"{spec.cluster.name} ({spec.cluster.domain}): {len(spec.nodes)} nodes")
    cols = ("node", "board", "RAM GB", "needs GB", "peak W", "address", "MAC", "roles", "boot")
    for col in cols:
        nodes.add_column(
            col,
            justify="right" if col in ("RAM GB", "needs GB", "peak W") else "left",
            overflow="fold",  # a narrow terminal wraps names, never elides them
        )
    for n in data["nodes"]:  # type: ignore[attr-defined]
        nodes.add_row(
            n["name"],
            n["board"],
            f"{n['ram_gb']:g}",
            f"{n['ram_need_gb']:g}",
            f"{n['peak_w']:g}",
            n["address"],
            n["mac"],
            ", ".join(n["roles"]),
            _boot_cell(n),
        )
    console.print(nodes)
    for server, stuck in data["cannot_boot_without"].items():  # type: ignore[attr-defined]
        console.print(f"{server} down: {', '.join(stuck)} cannot boot")
    groups = Table(title="What survives losing nodes")
    for col in ("group", "kind", "tolerates", "any 1 lost", "any 2 lost", "switch/PSU lost"):
        groups.add_column(col, overflow="fold")
    for g in data["groups"]:  # type: ignore[attr-defined]
        one = "yes" if g["survives_any_one"] else f"no: {_losses(g['broken_by_one'])}"
        two = "yes" if g["survives_any_two"] else f"no: {_losses(g['broken_by_two'])}"
        tol = "-" if g["tolerates"] is None else str(g["tolerates"])
        dom = g["broken_by_switch_or_power"]
        domain = "no: " + ", ".join(dom) if dom else "yes"
        groups.add_row(g["name"], g["kind"], tol, one, two, domain)
    console.print(groups)
    return 0


__all__ = ["Scenario", "describe", "summary"]

"""A chaos run beside the twin's prediction for the same scenario and cluster.yaml.

Per node: the twin's peak temperature, time throttled, energy and time down
(``microrack sim``'s figures) beside what the hub measured (``--hub``).  Per
quorum group and per member: whether each member kept serving (its health
check through the run) beside whether the twin predicts it on a side with
quorum; the group is available while a majority of its members serve.
"""

from __future__ import annotations

from typing import Any

from microrack.chaos._health import GroupProbe, MemberRecord, group_timeline

__all__ = ["compare", "report_text"]

_FIGURES = ("peak_temp_c", "throttled_s", "energy_wh", "nodedown_delay_s")


def _twin_groups(pred: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """group -> {ok, members, cut_off: {member: [[start, end], ...]}} over every fault."""
    out: dict[str, dict[str, Any]] = {}
    end_of_run = float(pred["duration_s"])
    for f in pred["faults"]:
        start = float(f["at_s"])
        end = end_of_run if f["duration_s"] is None else min(end_of_run, start + f["duration_s"])
        for g in f["groups"]:
            cur = out.setdefault(
                g["group"], {"ok": True, "members": list(g.get("members", [])), "cut_off": {}}
            )
            cur["ok"] = cur["ok"] and bool(g["ok"])
            for m in g.get("cut_off", []):
                cur["cut_off"].setdefault(m, []).append([start, end])
    return out


def _twin_nodedown(pred: dict[str, Any], node: str, first_at: dict[str, float]) -> float | None:
    """Seconds from the node's first fault to the twin's NodeDown (None: none fired)."""
    at = first_at.get(node)
    if at is None:
        return None
    starts = [
        float(a["start_s"])
        for a in pred["alerts"]
        if a["rule"] == "NodeDown" and a["node"] == node and float(a["start_s"]) >= at
    ]
    return round(min(starts) - at, 1) if starts else None


def _member(rec: MemberRecord, twin: dict[str, Any] | None) -> dict[str, Any]:
    row = rec.as_dict()
    if twin is None or rec.node is None:
        row.update(predicted_serving=None, predicted_out=[], agree=None)
        return row
    windows = twin["cut_off"].get(rec.node, [])
    row["predicted_serving"] = not windows
    row["predicted_out"] = windows
    row["agree"] = None if not rec.results else row["predicted_serving"] == rec.serving
    return row


def _group(
    name: str,
    records: list[MemberRecord],
    twin: dict[str, Any] | None,
    check: str,
    skipped: str | None,
) -> dict[str, Any]:
    timeline = group_timeline(records) if records else []
    lost = [t for t, ok in timeline if not ok]
    measured = None if not timeline else not lost
    predicted = None if twin is None else bool(twin["ok"])
    members = [_member(r, twin) for r in records]
    agree = None if measured is None or predicted is None else measured == predicted
    if agree is not False and any(m["agree"] is False for m in members):
        agree = False  # the group agrees, a member does not
    return {
        "group": name,
        "check": check,
        "skipped": skipped,
        "members": members,
        "measured_available": measured,
        "first_unavailable_s": round(lost[0], 2) if lost else None,
        "predicted_available": predicted,
        "agree": agree,
    }


def compare(
    record: Any,
    predicted: Any,
    groups: list[GroupProbe] | None = None,
    measured: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """One dict: the run's record, the twin's result, per-node figures and per-group verdicts.

    ``groups`` are the spec's quorum groups (their members' records are in
    ``record.probes``); ``--probe`` records of no spec member form their own
    groups.  ``measured`` is the hub's figures per node (``read_measured``);
    without a hub every measured figure is None ("not measured").
    """
    pred = predicted.as_dict()
    twin = _twin_groups(pred)
    by_group: dict[str, list[MemberRecord]] = {}
    for r in record.probes:
        by_group.setdefault(r.group if r.node is not None else f"probe:{r.group}", []).append(r)
    out_groups = []
    for g in groups or []:
        recs = by_group.pop(g.group, [])
        check = g.members[0].check if g.members else "none"
        out_groups.append(_group(g.group, recs, twin.get(g.group), check, g.skipped))
    for key, recs in sorted(by_group.items()):
        name = key.removeprefix("probe:")
        out_groups.append(_group(name, recs, twin.get(name), recs[0].check, None))
    by_node: dict[str, list[str]] = {}
    first_at: dict[str, float] = {}
    for f in record.faults:
        by_node.setdefault(f.node, []).append(f.kind)
        at = float(pred["faults"][f.fault]["at_s"]) if f.fault < len(pred["faults"]) else 0.0
        first_at[f.node] = min(first_at.get(f.node, at), at)
    exact_wh = {n.name: n.energy_kwh * 1000 for n in predicted.nodes}  # as_dict rounds kWh
    nodes = []
    for n in pred["nodes"]:
        m = (measured or {}).get(n["name"], {})
        nodes.append(
            {
                "name": n["name"],
                "faults": by_node.get(n["name"], []),
                "predicted_peak_temp_c": n["peak_temp_c"],
                "predicted_throttled_s": n["throttled_s"],
                "predicted_energy_kwh": n["energy_kwh"],
                "predicted_energy_wh": round(exact_wh[n["name"]], 6),
                "predicted_down_s": n["down_s"],
                "predicted_nodedown_delay_s": _twin_nodedown(pred, n["name"], first_at),
                **{f"measured_{k}": m.get(k) for k in _FIGURES},
            }
        )
    return {
        "run": record.as_dict(),
        "predicted": pred,
        "nodes": nodes,
        "groups": out_groups,
        "measured_from": None if measured is None else "hub",
        "agree": all(g["agree"] is not False for g in out_groups),
    }


def _fig(v: Any, fmt: str, none: str = "not measured") -> str:
    return none if v is None else format(v, fmt)


def report_text(rep: dict[str, Any]) -> str:
    run = rep["run"]
    lines = [
        f"chaos run {run['scenario']} ({run['run_id']}): {len(run['faults'])} fault "
        f"request(s){', interrupted' if run['interrupted'] else ''}"
    ]
    for f in run["faults"]:
        took = "" if f["end_unix"] is None else f" {f['end_unix'] - f['start_unix']:.1f}s"
        lines.append(f"  {f['node']}: {f['kind']}{took}{'  ' + f['error'] if f['error'] else ''}")
    hub_none = "none" if rep["measured_from"] is not None else "not measured"
    lines.append("node            faults        peak °C twin/hub    throttled s    energy Wh")
    for n in rep["nodes"]:
        if not n["faults"] and rep["measured_from"] is None:
            continue
        lines.append(
            f"  {n['name']:<14}{','.join(n['faults']) or '-':<14}"
            f"{n['predicted_peak_temp_c']:>6.1f}/{_fig(n['measured_peak_temp_c'], '.1f'):<12}"
            f"{n['predicted_throttled_s']:>5.0f}/{_fig(n['measured_throttled_s'], '.0f'):<12}"
            f"{n['predicted_energy_wh']:>6.2f}/{_fig(n['measured_energy_wh'], '.2f')}"
        )
        if n["faults"] and (
            rep["measured_from"] is not None or n["predicted_nodedown_delay_s"] is not None
        ):
            lines.append(
                f"  {'':<14}NodeDown after its fault: twin "
                f"{_fig(n['predicted_nodedown_delay_s'], '.1f', 'none')} s, hub "
                f"{_fig(n['measured_nodedown_delay_s'], '.1f', hub_none)} s"
            )
    for g in rep["groups"]:
        if g["skipped"]:
            lines.append(f"group {g['group']}: not probed: {g['skipped']}")
            continue
        if g["measured_available"] is None:
            meas = "not measured"
        elif g["measured_available"]:
            meas = "available"
        else:
            meas = f"LOST at t+{g['first_unavailable_s']}s"
        twin = {None: "no twin group", True: "available", False: "LOST"}[g["predicted_available"]]
        verdict = {None: "", True: "  agree", False: "  DISAGREE"}[g["agree"]]
        lines.append(f"group {g['group']} ({g['check']}): measured {meas}; twin {twin}{verdict}")
        for m in g["members"]:
            if not m["checks"]:
                state = "never checked"
            elif m["serving"] and m["failed"]:
                state = (
                    f"served; {m['failed']}/{m['checks']} failed within its "
                    f"{m['grace_s']:g} s grace (t+{m['first_failed_s']}s)"
                )
            elif m["serving"]:
                state = f"served {m['checks']}/{m['checks']}"
            else:
                rec = m["recovered_s"]
                state = f"failed {m['failed']}/{m['checks']} from t+{m['first_failed_s']}s" + (
                    f", recovered t+{rec}s" if rec is not None else ", not recovered"
                )
            pred = {None: "", True: "; twin: serving", False: "; twin: cut off"}[
                m["predicted_serving"]
            ]
            lines.append(f"    {m['node'] or m['url']}: {state}{pred}")
    return "\n".join(lines) + "\n"

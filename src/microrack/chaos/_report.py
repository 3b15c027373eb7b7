"""A chaos run beside the twin's prediction for the same scenario and cluster.yaml.

Per node: the twin's peak temperature, time throttled, energy and time down
(``microrack sim``'s figures) beside the faults that ran there; per quorum
group: whether the twin predicts it stays available and whether its health
probe (``--probe GROUP=URL``) answered through the whole run, and whether the
two agree.
"""

from __future__ import annotations

from typing import Any

__all__ = ["compare", "report_text"]


def compare(record: Any, predicted: Any) -> dict[str, Any]:
    """One dict: the run's record, the twin's result and the per-group verdicts."""
    pred = predicted.as_dict()
    group_ok: dict[str, bool] = {}
    for f in pred["faults"]:
        for g in f["groups"]:
            group_ok[g["group"]] = group_ok.get(g["group"], True) and bool(g["ok"])
    groups = []
    for p in record.probes:
        twin = group_ok.get(p.name)
        groups.append(
            {
                "group": p.name,
                "probe": p.url,
                "measured_available": p.available,
                "first_failed_s": p.as_dict()["first_failed_s"],
                "predicted_available": twin,
                "agree": None if twin is None else twin == p.available,
            }
        )
    by_node: dict[str, list[str]] = {}
    for f in record.faults:
        by_node.setdefault(f.node, []).append(f.kind)
    nodes = [
        {
            "name": n["name"],
            "faults": by_node.get(n["name"], []),
            "predicted_peak_temp_c": n["peak_temp_c"],
            "predicted_throttled_s": n["throttled_s"],
            "predicted_energy_kwh": n["energy_kwh"],
            "predicted_down_s": n["down_s"],
        }
        for n in pred["nodes"]
    ]
    return {
        "run": record.as_dict(),
        "predicted": pred,
        "nodes": nodes,
        "groups": groups,
        "agree": all(g["agree"] is not False for g in groups),
    }


def report_text(rep: dict[str, Any]) -> str:
    run = rep["run"]
    lines = [
        f"chaos run {run['scenario']} ({run['run_id']}): {len(run['faults'])} fault "
        f"request(s){', interrupted' if run['interrupted'] else ''}"
    ]
    for f in run["faults"]:
        took = "" if f["end_unix"] is None else f" {f['end_unix'] - f['start_unix']:.1f}s"
        lines.append(f"  {f['node']}: {f['kind']}{took}{'  ' + f['error'] if f['error'] else ''}")
    lines.append(
        "node            faults              twin: peak °C  throttled s  energy Wh  down s"
    )
    for n in rep["nodes"]:
        if not n["faults"]:
            continue
        lines.append(
            f"  {n['name']:<14}{','.join(n['faults']):<20}{n['predicted_peak_temp_c']:>13.1f}"
            f"{n['predicted_throttled_s']:>13.0f}{n['predicted_energy_kwh'] * 1000:>11.2f}"
            f"{n['predicted_down_s']:>8.0f}"
        )
    for g in rep["groups"]:
        meas = "available" if g["measured_available"] else f"LOST at t+{g['first_failed_s']}s"
        twin = {None: "no twin group", True: "available", False: "LOST"}[g["predicted_available"]]
        verdict = {None: "", True: "  agree", False: "  DISAGREE"}[g["agree"]]
        lines.append(f"group {g['group']}: measured {meas}; twin {twin}{verdict}")
    return "\n".join(lines) + "\n"

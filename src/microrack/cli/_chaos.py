"""``microrack chaos run|stop``: a scenario's faults on the real cluster, through the agents."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from microrack.errors import MicrorackError, UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="run|stop")
    run_p = sub.add_parser("run", help="apply a scenario's faults to the cluster, then revert")
    run_p.add_argument("scenario", metavar="SCENARIO.yaml", help="a microrack sim scenario")
    _common(run_p)
    run_p.add_argument(
        "--dry-run",
        action="store_true",
        help="print every request and the rules/commands per node; send nothing",
    )
    run_p.add_argument(
        "--bmc-auth", metavar="FILE", help="user:password for the Turing Pi 2 BMC (power_cycle)"
    )
    run_p.add_argument(
        "--hub",
        metavar="URL",
        help="mark each fault's window on this hub's charts (hub --chaos-token) and read "
        "back each node's measured temperature, throttling, energy and NodeDown delay",
    )
    run_p.add_argument(
        "--probe",
        action="append",
        default=[],
        metavar="GROUP=URL",
        help="an extra health endpoint polled through the run (2xx = serving), beside the "
        "checks of the spec's quorum roles, e.g. web=http://10.0.0.1/health (repeatable)",
    )
    run_p.add_argument(
        "--probe-every",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="seconds between two checks of one member (default 0.5)",
    )
    run_p.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    run_p.add_argument(
        "--html", metavar="FILE", help="write the report (predicted vs measured, timeline) as HTML"
    )
    run_p.add_argument("--force", action="store_true", help="replace an existing --html file")
    stop_p = sub.add_parser("stop", help="end every fault on every node with chaos: at once")
    _common(stop_p)
    stop_p.add_argument("--json", action="store_true", help="machine-readable result on stdout")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--spec", required=True, metavar="cluster.yaml", help="the cluster")
    p.add_argument(
        "--token",
        metavar="FILE",
        help="the shared secret the agents' --chaos-token reads (not for --dry-run)",
    )
    p.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="NODE=URL",
        help="reach NODE's agent at URL instead of cluster.yaml's address (repeatable)",
    )


def _pairs(flag: str, values: list[str], shape: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values:
        name, sep, url = v.partition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise UsageError(flag, f"expected {shape}, got {v!r}")
        if name in out:
            raise UsageError(flag, f"{name!r} given twice")
        out[name] = url
    return out


def _overrides(values: list[str]) -> dict[str, str]:
    return _pairs("--agent", values, "NODE=http://HOST:PORT")


def run(args: argparse.Namespace) -> int:
    from microrack.spec import load_spec

    spec = load_spec(args.spec)
    urls = _overrides(args.agent)
    if args.action == "stop":
        return _stop(args, spec, urls)
    from microrack.chaos import plan_run
    from microrack.sim import load_scenario

    if args.html and not args.dry_run:
        from microrack.cli._paths import check_output

        check_output("--html", args.html, force=args.force, inputs=[args.spec, args.scenario])
    if not 0.05 <= args.probe_every <= 60:
        raise UsageError("--probe-every", "expected 0.05 to 60 seconds")
    scenario = load_scenario(args.scenario)
    plan = plan_run(spec, scenario, path=args.scenario, spec_path=args.spec, urls=urls)
    if args.dry_run:
        return _dry_run(args, plan, spec)
    if not args.token:
        raise UsageError("--token", "needed to sign the requests (or use --dry-run)")
    extra = _pairs("--probe", args.probe, "GROUP=http://HOST:PORT/PATH")
    return _run(args, plan, spec, scenario, extra)


def _secret(path: str) -> bytes:
    from microrack.faults import AuthError, load_secret

    try:
        return load_secret(path)
    except (AuthError, OSError) as exc:
        raise UsageError("--token", f"{path}: {exc}") from None


def _stop(args: argparse.Namespace, spec: Any, urls: dict[str, str]) -> int:
    from microrack.chaos import agent_urls, stop_nodes

    if not args.token:
        raise UsageError("--token", "needed to sign the requests")
    every = agent_urls(spec, urls)
    targets = {n.name: every[n.name] for n in spec.nodes if n.chaos is not None}
    result = stop_nodes(targets, _secret(args.token))
    failed = [n for n, r in result.items() if "error" in r]
    if args.json:
        json.dump({"nodes": result}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        for node, r in result.items():
            line = (
                r["error"] if "error" in r else f"reverted {', '.join(r['reverted']) or 'nothing'}"
            )
            sys.stdout.write(f"{node}: {line}\n")
    return 1 if failed else 0


def _dry_run(args: argparse.Namespace, plan: Any, spec: Any) -> int:
    from microrack.chaos import group_probes
    from microrack.faults import plan_commands

    extra = _pairs("--probe", args.probe, "GROUP=http://HOST:PORT/PATH")
    checks = [
        {"group": g.group, "node": m.node, "check": m.check, "url": m.url, "skipped": None}
        for g in group_probes(spec)
        for m in g.members
    ]
    checks += [
        {"group": g.group, "node": None, "check": "none", "url": None, "skipped": g.skipped}
        for g in group_probes(spec)
        if g.skipped
    ]
    checks += [
        {"group": n, "node": None, "check": "http", "url": u, "skipped": None}
        for n, u in sorted(extra.items())
    ]

    out = []
    for s in plan.agents:
        cmds = plan_commands(s.kind, s.params, None, fault_id=s.id, duration_s=s.duration_s)
        out.append(
            {
                "node": s.node,
                "url": s.url,
                "at_s": s.at_s,
                "duration_s": s.duration_s,
                "id": s.id,
                "kind": s.kind,
                "params": s.params,
                "commands": cmds,
            }
        )
    for b in plan.bmcs:
        out.append(
            {
                "node": b.node,
                "url": b.bmc_url,
                "at_s": b.at_s,
                "duration_s": b.duration_s,
                "id": f"bmc-{b.fault}-{b.node}",
                "kind": "power_cycle",
                "params": {"slot": b.slot},
                "commands": [
                    f"GET {b.bmc_url}/api/bmc?opt=set&type=power&node{b.slot}=0",
                    f"after {b.duration_s:g} s: "
                    f"GET {b.bmc_url}/api/bmc?opt=set&type=power&node{b.slot}=1",
                ],
            }
        )
    out.sort(key=lambda r: (r["at_s"], r["node"]))
    if args.json:
        json.dump(
            {"scenario": plan.scenario, "dry_run": True, "requests": out, "checks": checks},
            sys.stdout,
            indent=2,
        )
        sys.stdout.write("\n")
        return 0
    for r in out:
        sys.stdout.write(
            f"t+{r['at_s']:g}s for {r['duration_s']:g}s  {r['node']}  {r['kind']} "
            f"{json.dumps(r['params'], sort_keys=True)}\n"
        )
        for c in r["commands"]:
            sys.stdout.write(f"    {c}\n")
    for c in checks:
        if c["skipped"]:
            sys.stdout.write(f"check {c['group']}: not probed: {c['skipped']}\n")
        else:
            who = f" {c['node']}" if c["node"] else ""
            sys.stdout.write(f"check {c['group']}{who}: {c['check']} {c['url']}\n")
    return 0


def _run(
    args: argparse.Namespace, plan: Any, spec: Any, scenario: Any, extra: dict[str, str]
) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from microrack.chaos import HubAnnotator, MemberProbe, group_probes, load_bmc_auth, run_plan

    groups = group_probes(spec)
    probes = [m for g in groups for m in g.members]
    probes += [MemberProbe(name, None, "http", url, 2.0) for name, url in sorted(extra.items())]
    secret = _secret(args.token)
    auth = load_bmc_auth(args.bmc_auth)
    hub = HubAnnotator(args.hub, secret, plan) if args.hub else None
    console = Console(stderr=True)
    if console.is_terminal:
        with Progress(transient=True, console=console) as bar:
            task = bar.add_task(f"chaos {plan.scenario}", total=plan.duration_s)

            def progress(done: float, total: float) -> None:
                bar.update(task, completed=done, total=total)

            rec = run_plan(
                plan,
                secret,
                progress=progress,
                bmc_auth=auth,
                on_event=hub,
                probes=probes,
                probe_every=args.probe_every,
            )
    else:
        rec = run_plan(
            plan, secret, bmc_auth=auth, on_event=hub, probes=probes, probe_every=args.probe_every
        )
    if hub is not None:
        hub.close()
        for e in hub.errors:
            sys.stderr.write(f"microrack chaos: warning: {e}\n")
    from microrack.chaos import compare, measured_for, report_text, write_html
    from microrack.sim import run_scenario

    measured = None
    if args.hub:
        try:
            measured = measured_for(args.hub, rec, [n.name for n in spec.nodes])
        except MicrorackError as exc:
            sys.stderr.write(f"microrack chaos: warning: {exc} (measured figures left out)\n")
    rep = compare(rec, run_scenario(spec, scenario, path=args.scenario), groups, measured)
    if args.html:
        write_html(rep, args.html)
    if args.json:
        json.dump(rep, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(report_text(rep))
        if rec.interrupted:
            sys.stdout.write("interrupted: every fault was reverted\n")
    return 130 if rec.interrupted else 0

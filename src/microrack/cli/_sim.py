"""``microrack sim CLUSTER.yaml --scenario SCENARIO.yaml``: a cluster's twin under a scenario."""

from __future__ import annotations

import argparse
import json
import sys

from microrack.cli._paths import check_output


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cluster", metavar="CLUSTER.yaml", help="the cluster (microrack spec)")
    parser.add_argument(
        "--scenario",
        required=True,
        metavar="SCENARIO.yaml",
        help="workloads, ambient temperature and faults over time",
    )
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    parser.add_argument(
        "--report",
        metavar="OUT.html",
        help="write an HTML report with temperature, power and clock plots",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace output files that already exist"
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.progress import Progress

    from microrack.sim import load_scenario, run_scenario, summary_text, write_html
    from microrack.spec import load_spec

    if args.report:
        check_output(
            "--report", args.report, force=args.force, inputs=[args.cluster, args.scenario]
        )
    spec = load_spec(args.cluster)
    scenario = load_scenario(args.scenario)
    console = Console(stderr=True)
    if console.is_terminal:  # a bar for long scenarios, on a terminal only
        with Progress(transient=True, console=console) as bar:
            task = bar.add_task("simulating", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            result = run_scenario(spec, scenario, path=args.scenario, progress=progress)
    else:
        result = run_scenario(spec, scenario, path=args.scenario)
    if args.report:
        write_html(result, args.report)
    if args.json:
        json.dump(result.as_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(summary_text(result))
        if args.report:
            sys.stdout.write(f"report: {args.report}\n")
    return 0

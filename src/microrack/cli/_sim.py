"""``microrack sim CLUSTER.yaml --scenario SCENARIO.yaml``: a cluster's twin under a scenario."""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("cluster", metavar="CLUSTER.yaml", help="the cluster (microrack spec)")
    parser.add_argument("--scenario", required=True, metavar="SCENARIO.yaml",
                        help="workloads, ambient temperature and faults over time")
    parser.add_argument("--json", action="store_true", help="machine-readable result on stdout")
    parser.add_argument("--report", metavar="OUT.html",
                        help="write an HTML report with temperature, power and clock plots")


def run(args: argparse.Namespace) -> int:
    from microrack.sim import run_files, summary_text, write_html

    result = run_files(args.cluster, args.scenario)
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

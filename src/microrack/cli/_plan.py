"""``microrack plan REQUIREMENTS.yaml [--json] [--top K] [--emit-spec FILE] [--html FILE]``
and ``microrack plan --compare BOARD BOARD ... [--json]``."""

from __future__ import annotations

import argparse
import json
import sys

from microrack.cli._paths import check_output
from microrack.errors import MicrorackError, UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("requirements", nargs="?", help="requirements file (YAML)")
    parser.add_argument(
        "--compare",
        nargs="+",
        metavar="BOARD",
        help="show these boards side by side with sources (no requirements)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    parser.add_argument("--top", type=int, default=5, metavar="K", help="builds to show (5)")
    parser.add_argument(
        "--emit-spec", metavar="FILE", help="write a starting cluster.yaml for the best build"
    )
    parser.add_argument(
        "--html", metavar="FILE", help="write an interactive chart of the builds (plotly HTML)"
    )
    parser.add_argument(
        "--catalog",
        metavar="FILE",
        help="extra catalog file: adds boards, replaces boards with the same id",
    )
    parser.add_argument(
        "--force", action="store_true", help="replace output files that already exist"
    )


def run(args: argparse.Namespace) -> int:
    from microrack.catalog import load_catalog, planning_rules
    from microrack.plan import emit_spec, load_requirements, search
    from microrack.plan._report import render, result_to_json

    if args.compare:
        return _compare(args)
    if not args.requirements:
        raise UsageError("requirements", "give a requirements file, or --compare BOARD BOARD")
    if args.top < 1:
        raise UsageError("--top", f"expected at least 1, got {args.top}")
    for flag, path in (("--emit-spec", args.emit_spec), ("--html", args.html)):
        if path:
            check_output(flag, path, force=args.force, inputs=[args.requirements, args.catalog])
    catalog = load_catalog(args.catalog)
    req = load_requirements(args.requirements, catalog)
    rules = planning_rules()
    result = search(req, catalog, rules)
    if args.emit_spec:
        if not result.ranked:
            raise UsageError("--emit-spec", "no build meets the requirements; nothing to write")
        emit_spec(result.ranked[0], req, rules, args.emit_spec)
    if args.html:
        from microrack.plan._plot import write_html

        write_html(result, args.top, args.html)
    if args.json:
        json.dump(result_to_json(result, args.top), sys.stdout, indent=2)
        print()
    else:
        from rich.console import Console

        console = Console(width=max(Console().width, 180))
        console.print(render(result, args.top))
        if args.emit_spec:
            console.print(f"wrote {args.emit_spec} for {result.ranked[0].label}")
        if args.html:
            console.print(f"wrote {args.html}")
    # nothing qualifying is an answer, not an error; a script can still tell from the status
    return 0 if result.ranked else 3


def _compare(args: argparse.Namespace) -> int:
    from microrack.catalog import load_catalog
    from microrack.plan._compare import compare_json, render_compare

    for flag in ("requirements", "emit_spec", "html"):
        if getattr(args, flag):
            name = flag if flag == "requirements" else "--" + flag.replace("_", "-")
            raise UsageError(name, "not used with --compare")
    catalog = load_catalog(args.catalog)
    try:
        boards = [catalog.board(name) for name in args.compare]
    except MicrorackError as exc:  # an unknown board: the message lists the known ids
        raise UsageError("--compare", str(exc)) from None
    if len({b.id for b in boards}) != len(boards):
        raise UsageError("--compare", "a board is listed twice")
    if args.json:
        json.dump(compare_json(boards, catalog), sys.stdout, indent=2)
        print()
    else:
        from rich.console import Console

        Console(width=max(Console().width, 60 + 45 * len(boards))).print(
            render_compare(boards, catalog)
        )
    return 0

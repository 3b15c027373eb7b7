"""``microrack build agent``: the single-file agent for boards without a venv."""

from __future__ import annotations

import argparse
import json
import sys

from microrack.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="artifact", metavar="ARTIFACT")
    agent = sub.add_parser(
        "agent",
        help="one executable file: agent, fan controller and their dependencies (zipapp)",
        description="one executable file that runs with the board's python3 (3.11 or newer): "
        "the agent, the fan controller and their dependencies, for every architecture given",
    )
    agent.add_argument("--out", required=True, metavar="FILE", help="where to write it")
    agent.add_argument(
        "--arch",
        action="append",
        metavar="ARCH",
        help="arm64, armhf, riscv64, amd64 (repeatable; default all four)",
    )
    agent.add_argument(
        "--python",
        action="append",
        metavar="X.Y",
        help="Python versions to carry compiled parts for (repeatable; default 3.11 3.12 3.13)",
    )
    agent.add_argument(
        "--wheels",
        metavar="DIR",
        help="where downloaded wheels are kept (default ~/.cache/microrack/wheels)",
    )
    agent.add_argument("--force", action="store_true", help="replace FILE if it exists")
    agent.add_argument("--json", action="store_true", help="print what was built as JSON")


def run(args: argparse.Namespace) -> int:
    from microrack.build import ARCHITECTURES, PYTHONS, build_agent

    if args.artifact != "agent":
        raise UsageError("ARTIFACT", "give 'agent' (microrack build agent --out FILE)")

    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    result = build_agent(
        args.out,
        architectures=tuple(dict.fromkeys(args.arch or ARCHITECTURES)),
        pythons=tuple(dict.fromkeys(args.python or PYTHONS)),
        wheel_cache=args.wheels,
        force=args.force,
        progress=progress,
    )
    if args.json:
        print(
            json.dumps(
                {
                    "path": str(result.path),
                    "bytes": result.size,
                    "sha256": result.sha256,
                    "architectures": list(result.architectures),
                    "pythons": list(result.pythons),
                    "files": result.files,
                }
            )
        )
    else:
        print(
            f"wrote {result.path} ({result.size / 1e6:.1f} MB, "
            f"{', '.join(result.architectures)}; Python {', '.join(result.pythons)})"
        )
    return 0

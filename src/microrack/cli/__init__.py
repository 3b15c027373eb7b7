"""The one ``microrack`` command.

Each sub-command lives in ``microrack/cli/_<name>.py`` and is a thin call into
one package.  Such a module defines::

    def configure(parser: argparse.ArgumentParser) -> None   # add arguments
    def run(args: argparse.Namespace) -> int                 # do it, return exit code

Only the module of the sub-command being run is imported, so ``microrack
agent`` starts without loading the hub's or the twin's dependencies.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import platform
import sys
from collections.abc import Sequence
from typing import NoReturn

from microrack import __version__
from microrack.errors import MicrorackError

__all__ = ["COMMANDS", "main"]

# name -> (one-line help, the extra that brings its dependencies)
COMMANDS: dict[str, tuple[str, str]] = {
    "agent": ("per-node telemetry: Prometheus /metrics, JSON API, signed beacon", "agent"),
    "fan": ("fan control with curves, hysteresis and failsafe", "fan"),
    "hub": ("discovery, embedded time-series store, alerts and web dashboard", "hub"),
    "spec": ("validate, describe and render a cluster.yaml", "spec"),
    "catalog": ("the board catalog, every number with its source", "catalog"),
    "plan": ("requirements in, ranked and costed builds out", "plan"),
    "bench": ("CPU, storage, network and mixed workloads on Dask", "bench"),
    "sim": ("run a scenario on the hardware twin of a cluster", "sim"),
    "chaos": ("a scenario's faults on the real cluster, signed, reverted on time", "chaos"),
    "demo": ("a whole simulated cluster on this machine: agents, fans, hub", "all"),
    "build": ("the single-file agent for boards (zipapp, every architecture)", "fan"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _command_in(argv: Sequence[str]) -> str | None:
    for token in argv:
        if not token.startswith("-"):
            return token if token in COMMANDS else None
    return None


def _version() -> str:
    """The version and where it runs: a single file runs on many architectures."""
    return f"microrack {__version__} ({platform.machine()}, Python {platform.python_version()})"


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = _Parser(prog="microrack", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output on stderr"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    chosen = _command_in(argv)
    for name, (help_text, _extra) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(f"microrack.cli._{name}")
            module.configure(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        parser = build_parser(argv)
    except ModuleNotFoundError as exc:
        return _missing_extra(_command_in(argv), exc)
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG
        if args.verbose > 1
        else logging.INFO
        if args.verbose
        else logging.WARNING,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    run = getattr(args, "_run", None)
    if run is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(run(args) or 0)
    except MicrorackError as exc:
        print(f"microrack {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        return _missing_extra(args.command, exc)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed early (`microrack catalog | head`): not an error.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0


def _missing_extra(command: str | None, exc: ModuleNotFoundError) -> int:
    extra = COMMANDS[command][1] if command in COMMANDS else "all"
    if (exc.name or "").split(".")[0] == "plotly":
        extra = "plot"  # charts are optional on parts that run on a board
    print(
        f"microrack {command or ''}: error: missing module {exc.name!r}; "
        f"install it with: pip install 'microrack[{extra}]'",
        file=sys.stderr,
    )
    return 1

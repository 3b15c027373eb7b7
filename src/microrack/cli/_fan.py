"""``microrack fan``: run the fan control loop, or convert a fancontrol file."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from types import FrameType

import yaml

from microrack.errors import MicrorackError, ResourceError, UsageError

log = logging.getLogger("microrack.thermal")


def configure(parser: argparse.ArgumentParser) -> None:
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--config", metavar="FILE", help="fan.yaml to run")
    src.add_argument("--board", metavar="ID", help="run the catalog's default curve for this board")
    src.add_argument(
        "--import-fancontrol",
        metavar="FILE",
        help="convert an lm-sensors fancontrol file to fan.yaml and exit",
    )
    parser.add_argument(
        "--output", metavar="FILE", help="with --import-fancontrol: write here, not stdout"
    )
    parser.add_argument("--root", metavar="DIR", default="/", help="host root for /sys (default /)")
    parser.add_argument(
        "--simulate",
        metavar="BOARD",
        help="control the fan of a simulated BOARD (the hardware twin), not this host",
    )
    parser.add_argument("--sim-script", metavar="FILE", help="with --simulate: load/fault timeline")
    parser.add_argument("--seed", type=int, default=0, help="with --simulate: random seed")
    parser.add_argument(
        "--dry-run", action="store_true", help="read sensors and fans, write nothing"
    )
    parser.add_argument(
        "--once", action="store_true", help="one control step, then hand the fans back"
    )
    parser.add_argument(
        "--json", action="store_true", help="print each step's state as a JSON line"
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.html",
        help="write each fan's control law (duty against temperature) as HTML and exit",
    )


def _import(args: argparse.Namespace) -> int:
    from microrack.thermal import import_fancontrol

    text = yaml.safe_dump(import_fancontrol(args.import_fancontrol), sort_keys=False)
    if args.output:
        _write(args.output, text, "--output")
    else:
        sys.stdout.write(text)
    return 0


def _write(path: str, text: str, argument: str) -> None:
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise ResourceError(f"{argument} {path}: cannot write: {exc.strerror or exc}") from exc


def _board(board: str, argument: str) -> str:
    """The catalog id of ``board``; an unknown board is a usage error naming ``argument``."""
    from microrack.catalog import board_profile

    try:
        return str(board_profile(board).id)
    except MicrorackError as exc:
        raise UsageError(argument, str(exc)) from exc


def run(args: argparse.Namespace) -> int:
    if args.import_fancontrol:
        return _import(args)
    if args.output:
        raise UsageError("--output", "only with --import-fancontrol FILE")
    if not args.config and not args.board:
        raise UsageError("--config", "give a fan.yaml (or --board ID, or --import-fancontrol FILE)")
    if args.board:
        args.board = _board(args.board, "--board")
    if args.sim_script and not args.simulate:
        raise UsageError("--sim-script", "only with --simulate BOARD")

    from microrack.sensors import HostFS, LocalFS
    from microrack.thermal import FanService

    fs: HostFS
    if args.simulate:
        from microrack.sim import open_node

        board = _board(args.simulate, "--simulate")
        if args.sim_script and not os.path.isfile(args.sim_script):
            raise UsageError("--sim-script", f"no such file: {args.sim_script!r}")
        fs = open_node(board, seed=args.seed, script=args.sim_script)
    else:
        if not os.path.isdir(args.root):
            raise UsageError("--root", f"not a directory: {args.root!r}")
        fs = LocalFS(args.root)
    if args.config:
        service = FanService.from_file(args.config, fs, dry_run=args.dry_run)
    else:
        service = FanService.for_board(args.board, fs, dry_run=args.dry_run)

    if args.plot:
        from microrack.thermal._plot import law_figure

        _write(args.plot, law_figure(service.fans).to_html(include_plotlyjs=True), "--plot")
        print(args.plot)
        return 0

    def report(s: FanService) -> None:
        if args.json:
            print(json.dumps({"ts": round(time.time(), 3), "fans": s.status()}), flush=True)
        for st in s.status():
            log.info(
                "fan %s: %s C -> %.0f%% (%s)",
                st["fan"],
                st["input_celsius"],
                st["duty_ratio"] * 100,
                st["failsafe"] or st["stage"],
            )

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s: fans to full and handed back", signal.Signals(signum).name)
        service.request_stop()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if args.once:
            service.step(time.monotonic())
            report(service)
        else:
            service.run(on_step=report)
    finally:
        # Full duty and the previous pwm_enable, whether we stop on a signal or on an error.
        service.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0

"""``microrack fan``: run the fan control loop, make the fans safe, calibrate, convert."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

import yaml

from microrack.cli._args import (
    board_id,
    directory,
    input_file,
    output_file,
    positive_float,
    positive_int,
)
from microrack.cli._paths import check_output
from microrack.errors import ResourceError, UsageError

if TYPE_CHECKING:
    from microrack.thermal import FanService

log = logging.getLogger("microrack.thermal")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "action",
        nargs="?",
        choices=("calibrate",),
        help="calibrate: measure each fan's start and minimum duty, rpm curve and maximum "
        "rpm, and write them into --config",
    )
    parser.add_argument(
        "--steps", type=positive_int, default=20, help="calibrate: duty steps (default 20)"
    )
    parser.add_argument(
        "--settle",
        type=positive_float,
        default=3.0,
        metavar="SECONDS",
        help="calibrate: wait after each duty change (default 3)",
    )
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--config", metavar="FILE", help="fan.yaml to run")
    src.add_argument(
        "--board",
        metavar="ID",
        type=board_id,
        help="run the catalog's default curve for this board",
    )
    src.add_argument(
        "--import-fancontrol",
        metavar="FILE",
        help="convert an lm-sensors fancontrol file to fan.yaml and exit",
    )
    parser.add_argument(
        "--output",
        metavar="FILE",
        type=output_file,
        help="with --import-fancontrol: write here, not stdout",
    )
    parser.add_argument(
        "--root", metavar="DIR", default="/", type=directory, help="host root for /sys (default /)"
    )
    parser.add_argument(
        "--simulate",
        metavar="BOARD",
        type=board_id,
        help="control the fan of a simulated BOARD (the hardware twin), not this host",
    )
    parser.add_argument(
        "--sim-script", metavar="FILE", type=input_file, help="with --simulate: load/fault timeline"
    )
    parser.add_argument("--seed", type=int, default=0, help="with --simulate: random seed")
    parser.add_argument(
        "--dry-run", action="store_true", help="read sensors and fans, write nothing"
    )
    parser.add_argument(
        "--once", action="store_true", help="one control step, then hand the fans back"
    )
    parser.add_argument(
        "--failsafe",
        action="store_true",
        help="set every configured fan to full duty, hand it back, and exit "
        "(the unit's ExecStopPost: safe even after SIGKILL)",
    )
    parser.add_argument(
        "--state-file",
        metavar="FILE",
        default=None,
        help="where the running daemon records itself, to detect an unclean exit "
        "(default /run/microrack/fan-<hash of the config and root>.json)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print each step's state as a JSON line"
    )
    parser.add_argument(
        "--chaos-override",
        metavar="FILE",
        default="/var/lib/microrack/fan-override.json",
        help="fan_stall override written by the agent's fault endpoint (default %(default)s); "
        "removed when the controller starts",
    )
    parser.add_argument(
        "--plot",
        metavar="FILE.html",
        type=output_file,
        help="write each fan's control law (duty against temperature) as HTML and exit",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="replace an existing --output/--plot file; calibrate: replace an earlier calibration",
    )


def _import(args: argparse.Namespace) -> int:
    from microrack.thermal import import_fancontrol

    if args.output:
        check_output("--output", args.output, force=args.force, inputs=[args.import_fancontrol])
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


def _check(args: argparse.Namespace) -> None:
    if args.import_fancontrol:
        for flag in ("failsafe", "once", "dry_run", "plot", "action"):
            if getattr(args, flag):
                name = "calibrate" if flag == "action" else "--" + flag.replace("_", "-")
                raise UsageError(name, "not with --import-fancontrol")
        return
    if args.output:
        raise UsageError("--output", "only with --import-fancontrol FILE")
    if not args.config and not args.board:
        raise UsageError("--config", "give a fan.yaml (or --board ID, or --import-fancontrol FILE)")
    if args.sim_script and not args.simulate:
        raise UsageError("--sim-script", "only with --simulate BOARD")
    if args.action == "calibrate":
        if not args.config:
            raise UsageError("calibrate", "needs --config FILE: the results are written into it")
        for flag in ("failsafe", "once", "plot", "dry_run"):
            if getattr(args, flag):
                raise UsageError("--" + flag.replace("_", "-"), "not with calibrate")
    if args.failsafe and (args.once or args.plot or args.dry_run):
        raise UsageError("--failsafe", "not with --once, --plot or --dry-run")


def run(args: argparse.Namespace) -> int:
    _check(args)
    if args.import_fancontrol:
        return _import(args)
    if args.plot:
        check_output("--plot", args.plot, force=args.force, inputs=[args.config])

    from microrack.sensors import HostFS, LocalFS
    from microrack.thermal import FanService

    fs: HostFS
    if args.simulate:
        from microrack.sim import open_node

        fs = open_node(args.simulate, seed=args.seed, script=args.sim_script)
    else:
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
    if args.failsafe:
        return _failsafe(args, service)
    if args.action == "calibrate":
        from microrack.cli._fan_calibrate import calibrate

        return calibrate(args, service, fs)
    return _control(args, service)


def _state_file(args: argparse.Namespace) -> str:
    """``--state-file``, or one per fan source and root under /run/microrack."""
    from microrack.thermal._runstate import default_state_file

    if args.state_file:
        return str(args.state_file)
    source = os.path.realpath(args.config) if args.config else f"board:{args.board}"
    return default_state_file(source, os.path.realpath(args.root))


def _failsafe(args: argparse.Namespace, service: FanService) -> int:
    """Full duty and the mode from before the (possibly killed) daemon; exit 0 when all safe."""
    from microrack.thermal._runstate import read_state, write_state

    path = _state_file(args)
    previous = read_state(path)
    problems = service.failsafe(previous.modes if previous else None)
    for line in problems:
        print(f"microrack fan --failsafe: {line}", file=sys.stderr)
    if previous is not None:
        write_state(path, replace(previous, failsafe_at=time.time()))
    if problems:
        return 1
    names = ", ".join(f.name for f in service.fans)
    print(f"fans at full duty and handed back: {names}")
    return 0


def _control(args: argparse.Namespace, service: FanService) -> int:
    from microrack.sdnotify import Notifier
    from microrack.thermal._runstate import (
        RunState,
        describe_unclean,
        read_state,
        remove_state,
        write_state,
    )

    notifier = Notifier()
    watchdog = notifier.watchdog_seconds
    if watchdog is not None and watchdog < 2 * service.interval_s + 2 * service.io_timeout_s:
        log.warning(
            "WatchdogSec=%gs is shorter than two control steps (interval_s %gs): "
            "systemd will kill a healthy loop",
            watchdog,
            service.interval_s,
        )
    service.override_path = Path(args.chaos_override)
    service.clear_override()
    track = not args.dry_run and not args.simulate  # the twin lives and dies with us
    path = _state_file(args)
    modes: dict[str, str] = {}
    if track:
        previous = read_state(path)
        if previous is not None and previous.pid != os.getpid():
            log.warning("%s", describe_unclean(previous))
    source = args.config or f"--board {args.board}"
    state = RunState(pid=os.getpid(), started=time.time(), source=source)

    def report(s: FanService) -> None:
        nonlocal modes
        if track and s.modes() != modes:  # after the first step: the modes found on open
            modes = s.modes()
            write_state(path, replace(state, modes=dict(modes)))
        if s.steps == 1:
            notifier.ready(f"controlling {len(s.fans)} fan(s)")
        # Only a step that ran to the end feeds the watchdog; a frozen loop is restarted.
        notifier.watchdog()
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
        notifier.stopping()
        service.request_stop()

    previous_handlers = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    if track:
        write_state(path, state)
    clean = False
    try:
        if args.once:
            service.step(time.monotonic())
            report(service)
        else:
            service.run(on_step=report)
        clean = True
    finally:
        # Full duty and the previous pwm_enable, whether we stop on a signal or on an error.
        service.close()
        if track and clean:
            remove_state(path)
        for s, handler in previous_handlers.items():
            signal.signal(s, handler)
    return 0

"""``microrack agent``: per-node telemetry (Prometheus /metrics, JSON API, signed beacon)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import math
import os

from microrack.errors import UsageError

log = logging.getLogger("microrack.agent")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {text!r}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    from microrack.agent import DEFAULT_BUFFER
    from microrack.beacon import DEFAULT_GROUP, DEFAULT_PORT

    parser.add_argument("--listen", default="0.0.0.0:9101", metavar="HOST:PORT",
                        help="address of the HTTP endpoint (default %(default)s)")
    parser.add_argument("--interval", type=_positive, default=5.0, metavar="SECONDS",
                        help="collection interval (default %(default)s)")
    parser.add_argument("--root", default="/", metavar="DIR",
                        help="read /proc and /sys under DIR (a captured tree; default /)")
    parser.add_argument("--board", metavar="ID",
                        help="board id or alias from the catalog (power estimate, throttle limits)")
    parser.add_argument("--node", metavar="NAME", help="node name (default: host name)")
    parser.add_argument("--buffer", type=_count, default=DEFAULT_BUFFER, metavar="N",
                        help="samples kept for /api/v1/samples (default %(default)s = 1 h at 5 s)")
    parser.add_argument("--beacon-key", metavar="FILE",
                        help="shared key for the signed multicast beacon; without it none is sent")
    parser.add_argument("--beacon-group", default=DEFAULT_GROUP, metavar="GROUP",
                        help="beacon multicast group (default %(default)s)")
    parser.add_argument("--beacon-port", type=int, default=DEFAULT_PORT, metavar="PORT",
                        help="beacon UDP port (default %(default)s)")
    parser.add_argument("--simulate", metavar="BOARD",
                        help="read a simulated BOARD from the hardware twin instead of this host")
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated node")
    parser.add_argument("--sim-script", metavar="FILE", help="fault/load timeline for the twin")
    parser.add_argument("--fan", metavar="FILE|auto",
                        help="run fan control from a curve file, or the board's default curve")


def run(args: argparse.Namespace) -> int:
    from microrack.agent import Agent, AgentConfig, parse_listen
    from microrack.beacon import load_key
    from microrack.sensors import HostFS, LocalFS

    host, port = parse_listen(args.listen)
    if not 0 < args.beacon_port < 65536:
        raise UsageError("--beacon-port", f"expected 1-65535, got {args.beacon_port}")
    try:
        multicast = ipaddress.IPv4Address(args.beacon_group).is_multicast
    except ValueError:
        multicast = False
    if not multicast:
        raise UsageError("--beacon-group", "expected an IPv4 multicast address (224.0.0.0/4), "
                         f"got {args.beacon_group!r}")
    key = load_key(args.beacon_key) if args.beacon_key else None
    board = _check_board(args.board, "--board") if args.board else None
    fs: HostFS
    if args.simulate:
        sim_board = _check_board(args.simulate, "--simulate")
        board = board or sim_board
        from microrack.sim import open_node

        if args.sim_script and not os.path.isfile(args.sim_script):
            raise UsageError("--sim-script", f"no such file: {args.sim_script!r}")
        fs = open_node(args.simulate, seed=args.seed, name=args.node, script=args.sim_script)
    else:
        if args.sim_script:
            raise UsageError("--sim-script", "only meaningful with --simulate BOARD")
        if not os.path.isdir(args.root):
            raise UsageError("--root", f"not a directory: {args.root!r}")
        fs = LocalFS(args.root)

    extra = []
    fan = None
    if args.fan:
        from microrack.thermal import FanService

        if args.fan == "auto":
            if not board:
                raise UsageError("--fan", "'auto' needs --board or --simulate BOARD")
            fan = FanService.for_board(board, fs)
        else:
            if not os.path.isfile(args.fan):
                raise UsageError("--fan", f"no such file: {args.fan!r}")
            fan = FanService.from_file(args.fan, fs)
        extra.append(fan.points)

    config = AgentConfig(host=host, port=port, interval=args.interval, node=args.node or "",
                         board=board, buffer=args.buffer, beacon_key=key,
                         beacon_group=args.beacon_group, beacon_port=args.beacon_port)
    agent = Agent(config, fs, extra=extra)
    agent.bind()
    if fan is not None:
        fan.start()
    try:
        agent.serve_until_signal()
    finally:
        if fan is not None:
            fan.stop()
    return 0


def _check_board(board: str, argument: str) -> str:
    """The catalog id of ``board`` (aliases resolved); unknown is a usage error.

    Without the catalog installed the name is kept as given, with no power estimate.
    """
    try:
        from microrack.catalog import board_profile
    except ImportError:
        log.warning("board catalog not installed: %s %s gives no power estimate", argument, board)
        return board
    from microrack.errors import MicrorackError

    try:
        return str(board_profile(board).id)
    except MicrorackError as exc:
        raise UsageError(argument, str(exc)) from exc

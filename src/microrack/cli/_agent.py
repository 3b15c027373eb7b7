"""``microrack agent``: per-node telemetry (Prometheus /metrics, JSON API, signed beacon)."""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from microrack.cli._args import non_negative_int, positive_float, positive_int
from microrack.errors import UsageError

if TYPE_CHECKING:
    from microrack.agent import CollectorOptions
    from microrack.agent._chaos import ChaosAPI
    from microrack.sensors import HostFS
    from microrack.thermal import FanService

log = logging.getLogger("microrack.agent")


def configure(parser: argparse.ArgumentParser) -> None:
    from microrack.agent import DEFAULT_BUFFER
    from microrack.beacon import DEFAULT_GROUP, DEFAULT_PORT

    parser.add_argument(
        "--listen",
        default="0.0.0.0:9101",
        metavar="HOST:PORT",
        help="address of the HTTP endpoint (default %(default)s)",
    )
    parser.add_argument(
        "--interval",
        type=positive_float,
        default=5.0,
        metavar="SECONDS",
        help="collection interval (default %(default)s)",
    )
    parser.add_argument(
        "--root",
        default="/",
        metavar="DIR",
        help="read /proc and /sys under DIR (a captured tree; default /)",
    )
    parser.add_argument(
        "--board",
        metavar="ID",
        help="board id or alias from the catalog (power estimate, throttle limits)",
    )
    parser.add_argument("--node", metavar="NAME", help="node name (default: host name)")
    parser.add_argument(
        "--buffer",
        type=positive_int,
        default=DEFAULT_BUFFER,
        metavar="N",
        help="samples kept for /api/v1/samples (default %(default)s = 1 h at 5 s)",
    )
    parser.add_argument(
        "--beacon-key",
        metavar="FILE",
        help="shared key for the signed multicast beacon; without it none is sent",
    )
    parser.add_argument(
        "--beacon-group",
        default=DEFAULT_GROUP,
        metavar="GROUP",
        help="beacon multicast group (default %(default)s)",
    )
    parser.add_argument(
        "--beacon-port",
        type=int,
        default=DEFAULT_PORT,
        metavar="PORT",
        help="beacon UDP port (default %(default)s)",
    )
    parser.add_argument(
        "--simulate",
        metavar="BOARD",
        help="read a simulated BOARD from the hardware twin instead of this host",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the simulated node")
    parser.add_argument("--sim-script", metavar="FILE", help="fault/load timeline for the twin")
    parser.add_argument(
        "--fan",
        metavar="FILE|auto",
        help="run fan control from a curve file, or the board's default curve",
    )
    _chaos_flags(parser)
    _collector_flags(parser)


def _chaos_flags(parser: argparse.ArgumentParser) -> None:
    from microrack.faults import DEFAULT_STATE

    group = parser.add_argument_group(
        "faults (chaos)", "signed fault endpoints /api/v1/faults; off without --chaos-token"
    )
    group.add_argument(
        "--chaos-token",
        metavar="FILE",
        help="shared secret (chmod 600) that every fault request is signed with",
    )
    group.add_argument(
        "--chaos-allow",
        metavar="KIND[,KIND...]",
        default="",
        help="fault kinds this node accepts (default: none)",
    )
    group.add_argument(
        "--chaos-unit",
        metavar="NAME",
        action="append",
        default=[],
        help="systemd unit, podman:NAME or docker:NAME that crash may stop (repeatable)",
    )
    group.add_argument(
        "--chaos-fill-dir",
        metavar="DIR",
        help="directory disk_fill may write into (default: none, refused)",
    )
    group.add_argument(
        "--chaos-state",
        metavar="FILE",
        default=DEFAULT_STATE,
        help="applied faults and how to revert them (default %(default)s)",
    )
    group.add_argument(
        "--chaos-max-lease",
        metavar="SECONDS",
        type=positive_float,
        default=3600.0,
        help="longest duration_s accepted (default %(default)g)",
    )


def chaos_api(
    args: argparse.Namespace, node: str, fs: HostFS, fan: FanService | None
) -> ChaosAPI | None:
    """The fault endpoints from the ``--chaos-*`` flags, leftovers already reverted."""
    from pathlib import Path

    from microrack.agent._chaos import ChaosAPI
    from microrack.faults import KINDS, FaultEngine, NodeContext, Verifier, load_secret

    chaos_flags = [f for f in ("chaos_allow", "chaos_unit", "chaos_fill_dir") if getattr(args, f)]
    if not args.chaos_token:
        if chaos_flags:
            flag = "--" + chaos_flags[0].replace("_", "-")
            raise UsageError(flag, "only meaningful with --chaos-token FILE")
        return None
    allow = [k.strip() for k in args.chaos_allow.split(",") if k.strip()]
    for k in allow:
        if k not in KINDS:
            raise UsageError(
                "--chaos-allow", f"unknown fault kind {k!r} (known: {', '.join(KINDS)})"
            )
    fill = Path(args.chaos_fill_dir) if args.chaos_fill_dir else None
    if fill is not None and not fill.is_dir():
        raise UsageError("--chaos-fill-dir", f"not a directory: {args.chaos_fill_dir!r}")
    for unit in args.chaos_unit:
        if not unit or any(c.isspace() for c in unit):
            raise UsageError("--chaos-unit", f"not a unit or container name: {unit!r}")
    state = Path(args.chaos_state)
    ctx = NodeContext(
        node=node,
        fs=fs,
        units=frozenset(args.chaos_unit),
        fill_dir=fill,
        # without --fan: for a `microrack fan` daemon reading the same file
        fan_override=state.with_name("fan-override.json") if fan is None else fan.override_path,
        fan_max_c=None if fan is None else fan.max_temp_c(),
        simulate=bool(args.simulate),
    )
    engine = FaultEngine(ctx, allow=allow, state_path=state, max_lease=args.chaos_max_lease)
    try:
        state.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError("--chaos-state", f"cannot create {state.parent}: {exc.strerror}") from exc
    reverted = engine.recover()
    if reverted:
        log.warning(
            "reverted %d fault(s) left by an earlier run: %s", len(reverted), ", ".join(reverted)
        )
    return ChaosAPI(engine, Verifier(load_secret(args.chaos_token)))


# node_exporter's per-collector option flags -> CollectorOptions fields
_OPTION_FLAGS = (
    ("textfile_directory", "DIR", "read *.prom files of DIR (textfile collector)"),
    ("vmstat_fields", "REGEX", "/proc/vmstat fields to export"),
    ("netstat_fields", "REGEX", "netstat/snmp/snmp6 fields to export"),
    ("filesystem_mount_points_exclude", "REGEX", "mount points the filesystem collector skips"),
    ("filesystem_fs_types_exclude", "REGEX", "filesystem types the filesystem collector skips"),
    ("diskstats_device_exclude", "REGEX", "block devices diskstats skips"),
    ("diskstats_device_include", "REGEX", "only these block devices (overrides the exclude)"),
    ("netdev_device_exclude", "REGEX", "network devices netdev skips"),
    ("netdev_device_include", "REGEX", "only these network devices (overrides the exclude)"),
    ("netclass_ignored_devices", "REGEX", "network devices netclass skips"),
    ("arp_device_exclude", "REGEX", "devices the arp collector skips"),
    ("arp_device_include", "REGEX", "only these devices for the arp collector"),
    ("systemd_unit_include", "REGEX", "systemd units to report"),
    ("systemd_unit_exclude", "REGEX", "systemd units to leave out"),
    ("cpu_info_flags_include", "REGEX", "node_cpu_flag_info for these flags (with cpu.info)"),
    ("cpu_info_bugs_include", "REGEX", "node_cpu_bug_info for these bugs (with cpu.info)"),
    ("cgroup_include", "REGEX", "only cgroup paths matching (and the root)"),
    ("cgroup_exclude", "REGEX", "cgroup paths to leave out, with everything below them"),
)


def _collector_flags(parser: argparse.ArgumentParser) -> None:
    from microrack.agent import COLLECTORS, CollectorOptions, option_flag

    group = parser.add_argument_group(
        "collectors",
        "node_exporter's switches: --collector.NAME enables, --no-collector.NAME "
        "disables one collector",
    )
    group.add_argument(
        "--collector.disable-defaults",
        dest="collector_disable_defaults",
        action="store_true",
        help="start from no collector, not the defaults",
    )
    for cls in COLLECTORS:
        state = "on" if cls.default else "off"
        group.add_argument(
            f"--collector.{cls.name}",
            dest=f"collector_on_{cls.name}",
            action="store_true",
            help=f"enable the {cls.name} collector (default {state})",
        )
        group.add_argument(
            f"--no-collector.{cls.name}",
            dest=f"collector_off_{cls.name}",
            action="store_true",
            help=argparse.SUPPRESS,
        )
    defaults = CollectorOptions()
    for name, metavar, text in _OPTION_FLAGS:
        default = getattr(defaults, name)
        shown = f" (default {default})" if default else ""
        group.add_argument(
            option_flag(name),
            dest=f"opt_{name}",
            metavar=metavar,
            default=None,
            help=(text + shown).replace("%", "%%"),
        )
    group.add_argument(
        "--collector.stat.softirq",
        dest="stat_softirq",
        action="store_true",
        help="node_softirqs_total per vector from /proc/stat",
    )
    group.add_argument(
        "--collector.cpu.info",
        dest="cpu_info",
        action="store_true",
        help="node_cpu_info from /proc/cpuinfo (its MHz where cpufreq is absent)",
    )
    group.add_argument(
        "--collector.netclass.ignore-invalid-speed",
        dest="netclass_ignore_invalid_speed",
        action="store_true",
        help="leave out node_network_speed_bytes of links whose speed is unknown",
    )
    group.add_argument(
        "--collector.cgroup.depth",
        dest="cgroup_depth",
        type=non_negative_int,
        metavar="N",
        default=None,
        help="cgroup levels below the root to read (default: all)",
    )
    group.add_argument(
        "--collector.cgroup.containers-only",
        dest="cgroup_containers_only",
        action="store_true",
        help="only containers and pods, plus the root (cAdvisor's --docker_only)",
    )
    group.add_argument(
        "--collector.cgroup.sandboxes",
        dest="cgroup_sandboxes",
        action="store_true",
        help="also the pods' sandbox (pause) containers",
    )
    group.add_argument(
        "--path.udev.data",
        dest="path_udev_data",
        metavar="DIR",
        default="/run/udev/data",
        help="udev database, read under --root (default %(default)s)",
    )


def collector_config(args: argparse.Namespace) -> tuple[frozenset[str], CollectorOptions]:
    """The enabled collector names and their options from the parsed flags."""
    from microrack.agent import COLLECTORS, DEFAULT_ENABLED, CollectorOptions, resolve_collectors

    names = [c.name for c in COLLECTORS]
    enabled = resolve_collectors(
        names,
        DEFAULT_ENABLED,
        [n for n in names if getattr(args, f"collector_on_{n}", False)],
        [n for n in names if getattr(args, f"collector_off_{n}", False)],
        disable_defaults=args.collector_disable_defaults,
    )
    given = {
        name: getattr(args, f"opt_{name}")
        for name, _, _ in _OPTION_FLAGS
        if getattr(args, f"opt_{name}") is not None
    }
    options = CollectorOptions(
        **given,
        extra={"udev_data": args.path_udev_data},
        netclass_ignore_invalid_speed=args.netclass_ignore_invalid_speed,
        cpu_info=args.cpu_info,
        stat_softirq=args.stat_softirq,
        cgroup_depth=args.cgroup_depth,
        cgroup_containers_only=args.cgroup_containers_only,
        cgroup_sandboxes=args.cgroup_sandboxes,
    )
    options.check()
    return enabled, options


def run(args: argparse.Namespace) -> int:
    from microrack.agent import Agent, AgentConfig, parse_listen, steady_heap
    from microrack.beacon import load_key
    from microrack.sensors import LocalFS

    host, port = parse_listen(args.listen)
    if not 0 < args.beacon_port < 65536:
        raise UsageError("--beacon-port", f"expected 1-65535, got {args.beacon_port}")
    try:
        multicast = ipaddress.IPv4Address(args.beacon_group).is_multicast
    except ValueError:
        multicast = False
    if not multicast:
        raise UsageError(
            "--beacon-group",
            f"expected an IPv4 multicast address (224.0.0.0/4), got {args.beacon_group!r}",
        )
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
        fan.override_path = Path(args.chaos_state).with_name("fan-override.json")
        fan.clear_override()
        extra.append(fan.points)

    collectors, options = collector_config(args)
    textfile_dir = options.textfile_directory
    if textfile_dir and not os.path.isdir(textfile_dir):
        log.warning(
            "--collector.textfile.directory %s is not a directory (yet): "
            "node_textfile_scrape_error stays 1 until it is",
            textfile_dir,
        )
    config = AgentConfig(
        host=host,
        port=port,
        interval=args.interval,
        node=args.node or "",
        board=board,
        buffer=args.buffer,
        beacon_key=key,
        beacon_group=args.beacon_group,
        beacon_port=args.beacon_port,
        collectors=collectors,
        options=options,
    )
    steady_heap()  # before any thread starts: see microrack.agent._heap
    chaos = chaos_api(args, args.node or socket.gethostname(), fs, fan)
    agent = Agent(config, fs, extra=extra, chaos=chaos)
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

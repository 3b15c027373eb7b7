"""``microrack hub``: parse the flags, build a HubConfig, serve."""

from __future__ import annotations

import argparse
import ipaddress
import math
from pathlib import Path
from urllib.parse import urlsplit

from microrack.errors import UsageError


def _hostport(text: str, flag: str, default_port: int | None = None) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep:
        if default_port is None:
            raise UsageError(flag, f"{text!r} is not HOST:PORT")
        host, port = text, str(default_port)
    host = host.strip("[]") or "127.0.0.1"
    try:
        number = int(port)
    except ValueError:
        raise UsageError(flag, f"{text!r}: port {port!r} is not a number") from None
    if not 0 < number < 65536:
        raise UsageError(flag, f"{text!r}: port {number} is out of range")
    return host, number


def _url(text: str, flag: str) -> str:
    """An http(s) URL with a host, checked now rather than at the first failed send."""
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise UsageError(flag, f"{text!r}: the port is not a number from 0 to 65535") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(flag, f"{text!r} is not an http:// or https:// URL with a host")
    return text


def _ipv4(text: str, flag: str, *, multicast: bool = False) -> str:
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise UsageError(flag, f"{text!r} is not an IPv4 address") from None
    if multicast and not addr.is_multicast:
        raise UsageError(flag, f"{text!r} is not a multicast group (224.0.0.0/4)")
    return text


def _chaos_secret(path: str | None) -> bytes | None:
    if path is None:
        return None
    from microrack.faults import AuthError, load_secret

    try:
        return load_secret(path)
    except (AuthError, OSError) as exc:
        raise UsageError("--chaos-token", f"{path}: {exc}") from None


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="where the API and dashboard listen (default 127.0.0.1:8080)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="NAME",
        help="a name the API may be reached by (Host header), besides loopback and --listen "
        "(repeatable)",
    )
    parser.add_argument(
        "--db",
        default="microrack-hub.db",
        metavar="PATH",
        help="SQLite database file (default ./microrack-hub.db)",
    )
    parser.add_argument(
        "--agent",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an agent to pull from (repeatable; port defaults to 9101)",
    )
    parser.add_argument("--spec", metavar="FILE", help="cluster.yaml: pull every node's agent")
    parser.add_argument(
        "--beacon-key",
        metavar="FILE",
        help="shared key: discover agents from signed multicast beacons",
    )
    parser.add_argument(
        "--beacon-group",
        default=None,
        metavar="ADDR",
        help="beacon multicast group (default 239.255.77.77)",
    )
    parser.add_argument(
        "--beacon-port",
        type=int,
        default=None,
        metavar="PORT",
        help="beacon UDP port (default 9797)",
    )
    parser.add_argument(
        "--beacon-interface",
        default="0.0.0.0",
        metavar="ADDR",
        help="address of the interface that receives beacons",
    )
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="CIDR",
        help="beacons may name agents only inside these networks (repeatable; the networks "
        "of --spec are allowed too)",
    )
    parser.add_argument(
        "--beacon-max-targets",
        type=int,
        default=256,
        metavar="N",
        help="at most N targets from beacons (default 256)",
    )
    parser.add_argument(
        "--beacon-expiry",
        default="2m",
        metavar="DURATION",
        help="drop a beacon target whose beacons stopped this long ago (default 2m)",
    )
    parser.add_argument(
        "--repin",
        action="append",
        default=[],
        metavar="NODE",
        help="let NODE be pulled from a new address (names are pinned to the address they "
        "were first seen at; repeatable)",
    )
    parser.add_argument(
        "--max-response",
        default="8MiB",
        metavar="SIZE",
        help="largest agent answer read (default 8MiB)",
    )
    parser.add_argument("--rules", metavar="FILE", help="alert rules YAML (see docs/hub.md)")
    parser.add_argument(
        "--chaos-token",
        metavar="FILE",
        help="accept signed chaos-run annotations (POST /api/v1/annotations) with this secret",
    )
    parser.add_argument(
        "--price-kwh",
        type=float,
        default=None,
        metavar="X",
        help="electricity price per kWh, for cost on the dashboard",
    )
    parser.add_argument("--currency", default="", help="shown next to costs (e.g. EUR)")
    parser.add_argument(
        "--remote-write",
        metavar="URL",
        help="also send every sample with Prometheus remote write 1.0 "
        "(e.g. http://prometheus:9090/api/v1/write)",
    )
    parser.add_argument(
        "--remote-write-format",
        choices=("remote-write", "vm-import"),
        default=None,
        help="remote-write (protobuf + snappy), or vm-import (text, VictoriaMetrics' "
        "/api/v1/import/prometheus); default: vm-import for such a URL, else remote-write",
    )
    parser.add_argument(
        "--webhook",
        action="append",
        default=[],
        metavar="URL",
        help="POST alerts in Alertmanager's webhook format (repeatable)",
    )
    parser.add_argument("--alertmanager", metavar="URL", help="send alerts to this Alertmanager")
    parser.add_argument(
        "--retention-raw",
        default="7d",
        metavar="DURATION",
        help="keep raw samples this long (default 7d)",
    )
    parser.add_argument(
        "--retention-rollup",
        default="90d",
        metavar="DURATION",
        help="keep downsampled averages this long (default 90d)",
    )
    parser.add_argument(
        "--rollup-step",
        default="1m",
        metavar="DURATION",
        help="bucket of the downsampled averages (default 1m)",
    )
    parser.add_argument(
        "--chunk",
        default="30m",
        metavar="DURATION",
        help="time window of one compressed chunk (default 30m)",
    )
    parser.add_argument(
        "--maintenance",
        default="60s",
        metavar="DURATION",
        help="how often heads are cut into chunks and retention runs (default 60s)",
    )
    parser.add_argument(
        "--poll",
        default=None,
        metavar="DURATION",
        help="pull every DURATION instead of each agent's own interval",
    )


def run(args: argparse.Namespace) -> int:
    from microrack import beacon
    from microrack.hub import HubConfig, Retention, load_rules, parse_duration, serve

    host, port = _hostport(args.listen, "--listen")
    agents = [_hostport(a, "--agent", 9101) for a in args.agent]

    def duration(flag: str, text: str) -> float:
        try:
            value = parse_duration(text)
        except ValueError as exc:
            raise UsageError(flag, str(exc)) from None
        if value <= 0:
            raise UsageError(flag, f"{text!r} must be positive")
        return value

    retention = Retention(
        raw_seconds=duration("--retention-raw", args.retention_raw),
        rollup_seconds=duration("--retention-rollup", args.retention_rollup),
        rollup_step=max(1, int(duration("--rollup-step", args.rollup_step))),
        chunk_seconds=duration("--chunk", args.chunk),
    )
    if retention.rollup_seconds <= retention.raw_seconds:
        raise UsageError(
            "--retention-rollup",
            f"{args.retention_rollup!r} must be longer than --retention-raw {args.retention_raw!r}"
            " (averages are kept after the raw samples expire)",
        )
    spec_targets: list[tuple[str, str, int]] = []
    rack = None
    networks = [_cidr(c, "--allow") for c in args.allow]
    if args.spec:
        from microrack.hub import rack_layout
        from microrack.spec import agent_targets, load_spec

        spec = load_spec(args.spec)
        spec_targets = agent_targets(spec)
        rack = rack_layout(spec)
        networks += [n.cidr for n in spec.networks]
    if not 0 < args.beacon_max_targets <= 100_000:
        raise UsageError("--beacon-max-targets", f"{args.beacon_max_targets} is not 1-100000")
    max_response = _size(args.max_response, "--max-response")
    if args.price_kwh is not None and not (math.isfinite(args.price_kwh) and args.price_kwh >= 0):
        raise UsageError("--price-kwh", f"{args.price_kwh} must be a price of zero or more")
    if args.rollup_step and duration("--rollup-step", args.rollup_step) < 1:
        raise UsageError("--rollup-step", f"{args.rollup_step!r} is shorter than 1s")
    if args.beacon_port is not None and not 0 < args.beacon_port < 65536:
        raise UsageError("--beacon-port", f"port {args.beacon_port} is out of range")
    if args.beacon_group is not None:
        _ipv4(args.beacon_group, "--beacon-group", multicast=True)
    _ipv4(args.beacon_interface, "--beacon-interface")
    remote_write = _url(args.remote_write, "--remote-write") if args.remote_write else None
    webhooks = [_url(w, "--webhook") for w in args.webhook]
    alertmanager = _url(args.alertmanager, "--alertmanager") if args.alertmanager else None
    db = Path(args.db)
    if db.parent and not db.parent.exists():
        raise UsageError("--db", f"directory {str(db.parent)!r} does not exist")
    config = HubConfig(
        db=db,
        agents=agents,
        spec_targets=spec_targets,
        beacon_key=beacon.load_key(args.beacon_key) if args.beacon_key else None,
        beacon_group=args.beacon_group or beacon.DEFAULT_GROUP,
        beacon_port=args.beacon_port or beacon.DEFAULT_PORT,
        beacon_interface=args.beacon_interface,
        rules=load_rules(args.rules),
        price_kwh=args.price_kwh,
        currency=args.currency,
        remote_write=remote_write,
        webhooks=webhooks,
        alertmanager=alertmanager,
        retention=retention,
        poll=duration("--poll", args.poll) if args.poll else None,
        maintenance_seconds=duration("--maintenance", args.maintenance),
        rack=rack,
        listen_host=host,
        allow_hosts=list(args.allow_host),
        allow_networks=networks,
        beacon_max_targets=args.beacon_max_targets,
        beacon_expiry=duration("--beacon-expiry", args.beacon_expiry),
        max_response=max_response,
        repin=list(args.repin),
        remote_write_format=args.remote_write_format,
        chaos_secret=_chaos_secret(args.chaos_token),
    )
    if config.beacon_key is not None and not networks:
        raise UsageError(
            "--beacon-key",
            "needs --allow CIDR or --spec: beacons may only name agents inside known networks",
        )
    serve(config, host, port)
    return 0


_SIZES = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6}
_SIZES.update({"mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30})


def _size(text: str, flag: str) -> int:
    num = text.strip().rstrip("BbIiKkMmGg")
    unit = text.strip()[len(num) :].lower()
    try:
        value = float(num) * _SIZES[unit]
    except (ValueError, KeyError):
        raise UsageError(flag, f"{text!r} is not a size like 8MiB") from None
    if not 1024 <= value <= 2**31:
        raise UsageError(flag, f"{text!r} is not from 1KiB to 2GiB")
    return int(value)


def _cidr(text: str, flag: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UsageError(flag, f"{text!r} is not a network like 10.0.0.0/24") from None

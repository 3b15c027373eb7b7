"""``microrack hub``: parse the flags, build a HubConfig, serve."""

from __future__ import annotations

import argparse
from pathlib import Path

from microrack.cli._args import (
    byte_size,
    duration,
    host_port,
    http_url,
    input_file,
    ipv4_address,
    multicast_group,
    network,
    non_negative_float,
    output_file,
    port,
    whole_number,
)
from microrack.errors import UsageError


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
        type=host_port(),
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
        type=output_file,
        default="microrack-hub.db",
        metavar="PATH",
        help="SQLite database file (default ./microrack-hub.db)",
    )
    parser.add_argument(
        "--agent",
        type=host_port(9101),
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="an agent to pull from (repeatable; port defaults to 9101)",
    )
    parser.add_argument(
        "--spec", type=input_file, metavar="FILE", help="cluster.yaml: pull every node's agent"
    )
    parser.add_argument(
        "--beacon-key",
        type=input_file,
        metavar="FILE",
        help="shared key: discover agents from signed multicast beacons",
    )
    parser.add_argument(
        "--beacon-group",
        type=multicast_group,
        default=None,
        metavar="ADDR",
        help="beacon multicast group (default 239.255.77.77)",
    )
    parser.add_argument(
        "--beacon-port",
        type=port,
        default=None,
        metavar="PORT",
        help="beacon UDP port (default 9797)",
    )
    parser.add_argument(
        "--beacon-interface",
        type=ipv4_address,
        default="0.0.0.0",
        metavar="ADDR",
        help="address of the interface that receives beacons",
    )
    parser.add_argument(
        "--allow",
        type=network,
        action="append",
        default=[],
        metavar="CIDR",
        help="beacons may name agents only inside these networks (repeatable; the networks "
        "of --spec are allowed too)",
    )
    parser.add_argument(
        "--beacon-max-targets",
        type=whole_number(1, 100_000),
        default=256,
        metavar="N",
        help="at most N targets from beacons (default 256)",
    )
    parser.add_argument(
        "--beacon-expiry",
        type=duration(),
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
        type=byte_size(1024, 2**31, "from 1KiB to 2GiB"),
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
        type=non_negative_float,
        default=None,
        metavar="X",
        help="electricity price per kWh, for cost on the dashboard",
    )
    parser.add_argument("--currency", default="", help="shown next to costs (e.g. EUR)")
    parser.add_argument(
        "--remote-write",
        type=http_url,
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
        type=http_url,
        action="append",
        default=[],
        metavar="URL",
        help="POST alerts in Alertmanager's webhook format (repeatable)",
    )
    parser.add_argument(
        "--alertmanager", type=http_url, metavar="URL", help="send alerts to this Alertmanager"
    )
    # the store's durations (retention and its housekeeping)
    for flag, default, what, least in (
        ("--retention-raw", "7d", "keep raw samples this long", 0),
        ("--retention-rollup", "90d", "keep downsampled averages this long", 0),
        ("--rollup-step", "1m", "bucket of the downsampled averages", 1),
        ("--chunk", "30m", "time window of one compressed chunk", 0),
        ("--maintenance", "60s", "how often heads are cut into chunks and retention runs", 0),
    ):
        parser.add_argument(
            flag,
            type=duration(minimum=least),
            default=default,
            metavar="DURATION",
            help=f"{what} (default {default})",
        )
    parser.add_argument(
        "--poll",
        type=duration(),
        default=None,
        metavar="DURATION",
        help="pull every DURATION instead of each agent's own interval",
    )


def run(args: argparse.Namespace) -> int:
    from microrack import beacon
    from microrack.hub import HubConfig, Retention, load_rules, serve

    host, listen_port = args.listen
    retention = Retention(
        raw_seconds=args.retention_raw,
        rollup_seconds=args.retention_rollup,
        rollup_step=int(args.rollup_step),
        chunk_seconds=args.chunk,
    )
    if retention.rollup_seconds <= retention.raw_seconds:
        raise UsageError(
            "--retention-rollup",
            f"{_span(args.retention_rollup)} must be longer than --retention-raw "
            f"{_span(args.retention_raw)} (averages are kept after the raw samples expire)",
        )
    spec_targets: list[tuple[str, str, int]] = []
    rack = None
    networks = list(args.allow)
    if args.spec:
        from microrack.hub import rack_layout
        from microrack.spec import agent_targets, load_spec

        spec = load_spec(args.spec)
        spec_targets = agent_targets(spec)
        rack = rack_layout(spec)
        networks += [n.cidr for n in spec.networks]
    config = HubConfig(
        db=Path(args.db),
        agents=list(args.agent),
        spec_targets=spec_targets,
        beacon_key=beacon.load_key(args.beacon_key) if args.beacon_key else None,
        beacon_group=args.beacon_group or beacon.DEFAULT_GROUP,
        beacon_port=args.beacon_port or beacon.DEFAULT_PORT,
        beacon_interface=args.beacon_interface,
        rules=load_rules(args.rules),
        price_kwh=args.price_kwh,
        currency=args.currency,
        remote_write=args.remote_write,
        webhooks=list(args.webhook),
        alertmanager=args.alertmanager,
        retention=retention,
        poll=args.poll,
        maintenance_seconds=args.maintenance,
        rack=rack,
        listen_host=host,
        allow_hosts=list(args.allow_host),
        allow_networks=networks,
        beacon_max_targets=args.beacon_max_targets,
        beacon_expiry=args.beacon_expiry,
        max_response=args.max_response,
        repin=list(args.repin),
        remote_write_format=args.remote_write_format,
        chaos_secret=_chaos_secret(args.chaos_token),
    )
    if config.beacon_key is not None and not networks:
        raise UsageError(
            "--beacon-key",
            "needs --allow CIDR or --spec: beacons may only name agents inside known networks",
        )
    serve(config, host, listen_port)
    return 0


def _span(seconds: float) -> str:
    """Seconds as the user would have written them (``7d``, ``90m``, ``45s``)."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"

"""Network collectors: netdev, netclass, netstat, sockstat, softnet, conntrack, arp, udp_queues."""

from __future__ import annotations

import os
import re
from typing import ClassVar, NamedTuple

from microrack.agent._collectors._text import read_optional, read_or_nodata
from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NoData
from microrack.sample import MetricType, Point, SeriesKey
from microrack.sensors import RECEIVE_FIELDS, TRANSMIT_FIELDS, HostFS, parse_net_dev, read_many

__all__ = [
    "ArpCollector",
    "ConntrackCollector",
    "NetclassCollector",
    "NetdevCollector",
    "NetstatCollector",
    "SockstatCollector",
    "SoftnetCollector",
    "UdpQueuesCollector",
]


class DeviceFilter:
    """node_exporter's ``deviceFilter``: an include or an exclude pattern (not both)."""

    __slots__ = ("exclude", "include")

    def __init__(self, exclude: re.Pattern[str] | None, include: re.Pattern[str] | None) -> None:
        # an include given replaces the (default) exclude
        self.exclude, self.include = (None if include is not None else exclude), include

    def ignored(self, name: str) -> bool:
        if self.exclude is not None and self.exclude.search(name):
            return True
        return self.include is not None and not self.include.search(name)


_NOHANDLER = ("rx_nohandler",)


_RX_METRICS = tuple(f"node_network_receive_{f}_total" for f in RECEIVE_FIELDS)
_TX_METRICS = tuple(f"node_network_transmit_{f}_total" for f in TRANSMIT_FIELDS)
_RX_HELP = tuple(f"Network device statistic receive_{f}." for f in RECEIVE_FIELDS)
_TX_HELP = tuple(f"Network device statistic transmit_{f}." for f in TRANSMIT_FIELDS)
_NOHANDLER_METRIC = "node_network_receive_nohandler_total"
_NOHANDLER_HELP = "Network device statistic receive_nohandler."
_MAX_DEVICES = 4096  # the per-device key caches are dropped beyond this (veth churn)


class NetdevCollector:
    name: ClassVar[str] = "netdev"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.filter = DeviceFilter(
            options.regex("netdev_device_exclude"), options.regex("netdev_device_include")
        )
        self._series: dict[str, tuple[SeriesKey, ...]] = {}  # device -> nohandler, rx, tx keys

    def _keys(self, out: PointSink, dev: str) -> tuple[SeriesKey, ...]:
        keys = self._series.get(dev)
        if keys is None:
            if len(self._series) >= _MAX_DEVICES:
                self._series.clear()
            keys = self._series[dev] = (
                out.key(_NOHANDLER_METRIC, "counter", device=dev),
                *(out.key(m, "counter", device=dev) for m in _RX_METRICS),
                *(out.key(m, "counter", device=dev) for m in _TX_METRICS),
            )
        return keys

    def collect(self, out: PointSink) -> None:
        for d in parse_net_dev(read_or_nodata(self.fs, "/proc/net/dev")):
            if self.filter.ignored(d.device):
                continue
            keys = self._keys(out, d.device)
            # what node_exporter's default netlink read adds to /proc/net/dev's columns
            nohandler = read_many(self.fs, f"/sys/class/net/{d.device}/statistics", _NOHANDLER)[
                "rx_nohandler"
            ]
            if nohandler is not None:
                nohandler = nohandler.strip()
            if nohandler is not None and nohandler.isdigit():
                out.append(keys[0], int(nohandler), _NOHANDLER_HELP)
            for key, v, help_text in zip(keys[1:9], d.receive, _RX_HELP, strict=True):
                out.append(key, v, help_text)
            for key, v, help_text in zip(keys[9:], d.transmit, _TX_HELP, strict=True):
                out.append(key, v, help_text)


# /sys/class/net/<dev>/<file> -> (metric suffix, type), in node_exporter's order
_NETCLASS: tuple[tuple[str, str, MetricType], ...] = (
    ("addr_assign_type", "address_assign_type", "gauge"),
    ("carrier", "carrier", "gauge"),
    ("carrier_changes", "carrier_changes_total", "counter"),
    ("carrier_up_count", "carrier_up_changes_total", "counter"),
    ("carrier_down_count", "carrier_down_changes_total", "counter"),
    ("dev_id", "device_id", "gauge"),
    ("dormant", "dormant", "gauge"),
    ("flags", "flags", "gauge"),
    ("ifindex", "iface_id", "gauge"),
    ("iflink", "iface_link", "gauge"),
    ("link_mode", "iface_link_mode", "gauge"),
    ("mtu", "mtu_bytes", "gauge"),
    ("name_assign_type", "name_assign_type", "gauge"),
    ("netdev_group", "net_dev_group", "gauge"),
    ("speed", "speed_bytes", "gauge"),
    ("tx_queue_len", "transmit_queue_length", "gauge"),
    ("type", "protocol_type", "gauge"),
)


_NETCLASS_HELP = tuple(f"Network device property: {suffix}" for _, suffix, _ in _NETCLASS)
_NETCLASS_FILES = (
    "operstate",
    "address",
    "broadcast",
    "duplex",
    "ifalias",
    *(f for f, _, _ in _NETCLASS),
)


class NetclassCollector:
    """``/sys/class/net/*``: operstate, info labels and every numeric attribute."""

    name: ClassVar[str] = "netclass"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.ignored = options.regex("netclass_ignored_devices")
        self.ignore_invalid_speed = options.netclass_ignore_invalid_speed
        self._series: dict[str, tuple[SeriesKey, ...]] = {}  # device -> keys, as _NETCLASS

    def collect(self, out: PointSink) -> None:
        base = "/sys/class/net"
        try:
            names = self.fs.listdir(base)
        except FileNotFoundError as exc:
            raise NoData(f"{base} not found") from exc
        for dev in names:
            if self.ignored is not None and self.ignored.search(dev):
                continue
            attrs = read_many(self.fs, f"{base}/{dev}", _NETCLASS_FILES)
            operstate = attrs["operstate"]
            if operstate is None:
                continue  # not an interface directory (bonding_masters) or gone
            operstate = operstate.strip()
            out.add("node_network_up", 1 if operstate == "up" else 0, device=dev)
            info = {
                k: (attrs[k] or "").strip() for k in ("address", "broadcast", "duplex", "ifalias")
            }
            out.add("node_network_info", 1, device=dev, operstate=operstate, **info)
            keys = self._series.get(dev)
            if keys is None:
                if len(self._series) >= _MAX_DEVICES:
                    self._series.clear()
                keys = self._series[dev] = tuple(
                    out.key(f"node_network_{suffix}", mtype, device=dev)
                    for _, suffix, mtype in _NETCLASS
                )
            for (fname, _, _), key, help_text in zip(_NETCLASS, keys, _NETCLASS_HELP, strict=True):
                text = attrs[fname]
                if not text or not (text := text.strip()):
                    continue  # absent, or refused by the driver (EINVAL on a virtual link)
                try:
                    value = int(text, 0)
                except ValueError:
                    continue
                if fname == "speed":
                    if value < 0 and self.ignore_invalid_speed:
                        continue  # -1: the driver does not know the speed
                    value = int(value * 1000 * 1000 / 8)  # Go's int64(speed*1000*1000/8)
                out.append(key, value, help_text)


def parse_netstat(text: str, path: str) -> dict[str, dict[str, str]]:
    """``/proc/net/netstat`` and ``/proc/net/snmp``: pairs of header and value lines."""
    stats: dict[str, dict[str, str]] = {}
    lines = text.splitlines()
    if len(lines) % 2:
        raise ValueError(f"{path}: odd number of lines (truncated?)")
    for names_line, values_line in zip(lines[::2], lines[1::2], strict=True):
        names, values = names_line.split(" "), values_line.split(" ")
        protocol = names[0].removesuffix(":")
        if len(names) != len(values) or values[0].removesuffix(":") != protocol:
            raise ValueError(f"{path}: field count mismatch in {protocol}")
        stats[protocol] = dict(zip(names[1:], values[1:], strict=True))
    return stats


def parse_snmp6(text: str) -> dict[str, dict[str, str]]:
    """``/proc/net/snmp6``: ``Ip6InReceives 123`` lines, protocol up to the first ``6``."""
    stats: dict[str, dict[str, str]] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        six = parts[0].find("6")
        if six != -1:
            stats.setdefault(parts[0][: six + 1], {})[parts[0][six + 1 :]] = parts[1]
    return stats


class _NetstatPlan(NamedTuple):
    """What one kernel's netstat files hold, worked out once: checks and exported positions."""

    pairs: tuple[tuple[tuple[str, int], ...], ...]  # per pair file: (protocol, fields) per line
    points: tuple[tuple[SeriesKey, int], ...]  # exported series and their value's position
    help: dict[str, str]


class NetstatCollector:
    """``/proc/net/{netstat,snmp,snmp6}``: the fields ``--collector.netstat.fields`` picks.

    The files' layout (their header lines, snmp6's names) is fixed per kernel, so what
    is exported from which position is worked out once per layout; each collection
    then splits the value lines, checks them against the layout and parses every
    value (a garbled one fails the collector, as node_exporter's does).
    """

    name: ClassVar[str] = "netstat"
    default: ClassVar[bool] = True
    _PAIR_FILES = ("/proc/net/netstat", "/proc/net/snmp")

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        pattern = options.regex("netstat_fields")
        assert pattern is not None
        self.pattern = pattern
        self._plans: dict[tuple, _NetstatPlan] = {}

    def _plan(
        self,
        headers: tuple[tuple[str, ...], ...],
        names6: tuple[str, ...] | None,
    ) -> _NetstatPlan:
        # the merge of parse_netstat/parse_snmp6 (a later file's protocol replaces an earlier
        # one's), over positions in the flat list of values instead of the values
        stats: dict[str, dict[str, int]] = {}
        pairs = []
        offset = 0
        for lines in headers:
            file_stats: dict[str, dict[str, int]] = {}
            layout = []
            for header in lines:
                names = header.split(" ")
                protocol = names[0].removesuffix(":")
                file_stats[protocol] = {n: offset + i for i, n in enumerate(names[1:])}
                layout.append((protocol, len(names)))
                offset += len(names) - 1
            pairs.append(tuple(layout))
            stats.update(file_stats)
        if names6 is not None:
            stats6: dict[str, dict[str, int]] = {}
            for i, name in enumerate(names6):
                six = name.find("6")
                if six != -1:
                    stats6.setdefault(name[: six + 1], {})[name[six + 1 :]] = offset + i
            stats.update(stats6)
        points = []
        help_text: dict[str, str] = {}
        for protocol in sorted(stats):
            for name, pos in sorted(stats[protocol].items()):
                field = f"{protocol}_{name}"
                if self.pattern.search(field):
                    metric = f"node_netstat_{field}"
                    points.append((SeriesKey(metric, (), "untyped"), pos))
                    help_text[metric] = f"Statistic {protocol}{name}."
        return _NetstatPlan(tuple(pairs), tuple(points), help_text)

    def collect(self, out: PointSink) -> None:
        values: list[str] = []
        headers = []
        value_lines = []
        for path in self._PAIR_FILES:
            lines = read_or_nodata(self.fs, path).splitlines()
            if len(lines) % 2:
                raise ValueError(f"{path}: odd number of lines (truncated?)")
            headers.append(tuple(lines[::2]))
            value_lines.append(lines[1::2])
        snmp6 = read_optional(self.fs, "/proc/net/snmp6")  # absent with IPv6 off
        names6: tuple[str, ...] | None = None
        values6: list[str] = []
        if snmp6 is not None:
            rows = [parts for parts in map(str.split, snmp6.splitlines()) if len(parts) >= 2]
            names6 = tuple(parts[0] for parts in rows)
            values6 = [parts[1] for parts in rows]
        key = (*headers, names6)
        plan = self._plans.get(key)
        if plan is None:
            if len(self._plans) > 8:  # a tree that keeps changing must not grow this
                self._plans.clear()
            plan = self._plans[key] = self._plan(tuple(headers), names6)
        for path, layout, lines in zip(self._PAIR_FILES, plan.pairs, value_lines, strict=True):
            for (protocol, count), line in zip(layout, lines, strict=True):
                fields = line.split(" ")
                if len(fields) != count or fields[0].removesuffix(":") != protocol:
                    raise ValueError(f"{path}: field count mismatch in {protocol}")
                values += fields[1:]
        values += values6
        parsed = list(map(float, values))  # every field must parse, exported or not
        points = out.points
        for series, pos in plan.points:
            points.append(Point(series, parsed[pos]))
        out.help.update(plan.help)


def parse_sockstat(text: str) -> tuple[int | None, list[tuple[str, dict[str, int]]]]:
    """``/proc/net/sockstat{,6}`` -> (sockets used, [(protocol, {field: value})])."""
    used = None
    protocols: list[tuple[str, dict[str, int]]] = []
    for line in text.splitlines():
        head, sep, rest = line.partition(":")
        if not sep:
            continue
        parts = rest.split()
        if len(parts) % 2:
            raise ValueError(f"sockstat: odd number of fields in {line!r}")
        fields = {parts[i]: int(parts[i + 1]) for i in range(0, len(parts), 2)}
        if head == "sockets":
            used = fields.get("used")
        else:
            protocols.append((head, fields))
    return used, protocols


_SOCKSTAT_FIELDS = ("inuse", "orphan", "tw", "alloc", "mem", "memory")


class SockstatCollector:
    """``/proc/net/sockstat`` and ``sockstat6``; either may be absent (IPv4 or IPv6 off)."""

    name: ClassVar[str] = "sockstat"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.page_size = os.sysconf("SC_PAGE_SIZE")

    def collect(self, out: PointSink) -> None:
        for path, v6 in (("/proc/net/sockstat", False), ("/proc/net/sockstat6", True)):
            text = read_optional(self.fs, path)
            if text is None:
                continue
            used, protocols = parse_sockstat(text)
            if not v6 and used is not None:
                out.add_help(
                    "node_sockstat_sockets_used", used, "gauge", "Number of IPv4 sockets in use."
                )
            for proto, fields in protocols:
                if "mem" in fields:
                    fields["mem_bytes"] = fields["mem"] * self.page_size
                for field in (*_SOCKSTAT_FIELDS, "mem_bytes"):
                    if field in fields:
                        out.add_help(
                            f"node_sockstat_{proto}_{field}",
                            fields[field],
                            "gauge",
                            f"Number of {proto} sockets in state {field}.",
                        )


_SOFTNET = (
    (0, "node_softnet_processed_total", "counter", "Number of processed packets"),
    (1, "node_softnet_dropped_total", "counter", "Number of dropped packets"),
    (
        2,
        "node_softnet_times_squeezed_total",
        "counter",
        "Number of times processing packets ran out of quota",
    ),
    (
        8,
        "node_softnet_cpu_collision_total",
        "counter",
        "Number of collision occur while obtaining device lock while transmitting",
    ),
    (9, "node_softnet_received_rps_total", "counter", "Number of times cpu woken up received_rps"),
    (
        10,
        "node_softnet_flow_limit_count_total",
        "counter",
        "Number of times flow limit has been reached",
    ),
    (11, "node_softnet_backlog_len", "gauge", "Softnet backlog status"),
)


class SoftnetCollector:
    """``/proc/net/softnet_stat``: one line of hex counters per online CPU."""

    name: ClassVar[str] = "softnet"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs

    def collect(self, out: PointSink) -> None:
        text = read_or_nodata(self.fs, "/proc/net/softnet_stat")
        rows = [[int(v, 16) for v in line.split()] for line in text.splitlines() if line.strip()]
        for n, cols in enumerate(rows):
            if len(cols) < 9:
                raise ValueError(f"softnet_stat: {len(cols)} columns, expected at least 9")
            # Linux 5.10+ writes the cpu index (offline cpus have no line); older: line number
            cpu = str(cols[12]) if len(cols) >= 13 else str(n)
            for col, metric, mtype, help_text in _SOFTNET:
                if col < len(cols):
                    out.add_help(metric, cols[col], mtype, help_text, cpu=cpu)  # type: ignore[arg-type]


_CONNTRACK_STATS = (
    ("found", "Number of searched entries which were successful."),
    ("invalid", "Number of packets seen which can not be tracked."),
    ("ignore", "Number of packets seen which are already connected to a conntrack entry."),
    ("insert", "Number of entries inserted into the list."),
    ("insert_failed", "Number of entries for which list insertion was attempted but failed."),
    ("drop", "Number of packets dropped due to conntrack failure."),
    (
        "early_drop",
        "Number of dropped conntrack entries to make room for new ones, if maximum "
        "table size was reached.",
    ),
    (
        "search_restart",
        "Number of conntrack table lookups which had to be restarted due to hashtable resizes.",
    ),
)


class ConntrackCollector:
    """nf_conntrack table use and per-cpu statistics (summed), when the module is loaded."""

    name: ClassVar[str] = "conntrack"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs

    def collect(self, out: PointSink) -> None:
        base = "/proc/sys/net/netfilter"
        count = int(read_or_nodata(self.fs, f"{base}/nf_conntrack_count").strip())
        out.add_help(
            "node_nf_conntrack_entries",
            count,
            "gauge",
            "Number of currently allocated flow entries for connection tracking.",
        )
        limit = int(read_or_nodata(self.fs, f"{base}/nf_conntrack_max").strip())
        out.add_help(
            "node_nf_conntrack_entries_limit",
            limit,
            "gauge",
            "Maximum size of connection tracking table.",
        )
        lines = read_or_nodata(self.fs, "/proc/net/stat/nf_conntrack").splitlines()
        header = lines[0].split()
        sums = dict.fromkeys(header, 0)
        for line in lines[1:]:
            values = line.split()
            if len(values) != len(header):
                raise ValueError("nf_conntrack stat: field count mismatch")
            for k, v in zip(header, values, strict=True):
                sums[k] += int(v, 16)
        for field, help_text in _CONNTRACK_STATS:
            if field in sums:
                out.add_help(f"node_nf_conntrack_stat_{field}", sums[field], "gauge", help_text)


class ArpCollector:
    """``/proc/net/arp``: neighbour entries per device."""

    name: ClassVar[str] = "arp"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.filter = DeviceFilter(
            options.regex("arp_device_exclude"), options.regex("arp_device_include")
        )

    def collect(self, out: PointSink) -> None:
        entries: dict[str, int] = {}
        for line in read_or_nodata(self.fs, "/proc/net/arp").splitlines():
            cols = line.split()
            if not cols:
                continue
            if len(cols) < 6:
                raise ValueError("unexpected ARP table format")
            if cols[0] != "IP":
                entries[cols[-1]] = entries.get(cols[-1], 0) + 1
        for dev in sorted(entries):
            if not self.filter.ignored(dev):
                out.add_help(
                    "node_arp_entries", entries[dev], "gauge", "ARP entries by device", device=dev
                )


def udp_queue_sums(text: str) -> tuple[int, int]:
    """``/proc/net/udp{,6}`` -> (tx_queue, rx_queue) bytes summed over sockets."""
    tx = rx = 0
    for line in text.splitlines()[1:]:
        cols = line.split()
        if len(cols) < 5:
            continue
        t, sep, r = cols[4].partition(":")
        if not sep:
            raise ValueError(f"udp: bad tx_queue:rx_queue field {cols[4]!r}")
        tx += int(t, 16)
        rx += int(r, 16)
    return tx, rx


class UdpQueuesCollector:
    name: ClassVar[str] = "udp_queues"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs

    def collect(self, out: PointSink) -> None:
        found = False
        for path, ip in (("/proc/net/udp", "v4"), ("/proc/net/udp6", "v6")):
            text = read_optional(self.fs, path)
            if text is None:
                continue
            found = True
            tx, rx = udp_queue_sums(text)
            help_text = "Number of allocated memory in the kernel for UDP datagrams in bytes."
            out.add_help("node_udp_queues", tx, "gauge", help_text, queue="tx", ip=ip)
            out.add_help("node_udp_queues", rx, "gauge", help_text, queue="rx", ip=ip)
        if not found:
            raise NoData("neither /proc/net/udp nor /proc/net/udp6 exists")

"""Network interfaces: ``/proc/net/dev`` counters and ``/sys/class/net`` properties."""

from __future__ import annotations

from typing import NamedTuple

from microrack.sensors._fs import HostFS
from microrack.sensors._util import list_opt, read_int, read_opt

__all__ = [
    "RECEIVE_FIELDS",
    "TRANSMIT_FIELDS",
    "NetDev",
    "NetLink",
    "parse_net_dev",
    "read_net_dev",
    "read_net_links",
]

RECEIVE_FIELDS = ("bytes", "packets", "errs", "drop", "fifo", "frame", "compressed", "multicast")
TRANSMIT_FIELDS = ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier", "compressed")


class NetDev(NamedTuple):
    """Counters of one interface, in the column order of ``/proc/net/dev``."""

    device: str
    receive: tuple[float, ...]
    transmit: tuple[float, ...]


class NetLink(NamedTuple):
    """Properties of one interface; ``speed_bytes`` per second, ``None`` where unknown."""

    device: str
    up: bool
    mtu_bytes: int | None
    speed_bytes: float | None
    carrier: int | None


def read_net_dev(fs: HostFS) -> list[NetDev]:
    text = read_opt(fs, "/proc/net/dev")
    if text is None:
        return []
    return parse_net_dev(text)


def parse_net_dev(text: str) -> list[NetDev]:
    """The text of ``/proc/net/dev`` -> one :class:`NetDev` per well-formed line."""
    out: list[NetDev] = []
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if not sep:
            continue
        try:
            values = [float(v) for v in rest.split()]
        except ValueError:
            continue
        if len(values) < 16:
            continue
        out.append(NetDev(name.strip(), tuple(values[:8]), tuple(values[8:16])))
    return out


def read_net_links(fs: HostFS) -> list[NetLink]:
    """``/sys/class/net/*``: operstate, mtu, carrier and link speed where the driver knows it."""
    base = "/sys/class/net"
    out: list[NetLink] = []
    for dev in list_opt(fs, base):
        d = f"{base}/{dev}"
        operstate = read_opt(fs, f"{d}/operstate")
        if operstate is None:
            continue  # not an interface directory (bonding_masters) or gone
        speed = read_int(fs, f"{d}/speed")  # Mbit/s; EINVAL on virtual links
        out.append(
            NetLink(
                device=dev,
                up=operstate == "up",
                mtu_bytes=read_int(fs, f"{d}/mtu"),
                speed_bytes=speed * 125000.0 if speed is not None and speed >= 0 else None,
                carrier=read_int(fs, f"{d}/carrier"),
            )
        )
    return out

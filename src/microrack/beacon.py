"""The signed multicast beacon: what an agent announces and how a hub checks it.

A beacon is one UDP datagram::

    <payload JSON, UTF-8>\\n<hex HMAC-SHA256 of the payload bytes>

The payload is a JSON object with at least ``v`` (format version, 1),
``node``, ``board``, ``address``, ``port``, ``boot_id``, ``seq`` (the agent's
last sequence number), ``ts`` (sender's UNIX time) and ``headline`` (a few
current values).  A receiver drops a datagram that is unsigned, badly signed,
malformed, or whose ``ts`` is further than ``max_age`` seconds from its own
clock, and says which of the four it was.  A signed beacon is still checked
field by field (``malformed``): an IP address, a port from 1 to 65535, a finite
``ts``, a printable node name of at most 128 characters, finite headline values.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import math
import socket
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from microrack.errors import ResourceError

__all__ = [
    "DEFAULT_GROUP",
    "DEFAULT_PORT",
    "Beacon",
    "BeaconRejected",
    "load_key",
    "receiver_socket",
    "sender_socket",
    "sign",
    "verify",
]

DEFAULT_GROUP = "239.255.77.77"
DEFAULT_PORT = 9797
VERSION = 1

RejectReason = Literal["unsigned", "bad_signature", "malformed", "stale"]


class BeaconRejected(Exception):
    """A datagram that is not a valid, fresh, signed beacon; ``reason`` says why."""

    def __init__(self, reason: RejectReason, detail: str = "") -> None:
        self.reason: RejectReason = reason
        super().__init__(f"{reason}: {detail}" if detail else reason)


@dataclass(frozen=True, slots=True)
class Beacon:
    node: str
    board: str | None
    address: str
    port: int
    boot_id: str
    seq: int
    ts: float
    headline: dict[str, float]


def load_key(path: str | Path) -> bytes:
    """Read a shared beacon key; raises :class:`ResourceError` naming the file."""
    try:
        key = Path(path).read_bytes().strip()
    except OSError as exc:
        raise ResourceError(
            f"beacon key file {str(path)!r} cannot be read: {exc.strerror or exc}"
        ) from exc
    if not key:
        raise ResourceError(f"beacon key file {str(path)!r} is empty")
    return key


def sign(payload: dict[str, Any], key: bytes) -> bytes:
    """Encode and sign a beacon payload."""
    body = json.dumps({"v": VERSION, **payload}, separators=(",", ":"), sort_keys=True).encode()
    mac = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    return body + b"\n" + mac


def verify(datagram: bytes, key: bytes, now: float, max_age: float = 30.0) -> Beacon:
    """Check and decode a datagram; raises :class:`BeaconRejected`."""
    body, sep, mac = datagram.rpartition(b"\n")
    if not sep or not mac:
        raise BeaconRejected("unsigned")
    expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
    if not hmac.compare_digest(expected, mac.strip()):
        raise BeaconRejected("bad_signature")
    try:
        p = json.loads(body)
        if p.get("v") != VERSION:
            raise BeaconRejected("malformed", f"version {p.get('v')!r}")
        beacon = Beacon(
            node=str(p["node"]),
            board=None if p.get("board") is None else str(p["board"]),
            address=str(p["address"]),
            port=int(p["port"]),
            boot_id=str(p["boot_id"]),
            seq=int(p["seq"]),
            ts=float(p["ts"]),
            headline={
                str(k): float(v) for k, v in (p.get("headline") or {}).items() if v is not None
            },
        )
    except (ValueError, KeyError, TypeError, AttributeError, OverflowError) as exc:
        raise BeaconRejected("malformed", type(exc).__name__) from exc
    _check_fields(p, beacon)
    if abs(now - beacon.ts) > max_age:
        raise BeaconRejected("stale", f"{now - beacon.ts:.1f}s old")
    return beacon


def _check_fields(p: dict[str, Any], b: Beacon) -> None:
    if type(p["port"]) is not int or not 0 < b.port < 65536:
        raise BeaconRejected("malformed", "port is not from 1 to 65535")
    try:
        ipaddress.ip_address(b.address)
    except ValueError:
        raise BeaconRejected("malformed", "address is not an IP address") from None
    if not math.isfinite(b.ts):
        raise BeaconRejected("malformed", "ts is not a finite time")
    if not 0 < len(b.node) <= 128 or not b.node.isprintable() or type(p["node"]) is not str:
        raise BeaconRejected("malformed", "node is not printable text of 1-128 characters")
    if not all(math.isfinite(v) for v in b.headline.values()) or len(b.headline) > 32:
        raise BeaconRejected("malformed", "headline values are not finite numbers")


def sender_socket(interface: str = "0.0.0.0", ttl: int = 1) -> socket.socket:
    """A UDP socket for sending beacons out of the interface with address ``interface``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
    if interface != "0.0.0.0":
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(interface))
    return s


def receiver_socket(
    group: str = DEFAULT_GROUP, port: int = DEFAULT_PORT, interface: str = "0.0.0.0"
) -> socket.socket:
    """A UDP socket joined to the beacon group on the interface with address ``interface``."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("", port))
    mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(interface))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    return s

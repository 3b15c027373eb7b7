"""Argument checks shared by the sub-commands, as argparse ``type=`` converters.

A converter raises :class:`argparse.ArgumentTypeError`; argparse turns it into
one line naming the flag (``microrack fan: error: argument --root: ...``) and
exit code 2, before any work starts.  Checks that need several arguments at
once (an output that must not be one of the inputs) are in
:mod:`microrack.cli._paths`.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import stat
from collections.abc import Callable
from urllib.parse import urlsplit

__all__ = [
    "board_id",
    "byte_size",
    "directory",
    "duration",
    "host_port",
    "http_url",
    "input_file",
    "ipv4_address",
    "multicast_group",
    "network",
    "non_negative_float",
    "non_negative_int",
    "output_file",
    "port",
    "positive_float",
    "positive_int",
    "whole_number",
]


def directory(text: str) -> str:
    """An existing directory (``--root``)."""
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"not a directory: {text!r}")
    return text


def input_file(text: str) -> str:
    """An existing regular file (``--sim-script``, ``--config``): no FIFO, device or directory."""
    try:
        st = os.stat(text)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{text}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(st.st_mode):
        from microrack._yaml import file_kind

        raise argparse.ArgumentTypeError(f"{text}: {file_kind(st.st_mode)}, not a regular file")
    return text


def output_file(text: str) -> str:
    """A file path whose directory exists and that is not itself a directory."""
    if not text:
        raise argparse.ArgumentTypeError("empty path")
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a directory")
    parent = os.path.dirname(text) or "."
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{text}: no such directory {parent}")
    return text


def board_id(text: str) -> str:
    """A board of the catalog (id or alias), returned as its id."""
    from microrack.catalog import board_profile
    from microrack.errors import MicrorackError

    try:
        return str(board_profile(text).id)
    except MicrorackError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def ipv4_address(text: str) -> str:
    """An IPv4 address (``--beacon-interface``)."""
    try:
        ipaddress.IPv4Address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address") from None
    return text


def multicast_group(text: str) -> str:
    """An IPv4 multicast address (224.0.0.0/4)."""
    if not ipaddress.IPv4Address(ipv4_address(text)).is_multicast:
        raise argparse.ArgumentTypeError(f"{text!r} is not a multicast group (224.0.0.0/4)")
    return text


def network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """An IP network in CIDR form (``10.0.0.0/24``); host bits may be set."""
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a network like 10.0.0.0/24") from None


def host_port(default_port: int | None = None) -> Callable[[str], tuple[str, int]]:
    """``HOST:PORT`` as ``(host, port)``; ``[v6]:PORT`` too, an empty host is loopback.

    With ``default_port`` a bare ``HOST`` is allowed (``--agent node1``).
    """

    def convert(text: str) -> tuple[str, int]:
        host, sep, number = text.rpartition(":")
        if not sep:
            if default_port is None:
                raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT")
            host, number = text, str(default_port)
        try:
            value = int(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: port {number!r} is not a number") from None
        if not 0 < value < 65536:
            raise argparse.ArgumentTypeError(f"{text!r}: port {value} is out of range")
        return host.strip("[]") or "127.0.0.1", value

    convert.__name__ = "HOST:PORT"
    return convert


def http_url(text: str) -> str:
    """An http(s) URL with a host, checked now rather than at the first failed send."""
    parts = urlsplit(text)
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the port is not a number from 0 to 65535"
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not an http:// or https:// URL with a host")
    return text


_SIZES = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6}
_SIZES.update({"mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30})


def byte_size(low: int, high: int, what: str) -> Callable[[str], int]:
    """A size like ``8MiB`` or ``512k`` in bytes, from ``low`` to ``high`` (``what`` says so)."""

    def convert(text: str) -> int:
        num = text.strip().rstrip("BbIiKkMmGg")
        unit = text.strip()[len(num) :].lower()
        try:
            value = float(num) * _SIZES[unit]
        except (ValueError, KeyError):
            raise argparse.ArgumentTypeError(f"{text!r} is not a size like 8MiB") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return int(value)

    convert.__name__ = "size"
    return convert


def duration(minimum: float = 0.0) -> Callable[[str], float]:
    """A duration (``90s``, ``5m``, ``7d``, or seconds) in seconds: positive and at least
    ``minimum``."""

    def convert(text: str) -> float:
        from microrack.hub import parse_duration

        try:
            value = parse_duration(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be positive")
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text!r} is shorter than {minimum:g}s")
        return value

    convert.__name__ = "duration"
    return convert


def _number(
    kind: Callable[[str], float], check: Callable[[float], bool], what: str
) -> Callable[[str], float]:
    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if not math.isfinite(value) or not check(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    convert.__name__ = what.replace(" ", "_")
    return convert


def whole_number(low: int, high: int) -> Callable[[str], float]:
    """A whole number from ``low`` to ``high``."""
    return _number(int, lambda v: low <= v <= high, f"a whole number from {low} to {high}")


positive_float = _number(float, lambda v: v > 0, "a positive number")
non_negative_float = _number(float, lambda v: v >= 0, "a number of 0 or more")
positive_int = _number(int, lambda v: v > 0, "a positive whole number")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number of 0 or more")
port = _number(int, lambda v: 1 <= v <= 65535, "a port from 1 to 65535")

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

__all__ = [
    "board_id",
    "directory",
    "input_file",
    "multicast_group",
    "non_negative_int",
    "output_file",
    "port",
    "positive_float",
    "positive_int",
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
        raise argparse.ArgumentTypeError(f"{text}: not a regular file")
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


def multicast_group(text: str) -> str:
    """An IPv4 multicast address (224.0.0.0/4)."""
    try:
        addr = ipaddress.IPv4Address(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an IPv4 address") from None
    if not addr.is_multicast:
        raise argparse.ArgumentTypeError(f"{text!r} is not a multicast group (224.0.0.0/4)")
    return text


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


positive_float = _number(float, lambda v: v > 0, "a positive number")
positive_int = _number(int, lambda v: v > 0, "a positive whole number")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number of 0 or more")
port = _number(int, lambda v: 1 <= v <= 65535, "a port from 1 to 65535")

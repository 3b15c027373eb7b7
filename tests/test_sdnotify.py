"""sd_notify over a datagram socket the test reads, as systemd would."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from microrack.sdnotify import Notifier


def _listen(path: Path) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(str(path))
    s.settimeout(2)
    return s


def test_ready_and_watchdog_reach_the_socket(tmp_path: Path) -> None:
    path = tmp_path / "notify"
    with _listen(path) as s:
        n = Notifier({"NOTIFY_SOCKET": str(path)})
        assert n.enabled
        assert n.ready("serving")
        assert s.recv(4096) == b"READY=1\nSTATUS=serving"
        assert n.watchdog()
        assert s.recv(4096) == b"WATCHDOG=1"


def test_abstract_socket() -> None:
    name = f"microrack-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind("\0" + name)
        s.settimeout(2)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert s.recv(4096) == b"STOPPING=1"


def test_without_systemd_every_call_is_a_no_op(tmp_path: Path) -> None:
    n = Notifier({})
    assert not n.enabled
    assert not n.ready() and not n.watchdog()
    # A socket that went away is a failed send, not an exception.
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "missing")})
    assert not gone.watchdog()
    # Relative paths are not a notify socket.
    assert not Notifier({"NOTIFY_SOCKET": "relative"}).enabled


def test_watchdog_period_only_for_this_process() -> None:
    me = str(os.getpid())
    assert Notifier({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": me}).watchdog_seconds == 5.0
    assert Notifier({"WATCHDOG_USEC": "5000000"}).watchdog_seconds == 5.0
    assert Notifier({"WATCHDOG_USEC": "5000000", "WATCHDOG_PID": "1"}).watchdog_seconds is None
    assert Notifier({"WATCHDOG_USEC": "0"}).watchdog_seconds is None
    assert Notifier({"WATCHDOG_USEC": "x"}).watchdog_seconds is None

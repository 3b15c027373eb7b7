"""systemd's notify protocol (sd_notify(3)) with the standard library only.

A daemon started with ``Type=notify`` says ``READY=1`` once it serves and, under
``WatchdogSec=``, ``WATCHDOG=1`` each time its main loop really ran; systemd
kills and restarts a daemon whose pings stop. Outside systemd
(``$NOTIFY_SOCKET`` unset) every call is a no-op, so callers need no guard.
"""

from __future__ import annotations

import os
import socket

__all__ = ["Notifier"]


class Notifier:
    """Sends notifications to ``$NOTIFY_SOCKET`` (path or abstract ``@name``)."""

    def __init__(self, environ: dict[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if raw.startswith("@"):
            self.address = "\0" + raw[1:]
        elif raw.startswith("/"):
            self.address = raw
        self.watchdog_seconds = _watchdog_seconds(env)

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``KEY=VALUE`` fields; False if there is no socket or the send failed."""
        if self.address is None:
            return False
        payload = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
                s.connect(self.address)
                s.sendall(payload)
        except OSError:
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        fields = ["READY=1"] + ([f"STATUS={status}"] if status else [])
        return self.notify(*fields)

    def watchdog(self) -> bool:
        """Ping the watchdog; call only after a loop iteration that did its work."""
        return self.notify("WATCHDOG=1")

    def stopping(self) -> bool:
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")


def _watchdog_seconds(env: os._Environ[str] | dict[str, str]) -> float | None:
    """The watchdog period systemd asked for, if it is meant for this process."""
    usec = env.get("WATCHDOG_USEC", "")
    pid = env.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and (not pid.isdigit() or int(pid) != os.getpid()):
        return None
    return int(usec) / 1e6

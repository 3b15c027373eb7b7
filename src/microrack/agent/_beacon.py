"""The signed multicast beacon: who this node is and a few headline values."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from microrack import beacon

__all__ = ["BeaconSender", "primary_address"]

log = logging.getLogger(__name__)


def primary_address(group: str) -> str:
    """The local address the kernel would send to ``group`` from (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((group, 9))
            return str(s.getsockname()[0])
        except OSError:
            return "127.0.0.1"


class BeaconSender:
    """Sends ``payload()`` signed with ``key`` to ``group:port`` every ``every`` seconds."""

    def __init__(
        self,
        key: bytes,
        payload: Callable[[], dict[str, Any] | None],
        *,
        group: str,
        port: int,
        interface: str,
        every: float,
    ) -> None:
        self.key, self.payload = key, payload
        self.group, self.port, self.every = group, port, every
        self.sock = beacon.sender_socket(interface)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="beacon", daemon=True)
        self.sent = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def send_once(self) -> bool:
        body = self.payload()
        if body is None:
            return False
        body["ts"] = time.time()
        try:
            self.sock.sendto(beacon.sign(body, self.key), (self.group, self.port))
        except OSError as exc:  # no route yet (link down): try again next time
            log.debug("beacon not sent: %s", exc)
            return False
        self.sent += 1
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            self.send_once()
            self._stop.wait(self.every)

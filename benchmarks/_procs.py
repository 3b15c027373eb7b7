"""Process and port helpers shared by the benchmarks that start real servers.

``free_port``/``free_block`` find loopback ports, ``process`` starts a program
(log to a file, optionally waits for its port) and always stops it,
``hub_command`` is the argv of a hub pulling given agents (the stand-ins' is
``microrack.hub._standin.command``), and ``cpu_seconds``/``rss_bytes`` read a
process's cost from ``/proc``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "TICK",
    "cpu_seconds",
    "free_block",
    "free_port",
    "hub_command",
    "process",
    "rss_bytes",
    "wait_port",
]

TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    """A loopback TCP port nothing listens on (the kernel's choice)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_block(n: int) -> int:
    """A first port such that port .. port+n-1 are all free on loopback."""
    for _ in range(200):
        base = free_port()
        if base + n > 65000:
            continue
        socks: list[socket.socket] = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no block of {n} free ports")


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    """Until ``port`` accepts on loopback; raises if ``proc`` exits or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"port {port} not listening after {timeout:g} s")


@contextlib.contextmanager
def process(
    argv: list[str], log: Path, port: int | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``argv`` (output to ``log``), wait for ``port`` if given; SIGTERM, then SIGKILL
    after 15 s, on leaving."""
    with open(log, "wb") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            if port is not None:
                wait_port(port, proc)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)


def hub_command(db: Path, port: int, targets: list[str], *extra: str) -> list[str]:
    """The argv of ``microrack hub`` on loopback ``port`` over ``db``, pulling ``targets``."""
    argv = [sys.executable, "-m", "microrack", "hub", "--listen", f"127.0.0.1:{port}"]
    argv += ["--db", str(db), *extra]
    for t in targets:
        argv += ["--agent", t]
    return argv


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid: int) -> int:
    """Resident set of ``pid`` now."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0

"""Helpers for tests that start real programs.

Under ``CI=true`` a missing real component (a Debian program, a PyPI package,
root for network namespaces) is a failure, never a skip: ``.ci/run``
installs everything the tests need.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def missing(what: str) -> None:
    """Fail under CI, skip elsewhere: ``what`` is not installed or not allowed."""
    if IN_CI:
        pytest.fail(f"required component missing under CI=true: {what}", pytrace=False)
    pytest.skip(f"not available here: {what}")


def kernel_lacks(what: str) -> None:
    """Skip, even under CI: the running kernel lacks ``what``.

    A kernel feature (a module such as i2c-stub or gpio-sim) is the one kind of
    component the project cannot install from a package: it comes with the
    machine.  Everything else that is missing goes through :func:`missing`.
    """
    pytest.skip(f"this machine's kernel lacks {what}")


def require_binary(name: str, *candidates: str) -> str:
    """The path of a program (looked up on PATH, then in ``candidates``)."""
    found = shutil.which(name)
    if found:
        return found
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    missing(f"program {name!r} (Debian package)")
    raise AssertionError("unreachable")


# Chromium in a closed sandbox: without the background-networking flags it
# keeps trying to reach Google's hosts.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextlib.contextmanager
def browser() -> Iterator[object]:
    """A Playwright ``Browser`` on Debian's Chromium; fails under CI if either is missing."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("playwright (PyPI)")
    chromium = require_binary("chromium", "/usr/bin/chromium")
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def offline(page: object) -> None:
    """Let ``page`` load ``file:`` URLs only: a report must carry its own scripts."""
    page.route(  # type: ignore[attr-defined]
        "**/*",
        lambda route: route.continue_() if route.request.url.startswith("file:") else route.abort(),
    )


def require_root() -> None:
    if os.geteuid() != 0:
        missing("root (network namespaces)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for_port(
    host: str, port: int, timeout: float = 30.0, proc: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(
                f"process exited with {proc.returncode} before listening on {host}:{port}"
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return int(r.status), r.read()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read()


def wait_http_ok(url: str, timeout: float = 120.0) -> None:
    """Wait until ``url`` answers 200: a server may listen before it is ready
    (Prometheus answers 503 while it replays its write-ahead log)."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            status, body = http_get(url, timeout=5)
            if status == 200:
                return
            last = (status, body[:200])
        except OSError as exc:
            last = exc
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout:g} s: {last!r}")


def microrack_cmd(*args: str) -> list[str]:
    """The command line that runs microrack from this interpreter."""
    return [sys.executable, "-m", "microrack", *args]


@dataclass
class Proc:
    """A started program; always stopped by its pid at teardown."""

    argv: Sequence[str]
    popen: subprocess.Popen
    log: Path
    extra: dict = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int | None:
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.popen.pid, sig)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        return self.popen.returncode


@contextlib.contextmanager
def started(
    argv: Sequence[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    wait: tuple[str, int] | None = None,
    timeout: float = 30.0,
) -> Iterator[Proc]:
    """Start ``argv`` with output to ``log``; wait for a port; stop it on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    fh = open(log, "wb")  # noqa: SIM115 - closed in finally
    popen = subprocess.Popen(
        list(argv), stdout=fh, stderr=subprocess.STDOUT, env=env, cwd=cwd, stdin=subprocess.DEVNULL
    )
    proc = Proc(argv, popen, log)
    try:
        if wait is not None:
            try:
                wait_for_port(wait[0], wait[1], timeout, popen)
            except (TimeoutError, RuntimeError) as exc:
                tail = proc.output()[-3000:]
                raise RuntimeError(f"{argv[0]} did not start: {exc}\n{tail}") from exc
        yield proc
    finally:
        proc.stop()
        fh.close()


class NetNS:
    """Network namespaces on one bridge, addressed from 198.18.0.0/15.

    Each host gets ``198.18.<subnet>.<i+1>/24``; nothing leaves the namespaces.
    Names carry the test's pid so that parallel runs do not collide.
    """

    def __init__(self, count: int, subnet: int = 0, prefix: str = "mr") -> None:
        require_root()
        require_binary("ip")
        tag = f"{prefix}{os.getpid() % 100000}"
        self.bridge = f"{tag}br"
        self.names = [f"{tag}n{i}" for i in range(count)]
        self.addresses = [f"198.18.{subnet}.{i + 1}" for i in range(count)]
        self._created: list[str] = []

    def _ip(self, *args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True)

    def __enter__(self) -> NetNS:
        try:
            self._ip("link", "add", self.bridge, "type", "bridge")
            self._created.append(f"link:{self.bridge}")
            self._ip("link", "set", self.bridge, "up")
            for i, (ns, addr) in enumerate(zip(self.names, self.addresses, strict=True)):
                self._ip("netns", "add", ns)
                self._created.append(f"ns:{ns}")
                host_end, ns_end = f"{self.bridge}h{i}", f"{self.bridge}c{i}"
                self._ip("link", "add", host_end, "type", "veth", "peer", "name", ns_end)
                self._created.append(f"link:{host_end}")
                self._ip("link", "set", host_end, "master", self.bridge)
                self._ip("link", "set", host_end, "up")
                self._ip("link", "set", ns_end, "netns", ns)
                self._ip("-n", ns, "addr", "add", f"{addr}/24", "dev", ns_end)
                self._ip("-n", ns, "link", "set", ns_end, "up")
                self._ip("-n", ns, "link", "set", "lo", "up")
        except subprocess.CalledProcessError as exc:
            self.__exit__(None, None, None)
            missing(f"network namespaces ({exc.stderr.decode(errors='replace').strip()})")
        return self

    def iface(self, i: int) -> str:
        """The interface name inside namespace ``i``."""
        return f"{self.bridge}c{i}"

    def host_link(self, i: int) -> str:
        """The bridge-side end of namespace ``i``'s link (set it down to partition)."""
        return f"{self.bridge}h{i}"

    def exec_argv(self, i: int, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.names[i], *argv]

    def __exit__(self, *exc: object) -> None:
        for item in reversed(self._created):
            kind, name = item.split(":", 1)
            if kind == "ns":
                subprocess.run(["ip", "netns", "del", name], capture_output=True)
            else:
                subprocess.run(["ip", "link", "del", name], capture_output=True)
        self._created.clear()

"""The agent: a collect loop, a ring buffer, the HTTP endpoint and the beacon."""

from __future__ import annotations

import contextlib
import errno
import logging
import selectors
import signal
import socket
import threading
import time
import uuid
from collections import ChainMap
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from microrack import __version__
from microrack.agent._beacon import BeaconSender, primary_address
from microrack.agent._chaos import ChaosAPI
from microrack.agent._collector import Collection, Collector, PointSource
from microrack.agent._collectors.cgroup import ring_keeps
from microrack.agent._families import HELP
from microrack.agent._registry import CollectorOptions
from microrack.agent._ring import RingBuffer
from microrack.agent._server import AgentServer
from microrack.agent._wire import iter_rows
from microrack.beacon import DEFAULT_GROUP, DEFAULT_PORT
from microrack.errors import ResourceError, UsageError
from microrack.exposition import iter_bytes, render_bytes
from microrack.sample import NodeIdentity
from microrack.sdnotify import Notifier
from microrack.sensors import HostFS, LocalFS, power_model

__all__ = ["Agent", "AgentConfig", "parse_listen"]

log = logging.getLogger(__name__)

DEFAULT_BUFFER = 720  # one hour at the default 5 s interval
#: Collections of more series than this are streamed to each scrape, not kept rendered.
STREAM_OVER = 5000


@dataclass(frozen=True, slots=True)
class AgentConfig:
    host: str = "0.0.0.0"
    port: int = 9101
    interval: float = 5.0
    node: str = ""
    board: str | None = None
    buffer: int = DEFAULT_BUFFER
    beacon_key: bytes | None = None
    beacon_group: str = DEFAULT_GROUP
    beacon_port: int = DEFAULT_PORT
    beacon_every: float | None = None
    collectors: frozenset[str] | None = None  # None: node_exporter's default set
    options: CollectorOptions = field(default_factory=CollectorOptions)


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) -> (host, port); :class:`UsageError` otherwise."""
    host, sep, port_s = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_s.isdigit() or not 0 <= int(port_s) <= 65535:
        raise UsageError("--listen", f"expected HOST:PORT with a port 0-65535, got {text!r}")
    try:
        socket.getaddrinfo(host, int(port_s), type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UsageError("--listen", f"cannot use host {host!r}: {exc}") from exc
    return host, int(port_s)


class Agent:
    """Collects every ``interval`` seconds from ``fs`` and serves what it collected."""

    def __init__(
        self,
        config: AgentConfig,
        fs: HostFS | None = None,
        extra: Sequence[PointSource] = (),
        notifier: Notifier | None = None,
        chaos: ChaosAPI | None = None,
    ) -> None:
        self.config = config
        self.notifier = notifier if notifier is not None else Notifier()
        fs = fs if fs is not None else LocalFS("/")
        # the same host files every interval: keep the kernel's open between collections
        self.fs = fs.keeping_open() if isinstance(fs, LocalFS) else fs
        self.boot_id = str(uuid.uuid4())
        self.node = config.node or socket.gethostname()
        self.ring = RingBuffer(config.buffer, keep=ring_keeps)
        self._extra = tuple(extra)
        self.collector = self._new_collector()
        # A simulated board (microrack.sim) can crash, reboot or be cut off; the
        # agent then behaves as the agent on such a board would (see _follow_board).
        self._board_boot_id: str | None = getattr(self.fs, "boot_id", None)
        self._latest: Collection | None = None
        self._text: tuple[int, bytes | bytearray] = (0, b"")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: AgentServer | None = None
        self._threads: list[threading.Thread] = []
        self._wake_r, self._wake_w = socket.socketpair()  # wakes the http thread on stop()
        self.beacon: BeaconSender | None = None
        self.started_at = time.monotonic()
        self.chaos = chaos  # the signed fault endpoints (--chaos-token), None: read-only

    def _new_collector(self) -> Collector:
        return Collector(
            self.fs,
            node=self.node,
            board=self.config.board,
            boot_id=self.boot_id,
            version=__version__,
            power=power_model(self.config.board),
            extra=self._extra,
            collectors=self.config.collectors,
            options=self.config.options,
        )

    def reachable(self) -> bool:
        """False while the node is down or cut off: a host FS may say so (the twin does)."""
        return bool(getattr(self.fs, "reachable", True))

    def _follow_board(self) -> None:
        """After a simulated board reboots, start over as a freshly started agent would.

        On a real board the agent dies with the kernel; on the twin the process
        lives on, so a new board boot id means: new agent boot id, empty ring and
        counters read from zero, which is what a reader must cope with anyway.
        """
        board_boot = getattr(self.fs, "boot_id", None)
        if board_boot is None or board_boot == self._board_boot_id:
            return
        self._board_boot_id = board_boot
        self.boot_id = str(uuid.uuid4())
        with self._lock:
            self.ring = RingBuffer(self.config.buffer, keep=ring_keeps)
            self.collector = self._new_collector()
            self._latest = None
            self._text = (0, b"")
        log.info("the simulated board rebooted: starting over with boot id %s", self.boot_id)

    # --- serving ----------------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None:
            return self.config.host, self.config.port
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def identity(self) -> NodeIdentity:
        host, port = self.address
        if host in ("0.0.0.0", "", "::"):
            host = primary_address(self.config.beacon_group)
        return NodeIdentity(
            self.node, self.config.board, host, port, self.boot_id, self.config.interval
        )

    def metrics_text(self) -> bytes | bytearray:
        """The whole /metrics answer in one piece."""
        body = self.metrics_body()
        return body if isinstance(body, bytes | bytearray) else b"".join(body)

    def metrics_body(self) -> bytes | bytearray | Iterator[bytes]:
        """The /metrics answer: one buffer, or for a large collection its families one by one.

        A collection of up to :data:`STREAM_OVER` series is rendered once and
        kept for every scrape until the next collection.  A larger one (a node
        with hundreds of containers: megabytes of text) is rendered family by
        family as it is sent and never kept whole, so serving it costs the
        agent a family's text, not the answer's.
        """
        with self._lock:
            latest = self._latest
            seq, text = self._text
        if latest is None:
            return b""
        if seq != latest.sample.seq:
            del text  # the old text is let go before the new one is built: one copy at a time
            if len(latest.sample.points) > STREAM_OVER:
                with self._lock:
                    self._text = (0, b"")
                return self._stream(latest)
            text = self._render(latest)
        if self.chaos is not None:
            return text + self.chaos.metrics_text().encode()
        return text

    def _stream(self, latest: Collection) -> Iterator[bytes]:
        yield from iter_bytes(latest.sample.points, ChainMap(dict(latest.help), HELP), latest.raw)
        if self.chaos is not None:
            yield self.chaos.metrics_text().encode()

    def _render(self, latest: Collection) -> bytearray:
        with self._lock:
            self._text = (0, b"")
        text = render_bytes(latest.sample.points, ChainMap(dict(latest.help), HELP), latest.raw)
        with self._lock:
            self._text = (latest.sample.seq, text)
        return text

    def snapshot(self) -> dict[str, Any] | None:
        latest = self._latest
        if latest is None:
            return None
        ident = self.identity()
        return {
            "node": {
                "name": ident.name,
                "board": ident.board,
                "address": ident.address,
                "port": ident.port,
                "boot_id": ident.boot_id,
                "interval": ident.interval,
            },
            **latest.snapshot(),
        }

    def samples_since(self, since: int) -> Iterator[str]:
        """The JSON body of ``/api/v1/samples?since=`` (``encode_batch``'s format), in pieces."""
        first, last, rows = self.ring.window(since)
        return iter_rows(self.identity(), first, last, rows)

    def health(self) -> tuple[bool, dict[str, Any]]:
        latest = self._latest
        age = None if latest is None else time.time() - latest.sample.ts
        ok = latest is not None and age is not None and age < max(3 * self.config.interval, 30)
        return ok, {
            "ok": ok,
            "seq": self.ring.last_seq,
            "last_collection_age_seconds": age,
            "boot_id": self.boot_id,
        }

    def beacon_payload(self) -> dict[str, Any] | None:
        latest = self._latest
        if latest is None or not self.reachable():
            return None
        ident = self.identity()
        return {
            "node": ident.name,
            "board": ident.board,
            "address": ident.address,
            "port": ident.port,
            "boot_id": ident.boot_id,
            "seq": latest.sample.seq,
            "interval": ident.interval,
            "headline": latest.headline,
        }

    # --- running ----------------------------------------------------------------

    def collect_once(self) -> Collection:
        c = self.collector.collect()
        self.ring.append(c.sample)
        with self._lock:
            self._latest = c
        return c

    def _loop(self) -> None:
        # start() has just collected: the next collection is one interval later (collecting
        # again at once would give a first "interval" of a few ms and a meaningless busy ratio)
        interval = self.config.interval
        next_at = time.monotonic() + interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            try:
                if self.reachable():
                    self._follow_board()
                    self.collect_once()
                    # only a collection that really ran feeds systemd's watchdog
                    self.notifier.watchdog()
            except Exception:  # keep serving the last good collection
                log.exception("collection failed")
            next_at += interval
            now = time.monotonic()
            if next_at < now:  # fell behind (suspended, overloaded): skip, do not burst
                next_at = now + interval

    def _serve(self, server: AgentServer) -> None:
        """``serve_forever`` without its poll: asleep until a request comes or stop() wakes it.

        socketserver's loop wakes every ``poll_interval`` to look for a shutdown
        request, an idle cost paid all day; here stop() wakes the one select.
        """
        server.timeout = 0  # handle_request() below: the select here has seen the request
        with selectors.DefaultSelector() as sel:
            sel.register(server, selectors.EVENT_READ)
            sel.register(self._wake_r, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select():
                    if key.fileobj is server and not self._stop.is_set():
                        server.handle_request()

    def bind(self) -> None:
        """Open the listening socket; :class:`ResourceError` naming the address on failure."""
        where = f"{self.config.host}:{self.config.port}"
        try:
            self._server = AgentServer((self.config.host, self.config.port), self)
        except OSError as exc:
            reason = (
                "address already in use"
                if exc.errno == errno.EADDRINUSE
                else (exc.strerror or str(exc))
            )
            raise ResourceError(f"--listen {where}: cannot listen: {reason}") from exc

    def start(self) -> None:
        if self._server is None:
            self.bind()
        assert self._server is not None
        if self.chaos is not None:
            self.chaos.engine.start()
        self.collect_once()
        t = threading.Thread(target=self._loop, name="collect", daemon=True)
        s = threading.Thread(target=self._serve, args=(self._server,), name="http", daemon=True)
        self._threads = [t, s]
        t.start()
        s.start()
        # the first collection is in and the socket is serving it: systemd may go on
        self.notifier.ready(f"serving {len(self.collector.registry.names)} collectors")
        self.notifier.watchdog()
        cfg = self.config
        if cfg.beacon_key is None:
            log.warning(
                "no --beacon-key given: no beacon is sent (hubs find this node only "
                "through their --agent list or cluster spec)"
            )
        else:
            host = self.address[0]
            iface = host if host not in ("0.0.0.0", "", "::") else "0.0.0.0"
            every = cfg.beacon_every or max(1.0, min(cfg.interval, 5.0))
            self.beacon = BeaconSender(
                cfg.beacon_key,
                self.beacon_payload,
                group=cfg.beacon_group,
                port=cfg.beacon_port,
                interface=iface,
                every=every,
            )
            self.beacon.start()

    def stop(self) -> None:
        self.notifier.stopping()
        self._stop.set()
        if self.chaos is not None:  # a stopping agent leaves no fault behind
            self.chaos.engine.stop()
        if self.beacon is not None:
            self.beacon.stop()
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")  # the http thread wakes, sees _stop and returns
            for t in self._threads[1:]:
                t.join(timeout=5)
            self._server.server_close()
        self._wake_r.close()
        self._wake_w.close()
        for t in self._threads:
            t.join(timeout=5)

    def serve_until_signal(self) -> None:
        """Run until SIGTERM or SIGINT, then stop cleanly."""
        done = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: done.set())
        self.start()
        host, port = self.address
        log.info(
            "agent %s listening on %s:%d, collecting every %gs",
            self.node,
            host,
            port,
            self.config.interval,
        )
        while not done.wait(3600):
            pass
        self.stop()

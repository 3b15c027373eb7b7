"""The hub as a running service: targets, pull loops, the writer, alerts, events."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from microrack import beacon as beacon_mod
from microrack.hub._alerts import Alert, AlertEngine, RulesFile
from microrack.hub._collector import PullResult, pull_loop
from microrack.hub._energy import POWER_METRIC, EnergyMeter
from microrack.hub._events import EventBus
from microrack.hub._nodes import NodeState, status_for
from microrack.hub._notify import Notifier
from microrack.hub._remote import RemoteWriter
from microrack.hub._store import Batch, Retention, Store

__all__ = ["Hub", "HubConfig"]

log = logging.getLogger("microrack.hub")


@dataclass
class HubConfig:
    """Everything ``microrack hub`` can be told."""

    db: Path
    agents: list[tuple[str, int]] = field(default_factory=list)
    spec_targets: list[tuple[str, str, int]] = field(default_factory=list)
    beacon_key: bytes | None = None
    beacon_group: str = beacon_mod.DEFAULT_GROUP
    beacon_port: int = beacon_mod.DEFAULT_PORT
    beacon_interface: str = "0.0.0.0"
    rules: RulesFile = field(default_factory=RulesFile)
    price_kwh: float | None = None
    currency: str = ""
    remote_write: str | None = None
    webhooks: list[str] = field(default_factory=list)
    alertmanager: str | None = None
    retention: Retention = field(default_factory=Retention)
    poll: float | None = None  # override each agent's own interval
    flush_seconds: float = 2.0
    maintenance_seconds: float = 60.0
    listen_host: str = "127.0.0.1"  # with allow_hosts: the Host headers the API answers to
    allow_hosts: list[str] = field(default_factory=list)


class Hub:
    """Owns the store and every background task; the API reads from it."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self.store = Store(config.db, config.retention)
        self.bus = EventBus()
        self.alerts = AlertEngine(config.rules)
        self.nodes: dict[str, NodeState] = {}  # by "host:port"
        self.beacons_dropped: dict[str, int] = dict.fromkeys(
            ("unsigned", "bad_signature", "malformed", "stale"), 0
        )
        self.beacons_accepted = 0
        self.pulls: dict[str, int] = {"ok": 0, "error": 0}
        self.pull_seconds_sum = 0.0
        self.pull_seconds_max = 0.0
        self.write_seconds_sum = 0.0
        self.writes = 0
        self.started = time.time()
        self._queue: asyncio.Queue[Batch] = asyncio.Queue()
        self._unwritten: list[Batch] = []  # batches of a failed write, retried first
        self.write_failures = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._client: httpx.AsyncClient | None = None
        self.remote: RemoteWriter | None = None
        self.notifier: Notifier | None = None
        self.energy = EnergyMeter()
        self._known = {r.name: r for r in self.store.nodes()}

    # -- targets -----------------------------------------------------------
    def add_target(self, host: str, port: int, source: str, name: str | None = None) -> NodeState:
        key = f"{host}:{port}"
        node = self.nodes.get(key)
        if node is not None:
            return node
        node = NodeState(host=host, port=port, source=source, name=name)
        rec = self._known.get(name) if name else None
        if rec is None:
            rec = next(
                (r for r in self._known.values() if r.address == host and r.port == port), None
            )
        if rec is not None:
            # Resume after the last stored sample of this node's boot.
            node.name, node.board, node.boot_id = rec.name, rec.board, rec.boot_id
            node.since, node.last_seen = rec.last_seq, rec.last_ts
            node.stored_seq = rec.last_seq
            node.interval = rec.interval or node.interval
        self.nodes[key] = node
        log.info("target %s (%s) from %s, since seq %d", key, node.name or "?", source, node.since)
        if self._client is not None:
            self._spawn(pull_loop(node, self._deliver, self._failed, self._stop, self.config.poll))
        return node

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.energy.seed, self.store, time.time())
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), limits=limits)
        for host, port in self.config.agents:
            self.add_target(host, port, "agent")
        for name, host, port in self.config.spec_targets:
            self.add_target(host, port, "spec", name)
        self._spawn(self._writer())
        self._spawn(self._ticker())
        self._spawn(self._maintenance())
        if self.config.remote_write:
            self.remote = RemoteWriter(self.config.remote_write, self._client)
            self._spawn(self.remote.run(self._stop))
        self.notifier = Notifier(
            self._client, self.config.webhooks, self.config.alertmanager, external_url=""
        )
        self._spawn(self.notifier.run(self._stop, self.alerts))
        if self.config.beacon_key is not None:
            await self._listen_beacons()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.sleep(0)
        await self._flush()
        if self.remote is not None:
            await self.remote.drain(5.0)
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._client is not None:
            await self._client.aclose()
        self.store.close()

    def _spawn(self, coro: Any) -> None:
        self._tasks.append(asyncio.create_task(coro))

    # -- collection --------------------------------------------------------
    async def _deliver(self, node: NodeState, result: PullResult) -> None:
        self.pulls["ok"] += 1
        self.pull_seconds_sum += result.duration
        self.pull_seconds_max = max(self.pull_seconds_max, result.duration)
        if result.restarted:
            self.bus.publish("log", {"node": node.key, "message": "agent restarted (new boot id)"})
        if result.batch is not None and (result.batch.samples or result.restarted):
            await self._queue.put(result.batch)
        self._set_status(node)
        if result.batch is not None and result.batch.samples and self.bus.subscribers:
            self.bus.publish("node", node.describe())
        if result.batch is not None and result.batch.samples:
            self._meter(result.batch)
        if result.batch is not None and result.batch.samples:
            # Rules see every pull's newest values, not a once-a-second sample of them.
            for alert in self.alerts.evaluate([node]):
                self._announce(alert)

    def _meter(self, batch: Batch) -> None:
        idx = next((i for i, s in enumerate(batch.series) if s[0] == POWER_METRIC), None)
        if idx is None:
            return
        for _seq, ts, values in batch.samples:
            w = values[idx] if idx < len(values) else None
            if w is not None:
                self.energy.add(batch.node, ts, w)

    async def _failed(self, node: NodeState, error: str) -> None:
        self.pulls["error"] += 1
        log.debug("pull %s failed: %s", node.key, error)

    async def _writer(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.config.flush_seconds)
            await self._flush()

    async def _flush(self) -> None:
        # Batches of a failed write go first: the pull loops have moved on past them, so
        # dropping them would leave a gap, and re-pulling them would store the queued ones twice.
        batches, self._unwritten = self._unwritten, []
        while not self._queue.empty():
            batches.append(self._queue.get_nowait())
        if not batches:
            return
        batches = merge_batches(batches)
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(self.store.write, batches)
        except Exception:
            log.exception(
                "store write failed; keeping %d samples for the next write",
                sum(len(b.samples) for b in batches),
            )
            self._unwritten = batches
            self.write_failures += 1
            return
        self.write_seconds_sum += time.perf_counter() - t0
        self.writes += 1
        if self.remote is not None:
            self.remote.submit(batches)
        last = {b.node: b for b in batches}
        for name, b in last.items():
            owner = self._by_name(name)
            if owner is not None and b.boot_id == owner.boot_id:
                owner.stored_seq = b.last_seq

    def _by_name(self, name: str) -> NodeState | None:
        return next((n for n in self.nodes.values() if n.name == name), None)

    def _set_status(self, node: NodeState, now: float | None = None) -> None:
        new = status_for(
            node.age(now),
            node.interval if self.config.poll is None else max(self.config.poll, node.interval),
        )
        if new != node.status:
            old, node.status = node.status, new
            log.info("node %s: %s -> %s", node.key, old, new)
            self.bus.publish("node", node.describe())

    async def _ticker(self) -> None:
        """Statuses four times a second, alert rules once a second."""
        tick = 0
        while not self._stop.is_set():
            now = time.monotonic()
            for node in list(self.nodes.values()):
                if node.last_ok is None:
                    continue
                self._set_status(node, now)
            tick += 1
            if tick % 4 == 0:
                for alert in self.alerts.evaluate(list(self.nodes.values())):
                    self._announce(alert)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=0.25)

    def _announce(self, alert: Alert) -> None:
        log.warning("alert %s %s on %s: %s", alert.rule, alert.state, alert.node, alert.summary)
        self.bus.publish("alert", alert.describe())
        if self.notifier is not None:
            self.notifier.submit(alert)

    async def _maintenance(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), timeout=self.config.maintenance_seconds)
            if self._stop.is_set():
                return
            try:
                await asyncio.to_thread(self.store.close_heads)
                await asyncio.to_thread(self.store.apply_retention)
            except Exception:
                log.exception("store maintenance failed")

    # -- beacons -----------------------------------------------------------
    async def _listen_beacons(self) -> None:
        sock = beacon_mod.receiver_socket(
            self.config.beacon_group, self.config.beacon_port, self.config.beacon_interface
        )
        sock.setblocking(False)
        hub = self

        class _Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                hub.on_beacon(data)

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Proto, sock=sock)
        self._tasks.append(asyncio.create_task(self._close_on_stop(transport)))

    async def _close_on_stop(self, transport: asyncio.BaseTransport) -> None:
        try:
            await self._stop.wait()
        finally:
            transport.close()

    def on_beacon(self, datagram: bytes) -> None:
        assert self.config.beacon_key is not None
        try:
            b = beacon_mod.verify(datagram, self.config.beacon_key, time.time())
        except beacon_mod.BeaconRejected as exc:
            self.beacons_dropped[exc.reason] = self.beacons_dropped.get(exc.reason, 0) + 1
            log.debug("beacon dropped: %s", exc)
            return
        self.beacons_accepted += 1
        node = self.add_target(b.address, b.port, "beacon", b.node)
        node.beacon_headline = dict(b.headline)
        if node.board is None:
            node.board = b.board

    # -- views for the API -------------------------------------------------
    def node_list(self) -> list[dict[str, Any]]:
        return sorted((n.describe() for n in self.nodes.values()), key=lambda d: d["name"])

    def summary(self) -> dict[str, Any]:
        """Cluster totals: watts now, kWh today, monthly cost at the configured price."""
        watts = 0.0
        counts = {"up": 0, "stale": 0, "down": 0, "unknown": 0}
        for n in self.nodes.values():
            counts[n.status] += 1
            w = n.headline()["power_watts"]
            if w is not None and math.isfinite(w) and n.status == "up":
                watts += w
        kwh = self.energy_today_kwh()
        price = self.config.price_kwh
        return {
            "nodes": counts,
            "watts": watts,
            "kwh_today": kwh,
            "price_kwh": price,
            "currency": self.config.currency,
            "cost_today": None if price is None else kwh * price,
            "monthly_cost": None if price is None else watts * 24 * 30 / 1000 * price,
            "alerts_firing": len(self.alerts.firing()),
        }

    def energy_today_kwh(self) -> float:
        return self.energy.kwh_today(time.time())


def merge_batches(batches: list[Batch]) -> list[Batch]:
    """One batch per node and series list: fewer, larger head rows (order kept)."""
    out: list[Batch] = []
    last: dict[str, int] = {}
    for b in batches:
        i = last.get(b.node)
        prev = out[i] if i is not None else None
        if (
            i is not None
            and prev is not None
            and prev.boot_id == b.boot_id
            and prev.series is b.series
        ):
            out[i] = dataclasses.replace(
                prev, last_seq=b.last_seq, samples=prev.samples + b.samples
            )
        else:
            last[b.node] = len(out)
            out.append(b)
    return out

"""The hub as a running service: targets, pull loops, the writer, alerts, events."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
import math
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import httpx

from microrack import beacon as beacon_mod
from microrack.hub._alerts import Alert, AlertEngine, RulesFile
from microrack.hub._collector import PullResult, pull_loop
from microrack.hub._energy import POWER_METRIC, EnergyMeter
from microrack.hub._events import EventBus
from microrack.hub._guard import lock_store
from microrack.hub._nodes import NodeState, status_for
from microrack.hub._notify import Notifier
from microrack.hub._rack import RackLayout
from microrack.hub._remote import RemoteWriter
from microrack.hub._store import Batch, Retention, Store
from microrack.hub._validate import REASONS, Limits

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MAX_NAMES_PER_TARGET = 4
FLUSH_EARLY_VALUES = 200_000  # queued values that make the writer write before its interval

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
    remote_write_format: Literal["remote-write", "vm-import"] | None = None  # None: by URL
    webhooks: list[str] = field(default_factory=list)
    alertmanager: str | None = None
    retention: Retention = field(default_factory=Retention)
    poll: float | None = None  # override each agent's own interval
    flush_seconds: float = 2.0
    maintenance_seconds: float = 60.0
    listen_host: str = "127.0.0.1"  # with allow_hosts: the Host headers the API answers to
    allow_hosts: list[str] = field(default_factory=list)
    # beacons make targets only inside these networks (--spec networks, --allow CIDR)
    allow_networks: list[Network] = field(default_factory=list)
    beacon_max_targets: int = 256
    beacon_expiry: float = 120.0  # a beacon target with no beacon for this long is dropped
    max_response: int = 8 * 2**20  # bytes of one agent answer
    pull_timeout: float = 10.0
    node_budget: int = 200_000  # unstored values one node may hold in memory (~6 MB)
    limits: Limits = field(default_factory=Limits)
    repin: list[str] = field(default_factory=list)  # node names whose address pin is released
    lock: bool = True  # take the store's lock (one hub per store)
    rack: RackLayout | None = None  # from --spec: where each node sits, for the rack view
    chaos_secret: bytes | None = None  # --chaos-token: accept signed POST /api/v1/annotations


class Hub:
    """Owns the store and every background task; the API reads from it."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self._lock: IO[bytes] | None = lock_store(config.db) if config.lock else None
        try:
            self.store = Store(config.db, config.retention)
        except BaseException:
            self.release()
            raise
        self.bus = EventBus()
        self.alerts = AlertEngine(config.rules)
        self.nodes: dict[str, NodeState] = {}  # by "host:port"
        self.beacons_dropped: dict[str, int] = dict.fromkeys(
            (
                "unsigned",
                "bad_signature",
                "malformed",
                "stale",
                "not_allowed",
                "over_cap",
                "name_taken",
            ),
            0,
        )
        # values refused, by (node, reason); nodes are bounded by the targets the hub has
        self.rejected: dict[tuple[str, str], int] = {}
        self.maintenance_skipped = 0
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
        self._flush_now = asyncio.Event()
        self._queued = 0  # values in the queue since the last flush
        self._tasks: list[asyncio.Task[Any]] = []
        self._client: httpx.AsyncClient | None = None
        self.remote: RemoteWriter | None = None
        self.notifier: Notifier | None = None
        self.energy = EnergyMeter()
        self._known = {r.name: r for r in self.store.nodes()}
        self._loops: dict[str, asyncio.Task[Any]] = {}
        # TOFU: a node name belongs to the address:port it was first pulled from
        self.pins: dict[str, str] = {
            r.name: f"{r.address}:{r.port}"
            for r in self._known.values()
            if r.address is not None and r.port is not None and r.name not in config.repin
        }
        for name, host, port in config.spec_targets:
            self.pins[name] = f"{host}:{port}"  # cluster.yaml says where each node is

    def release(self) -> None:
        """Give up the store's lock (done by :meth:`stop`)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

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
            self._start_loop(node)
        return node

    def _start_loop(self, node: NodeState) -> None:
        cfg = self.config
        task = asyncio.create_task(
            pull_loop(
                node,
                self._deliver,
                self._failed,
                self._stop,
                cfg.poll,
                limits=cfg.limits,
                admit=self.admit,
                max_body=cfg.max_response,
                timeout=cfg.pull_timeout,
            )
        )
        self._loops[f"{node.host}:{node.port}"] = task
        self._tasks.append(task)

    def remove_target(self, key: str) -> None:
        """Stop pulling the target ``host:port`` and forget it (its stored samples stay)."""
        node = self.nodes.pop(key, None)
        task = self._loops.pop(key, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(ValueError):
                self._tasks.remove(task)
        if node is not None:
            log.info("target %s (%s) removed", key, node.key)
            self.bus.publish("log", {"node": node.key, "message": "target removed"})

    def admit(self, node: NodeState, name: str) -> str | None:
        """TOFU: None if the target may be node ``name``, else why not."""
        target = f"{node.host}:{node.port}"
        pin = self.pins.get(name)
        if pin is None:
            held = sum(1 for t in self.pins.values() if t == target)
            if held >= MAX_NAMES_PER_TARGET:
                # a target that renames itself on every pull would fill the store with nodes
                return f"this address already spoke for {held} node names"
            self.pins[name] = target
            return None
        if pin == target:
            return None
        return (
            f"node name {name!r} belongs to {pin} (the address it was first seen at);"
            " start the hub with --repin NAME, or list the node in --spec, to move it"
        )

    # -- lifecycle ---------------------------------------------------------
    async def start(self) -> None:
        await asyncio.to_thread(self.energy.seed, self.store, time.time())
        limits = httpx.Limits(max_connections=1000, max_keepalive_connections=1000)
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=3.0), limits=limits)
        for host, port in self.config.agents:
            self.add_target(host, port, "agent")
        for name, host, port in self.config.spec_targets:
            self.add_target(host, port, "spec", name)
        for node in self.nodes.values():
            if f"{node.host}:{node.port}" not in self._loops:
                self._start_loop(node)
        self._spawn(self._writer())
        self._spawn(self._ticker())
        self._spawn(self._maintenance())
        if self.config.remote_write:
            self.remote = RemoteWriter(
                self.config.remote_write,
                self._client,
                fmt=self.config.remote_write_format,
                store=self.store,
            )
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
        self.release()

    def _spawn(self, coro: Any) -> None:
        self._tasks.append(asyncio.create_task(coro))

    # -- collection --------------------------------------------------------
    def _count(self, node: NodeState, reason: str, values: int) -> None:
        if reason not in REASONS or values <= 0:
            return
        node.rejected[reason] = node.rejected.get(reason, 0) + values
        k = (node.key, reason)
        self.rejected[k] = self.rejected.get(k, 0) + values

    async def _deliver(self, node: NodeState, result: PullResult) -> None:
        for reason, n in result.rejected.items():
            self._count(node, reason, n)
        if result.batch is not None and result.batch.samples:
            node.unstored += _values(result.batch)
        self.pulls["ok"] += 1
        self.pull_seconds_sum += result.duration
        self.pull_seconds_max = max(self.pull_seconds_max, result.duration)
        if result.restarted:
            self.bus.publish("log", {"node": node.key, "message": "agent restarted (new boot id)"})
        if result.batch is not None and (result.batch.samples or result.restarted):
            await self._queue.put(result.batch)
            self._queued += _values(result.batch)
            if self._queued >= FLUSH_EARLY_VALUES:
                # large catch-ups: write now rather than hold them until the next flush
                self._flush_now.set()
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

    async def _failed(self, node: NodeState, error: str, reason: str | None, values: int) -> None:
        self.pulls["error"] += 1
        if reason is not None:
            self._count(node, reason, values)
        log.debug("pull %s failed: %s", node.key, error)
        if self.bus.subscribers:
            self.bus.publish("node", node.describe())

    async def _writer(self) -> None:
        while not self._stop.is_set():
            self._flush_now.clear()
            stop = asyncio.ensure_future(self._stop.wait())
            now = asyncio.ensure_future(self._flush_now.wait())
            await asyncio.wait(
                {stop, now}, timeout=self.config.flush_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            stop.cancel()
            now.cancel()
            await self._flush()

    async def _flush(self) -> None:
        # Batches of a failed write go first: the pull loops have moved on past them, so
        # dropping them would leave a gap, and re-pulling them would store the queued ones twice.
        batches, self._unwritten = self._unwritten, []
        while not self._queue.empty():
            batches.append(self._queue.get_nowait())
        self._queued = 0
        if not batches:
            return
        batches = merge_batches(batches)
        t0 = time.perf_counter()
        try:
            await asyncio.to_thread(self.store.write, batches)
            written = batches
        except Exception as exc:
            # One node's batch must not keep every other node's out: write node by node.
            log.warning(
                "store write failed (%s: %s); writing node by node", type(exc).__name__, exc
            )
            self.write_failures += 1
            written = await self._write_each(batches)
        self.write_seconds_sum += time.perf_counter() - t0
        self.writes += 1
        if self.remote is not None and written:
            self.remote.submit(written)
        last = {b.node: b for b in written}
        for b in written:
            owner = self._by_name(b.node)
            if owner is not None:
                owner.unstored = max(0, owner.unstored - _values(b))
        for name, b in last.items():
            owner = self._by_name(name)
            if owner is not None and b.boot_id == owner.boot_id:
                owner.stored_seq = b.last_seq

    async def _write_each(self, batches: list[Batch]) -> list[Batch]:
        """Write each node's batches on their own; keep or drop what fails, per node."""
        by_node: dict[str, list[Batch]] = {}
        for b in batches:
            by_node.setdefault(b.node, []).append(b)
        written: list[Batch] = []
        for name, group in by_node.items():
            try:
                await asyncio.to_thread(self.store.write, group)
            except sqlite3.OperationalError as exc:
                # the store itself (disk full, locked): keep the samples for the next write,
                # within the node's memory budget
                log.warning("store write for %s failed (%s); keeping its samples", name, exc)
                self._keep_or_drop(name, group)
            except Exception as exc:
                log.error("store refused %s's samples (%s); they are dropped", name, exc)
                owner = self._by_name(name)
                if owner is not None:
                    self._count(owner, "store_error", sum(_values(b) for b in group))
                    owner.last_error = (
                        f"store_error: the store refused a batch ({type(exc).__name__})"
                    )
                    self._rewind(owner, group)
            else:
                written.extend(group)
        return written

    def _keep_or_drop(self, name: str, group: list[Batch]) -> None:
        owner = self._by_name(name)
        held = sum(_values(b) for b in group)
        if owner is None or held <= self.config.node_budget:
            self._unwritten.extend(group)
            return
        # Over budget: drop this node's unstored samples and pull them again from its
        # agent's ring once the store writes again (what the ring lost meanwhile is counted).
        self._count(owner, "over_budget", held)
        owner.last_error = (
            f"over_budget: {held} unstored values dropped; re-pulling from the agent's ring"
        )
        self._rewind(owner, group)

    def _rewind(self, owner: NodeState, group: list[Batch]) -> None:
        owner.unstored = 0
        if all(b.boot_id == owner.boot_id for b in group):
            owner.since = owner.stored_seq
        owner.epoch += 1

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
            if tick % 4 == 0 and self.config.beacon_key is not None:
                self.expire_beacon_targets(now)
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
            except Exception:
                log.exception("cutting heads into chunks failed")
            try:
                await asyncio.to_thread(self.store.apply_retention)
            except Exception:
                log.exception("retention failed")
            self.maintenance_skipped = len(self.store.skipped)

    # -- beacons -----------------------------------------------------------
    async def _listen_beacons(self) -> None:
        sock = beacon_mod.receiver_socket(
            self.config.beacon_group, self.config.beacon_port, self.config.beacon_interface
        )
        sock.setblocking(False)
        hub = self

        class _Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                hub.on_beacon(data, addr[0])

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_Proto, sock=sock)
        self._tasks.append(asyncio.create_task(self._close_on_stop(transport)))

    async def _close_on_stop(self, transport: asyncio.BaseTransport) -> None:
        try:
            await self._stop.wait()
        finally:
            transport.close()

    def _drop_beacon(self, reason: str, detail: str) -> None:
        self.beacons_dropped[reason] = self.beacons_dropped.get(reason, 0) + 1
        log.debug("beacon dropped: %s: %s", reason, detail)

    def beacon_allowed(self, address: str) -> bool:
        """A beacon may name only an address inside ``allow_networks`` (never 0.0.0.0,
        multicast or broadcast)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        if ip.is_unspecified or ip.is_multicast or str(ip) == "255.255.255.255":
            return False
        return any(ip.version == net.version and ip in net for net in self.config.allow_networks)

    def on_beacon(self, datagram: bytes, source: str | None = None) -> None:
        """A datagram from ``source`` (its IP address; None: not checked)."""
        assert self.config.beacon_key is not None
        try:
            b = beacon_mod.verify(datagram, self.config.beacon_key, time.time())
        except beacon_mod.BeaconRejected as exc:
            self._drop_beacon(exc.reason, str(exc))
            return
        if not self.beacon_allowed(b.address):
            self._drop_beacon("not_allowed", f"{b.address} is outside the allowed networks")
            return
        if source is not None and not _same_ip(source, b.address):
            # an agent announces itself: a beacon naming another host is not its own
            self._drop_beacon("address_mismatch", f"{b.address} announced from {source}")
            return
        key = f"{b.address}:{b.port}"
        pin = self.pins.get(b.node)
        if pin is not None and pin != key:
            self._drop_beacon("name_taken", f"{b.node!r} belongs to {pin}")
            return
        node = self.nodes.get(key)
        if node is None:
            from_beacons = sum(1 for n in self.nodes.values() if n.source == "beacon")
            if from_beacons >= self.config.beacon_max_targets:
                self._drop_beacon("over_cap", f"already {from_beacons} targets from beacons")
                return
            node = self.add_target(b.address, b.port, "beacon", b.node)
        self.beacons_accepted += 1
        node.beacon_seen = time.monotonic()
        node.beacon_headline = dict(b.headline)
        if node.board is None:
            node.board = b.board

    def expire_beacon_targets(self, now: float | None = None) -> list[str]:
        """Drop targets known only from beacons whose beacons stopped; their keys."""
        now = time.monotonic() if now is None else now
        gone = [
            key
            for key, n in self.nodes.items()
            if n.source == "beacon"
            and n.beacon_seen is not None
            and now - n.beacon_seen > self.config.beacon_expiry
        ]
        for key in gone:
            self.remove_target(key)
        return gone

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


def _same_ip(a: str, b: str) -> bool:
    try:
        x, y = ipaddress.ip_address(a), ipaddress.ip_address(b)
    except ValueError:
        return False
    if isinstance(x, ipaddress.IPv6Address) and x.ipv4_mapped is not None:
        x = x.ipv4_mapped
    return x == y


def _values(b: Batch) -> int:
    return len(b.samples) * max(1, len(b.series))


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

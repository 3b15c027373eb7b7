"""Pulling ``/api/v1/samples?since=SEQ`` from every agent, without gaps.

Each agent has one pull loop.  A pull asks for everything after the last
sequence number the hub *handed to the writer*; the writer stores the samples
and the node's new position in one transaction, so a crash re-pulls exactly
what was not yet stored.  A changed boot id (or a sequence number that went
backwards) means the agent restarted: its ring holds only the new boot, so
the hub asks again from 0 and keeps every sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from microrack.hub._http import KeepAliveClient
from microrack.hub._nodes import NodeState
from microrack.hub._store import Batch, SeriesTriple

__all__ = ["PullResult", "pull_once"]

log = logging.getLogger("microrack.hub.collector")


class PullResult:
    """What one pull produced: a batch to store (maybe empty) and whether more is waiting."""

    __slots__ = ("batch", "duration", "more", "restarted")

    def __init__(self, batch: Batch | None, more: bool, restarted: bool, duration: float) -> None:
        self.batch = batch
        self.more = more
        self.restarted = restarted
        self.duration = duration


def _series(body: dict[str, Any]) -> list[SeriesTriple]:
    out: list[SeriesTriple] = []
    for entry in body["series"]:
        name, labels, mtype = entry
        out.append((str(name), {str(k): str(v) for k, v in labels.items()}, str(mtype)))
    return out


async def pull_once(client: KeepAliveClient, node: NodeState) -> PullResult:
    """One pull of ``node``; updates its identity and position, returns the batch."""
    t0 = time.perf_counter()
    body = json.loads(await client.get(f"/api/v1/samples?since={node.since}"))
    ident = body["node"]
    boot_id = str(ident["boot_id"])
    last_seq = int(body["last_seq"])
    restarted = False
    if node.boot_id is not None and (boot_id != node.boot_id or last_seq < node.since):
        # The agent restarted: its sequence numbers start again.
        log.info("node %s restarted (boot id %s -> %s)", node.key, node.boot_id, boot_id)
        node.restarts += 1
        node.boot_id = boot_id
        node.since = 0
        node.stored_seq = 0
        restarted = True
        body = json.loads(await client.get("/api/v1/samples?since=0"))
        ident = body["node"]
        last_seq = int(body["last_seq"])
    node.boot_id = boot_id
    node.name = str(ident["name"])
    node.board = None if ident.get("board") is None else str(ident["board"])
    node.interval = float(ident.get("interval") or node.interval)
    wire = body["series"]
    if wire != node.wire_series:
        node.wire_series = wire
        node.parsed_series = _series(body)
        node.series_keys = [(n, tuple(sorted(lab.items()))) for n, lab, _ in node.parsed_series]
    series = node.parsed_series
    samples = [
        (int(s["seq"]), float(s["ts"]), s["values"])
        for s in body["samples"]
        if int(s["seq"]) > node.since
    ]
    if samples and node.since > 0 and samples[0][0] > node.since + 1:
        # The ring buffer overflowed while the hub was away: count, do not hide.
        node.lost += samples[0][0] - node.since - 1
    top = samples[-1][0] if samples else node.since
    more = bool(samples) and top < last_seq
    batch = Batch(
        node=node.name,
        board=node.board,
        address=node.host,
        port=node.port,
        boot_id=boot_id,
        interval=node.interval,
        last_seq=top,
        series=series,
        samples=samples,
    )
    if samples:
        node.set_latest(node.series_keys, samples[-1][2])
        node.last_seen = samples[-1][1]
    node.since = top
    return PullResult(batch, more, restarted, time.perf_counter() - t0)


async def pull_loop(
    node: NodeState,
    deliver: Callable[[NodeState, PullResult], Awaitable[None]],
    failed: Callable[[NodeState, str], Awaitable[None]],
    stop: asyncio.Event,
    min_interval: float | None = None,
) -> None:
    """Pull ``node`` every interval until ``stop`` is set; catch up at once when behind."""
    client = KeepAliveClient(node.host, node.port)
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            more = False
            try:
                result = await pull_once(client, node)
                more = result.more
                node.last_ok = time.monotonic()
                node.last_error = None
                await deliver(node, result)
            except (OSError, EOFError, TimeoutError, ValueError, KeyError, TypeError) as exc:
                node.last_error = f"{type(exc).__name__}: {exc}"
                await failed(node, node.last_error)
            if more:
                continue
            interval = min_interval if min_interval is not None else node.interval
            wait = max(0.05, interval - (time.monotonic() - t0))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
    finally:
        client.close()

"""Forwarding every stored sample to VictoriaMetrics (``--remote-write URL``).

The body is the Prometheus text exposition with millisecond timestamps, which
VictoriaMetrics accepts at ``/api/v1/import/prometheus``; each series gets a
``node`` label.  A failed post is retried with back-off and the batches wait
in a bounded queue, so a short outage of the remote store loses nothing.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math

import httpx

from microrack.hub._store import Batch

__all__ = ["RemoteWriter", "exposition"]

log = logging.getLogger("microrack.hub.remote")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def exposition(batch: Batch) -> str:
    """Prometheus text lines ``name{labels} value ts_ms`` for every sample of ``batch``."""
    heads = []
    for name, labels, _ in batch.series:
        lab = {**labels, "node": batch.node}
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(lab.items()))
        heads.append(f"{name}{{{inner}}} ")
    lines = []
    for _seq, ts, values in batch.samples:
        t = str(round(ts * 1000))
        for head, v in zip(heads, values, strict=False):
            if v is None or not math.isfinite(v):
                continue
            lines.append(f"{head}{v!r} {t}")
    return "\n".join(lines) + "\n" if lines else ""


class RemoteWriter:
    """A background task posting batches in order; retries, counts what it had to drop."""

    def __init__(self, url: str, client: httpx.AsyncClient, max_pending: int = 10000) -> None:
        self.url = url
        self._client = client
        self._pending: collections.deque[Batch] = collections.deque()
        self._max = max_pending
        self._wake = asyncio.Event()
        self.sent_samples = 0
        self.dropped_batches = 0
        self.failures = 0

    def submit(self, batches: list[Batch]) -> None:
        for b in batches:
            if b.samples:
                if len(self._pending) >= self._max:
                    self._pending.popleft()
                    self.dropped_batches += 1
                self._pending.append(b)
        self._wake.set()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = 0.5
        while not stop.is_set():
            if not self._pending:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            group = [self._pending[i] for i in range(min(50, len(self._pending)))]
            body = "".join(exposition(b) for b in group)
            try:
                resp = await self._client.post(
                    self.url, content=body.encode(), headers={"Content-Type": "text/plain"}
                )
                resp.raise_for_status()
            except httpx.HTTPError as exc:
                self.failures += 1
                log.warning("remote write to %s failed: %s", self.url, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            backoff = 0.5
            for _ in group:
                self._pending.popleft()
            self.sent_samples += body.count("\n")

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything queued has been posted (used at shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending and loop.time() < deadline:
            await asyncio.sleep(0.05)

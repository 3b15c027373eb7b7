"""Forwarding every stored sample to another store (``--remote-write URL``).

Two wire formats:

* ``remote-write`` (default): Prometheus remote write 1.0 — a ``WriteRequest``
  protobuf (the message layout of Prometheus's ``prompb/remote.proto``, built
  at import time with Google's ``protobuf`` library, so no generated code is
  kept), compressed with snappy's block format (``cramjam``), posted with
  ``Content-Encoding: snappy`` and ``X-Prometheus-Remote-Write-Version: 0.1.0``.
  Prometheus (``--web.enable-remote-write-receiver``, at ``/api/v1/write``),
  VictoriaMetrics (``/api/v1/write``), Mimir, Thanos and others receive it.
* ``vm-import``: the Prometheus text exposition with millisecond timestamps,
  which VictoriaMetrics takes at ``/api/v1/import/prometheus`` (cheaper to build);
  chosen by default for a URL with that path.

Each series gets a ``node`` label.  A failed post is retried with back-off
(an HTTP 4xx other than 429 is not: the remote refused the data itself and
would refuse it again), and batches wait in a bounded queue.

Never twice: after each accepted post the newest timestamp sent for each node
is kept in the store (``meta``), and nothing at or before it is sent again —
not after a retry whose first try had in fact arrived, not after a restart.
At start the hub sends what it stored after that mark and before it stopped.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import math
import time
from collections.abc import Iterable
from typing import Any, Literal

import cramjam
import httpx
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from microrack.exposition import escape_label, format_value
from microrack.hub._store import Batch, Store

__all__ = ["Format", "RemoteWriter", "TimeSeries", "encode_write_request", "exposition"]

log = logging.getLogger("microrack.hub.remote")

Format = Literal["remote-write", "vm-import"]
# (labels with __name__, sorted by name; [(timestamp ms, value)])
TimeSeries = tuple[list[tuple[str, str]], list[tuple[int, float]]]


def _message_classes() -> Any:
    f = descriptor_pb2.FileDescriptorProto(
        name="microrack/prometheus_remote.proto", package="prometheus", syntax="proto3"
    )
    T = descriptor_pb2.FieldDescriptorProto
    opt, rep = T.LABEL_OPTIONAL, T.LABEL_REPEATED

    def message(name: str, fields: list[tuple[str, int, int, int, str | None]]) -> None:
        m = f.message_type.add(name=name)
        for fname, number, label, ftype, tname in fields:
            fd = m.field.add(name=fname, number=number, label=label, type=ftype)
            if tname:
                fd.type_name = tname

    message(
        "Label", [("name", 1, opt, T.TYPE_STRING, None), ("value", 2, opt, T.TYPE_STRING, None)]
    )
    message(
        "Sample",
        [("value", 1, opt, T.TYPE_DOUBLE, None), ("timestamp", 2, opt, T.TYPE_INT64, None)],
    )
    message(
        "TimeSeries",
        [
            ("labels", 1, rep, T.TYPE_MESSAGE, ".prometheus.Label"),
            ("samples", 2, rep, T.TYPE_MESSAGE, ".prometheus.Sample"),
        ],
    )
    message("WriteRequest", [("timeseries", 1, rep, T.TYPE_MESSAGE, ".prometheus.TimeSeries")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


WriteRequest = _message_classes()


def encode_write_request(series: Iterable[TimeSeries]) -> bytes:
    """A snappy-compressed ``WriteRequest`` (remote write 1.0)."""
    req = WriteRequest()
    for labels, samples in series:
        ts = req.timeseries.add()
        for name, value in labels:
            ts.labels.add(name=name, value=value)
        for t, v in samples:
            ts.samples.add(value=v, timestamp=t)
    return bytes(cramjam.snappy.compress_raw(req.SerializeToString()))


def exposition(series: Iterable[TimeSeries]) -> str:
    """Prometheus text lines ``name{labels} value ts_ms`` (VictoriaMetrics' import format)."""
    lines: list[str] = []
    for labels, samples in series:
        name = next(v for k, v in labels if k == "__name__")
        inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels if k != "__name__")
        head = f"{name}{{{inner}}} "
        lines.extend(f"{head}{format_value(v)} {t}" for t, v in samples if math.isfinite(v))
    return "\n".join(lines) + "\n" if lines else ""


def _labels(name: str, labels: dict[str, str], node: str) -> list[tuple[str, str]]:
    lab = {**labels, "node": node, "__name__": name}
    return sorted(lab.items())


def batch_series(batch: Batch, after_ms: int) -> tuple[list[TimeSeries], int]:
    """The batch as time series, samples after ``after_ms`` only; and its newest time."""
    rows = [(round(ts * 1000), vals) for _seq, ts, vals in batch.samples]
    rows = [r for r in rows if r[0] > after_ms]
    newest = max((t for t, _ in rows), default=after_ms)
    out: list[TimeSeries] = []
    for i, (name, labels, _) in enumerate(batch.series):
        pts = [(t, v) for t, vals in rows if i < len(vals) and (v := vals[i]) is not None]
        if pts:
            out.append((_labels(name, labels, batch.node), pts))
    return out, newest


class RemoteWriter:
    """A background task posting batches in order; retries, counts what it had to drop."""

    def __init__(
        self,
        url: str,
        client: httpx.AsyncClient,
        max_pending: int = 10000,
        *,
        fmt: Format | None = None,
        store: Store | None = None,
        backlog_seconds: float = 86400.0,
    ) -> None:
        self.url = url
        self.format: Format = fmt or (
            "vm-import" if url.rstrip("/").endswith("/api/v1/import/prometheus") else "remote-write"
        )
        self._client = client
        self._store = store
        self._pending: collections.deque[list[TimeSeries] | Batch] = collections.deque()
        self._max = max_pending
        self._wake = asyncio.Event()
        self._key = f"remote_write {url}"
        self.sent_ms: dict[str, int] = {}  # node -> newest timestamp the remote accepted
        if store is not None:
            with_marks = store.get_meta(self._key)
            if with_marks:
                self.sent_ms = {str(k): int(v) for k, v in json.loads(with_marks).items()}
        self.backlog_seconds = backlog_seconds
        self.sent_samples = 0
        self.dropped_batches = 0
        self.refused_batches = 0
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

    def backlog(self, now: float | None = None) -> int:
        """Queue what the store holds after each node's mark (what a stop left unsent)."""
        if self._store is None:
            return 0
        now = time.time() if now is None else now
        queued = 0
        for node, mark in self.sent_ms.items():
            t_from = max(mark / 1000 + 0.0005, now - self.backlog_seconds)
            series = self._store.series_of(node)
            data = self._store.read(series, t_from, now + 86400)
            out: list[TimeSeries] = []
            for s in series:
                ts, vs = data.get(s.id, ([], []))
                pts = [(t, v) for t, v in zip(ts, vs, strict=True) if t > mark]
                if pts:
                    out.append((_labels(s.name, s.labels, node), pts))
            if out:
                self._pending.appendleft(out)
                queued += sum(len(p) for _, p in out)
        return queued

    def _encode(
        self, group: list[list[TimeSeries] | Batch]
    ) -> tuple[list[TimeSeries], dict[str, int]]:
        series: list[TimeSeries] = []
        newest = dict(self.sent_ms)
        for item in group:
            if isinstance(item, Batch):
                ts, top = batch_series(item, newest.get(item.node, -1))
                series += ts
                if ts:
                    newest[item.node] = max(top, newest.get(item.node, top))
            else:
                for labels, pts in item:
                    node = dict(labels).get("node", "")
                    mark = self.sent_ms.get(node, -1)
                    pts = [p for p in pts if p[0] > mark]
                    if pts:
                        series.append((labels, pts))
                        newest[node] = max(newest.get(node, -1), pts[-1][0])
        return series, newest

    async def _post(self, series: list[TimeSeries]) -> httpx.Response:
        if self.format == "vm-import":
            body = exposition(series).encode()
            headers = {"Content-Type": "text/plain"}
        else:
            body = encode_write_request(series)
            headers = {
                "Content-Type": "application/x-protobuf",
                "Content-Encoding": "snappy",
                "X-Prometheus-Remote-Write-Version": "0.1.0",
                "User-Agent": "microrack-hub",
            }
        return await self._client.post(self.url, content=body, headers=headers)

    async def run(self, stop: asyncio.Event) -> None:
        if self._store is not None and self.sent_ms:
            try:
                n = await asyncio.to_thread(self.backlog)
                if n:
                    log.info("remote write: %d stored samples not yet sent are queued", n)
            except Exception:
                log.exception("remote write: reading the unsent backlog failed")
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
            series, newest = self._encode(group)
            if series:
                try:
                    resp = await self._post(series)
                except httpx.HTTPError as exc:
                    self.failures += 1
                    log.warning("remote write to %s failed: %s", self.url, type(exc).__name__)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                if resp.status_code >= 500 or resp.status_code == 429:
                    self.failures += 1
                    log.warning("remote write to %s: HTTP %d", self.url, resp.status_code)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                if resp.status_code >= 400:
                    self.refused_batches += len(group)
                    log.warning(
                        "remote write to %s refused %d batches: HTTP %d %s",
                        self.url,
                        len(group),
                        resp.status_code,
                        resp.text[:200],
                    )
                else:
                    self.sent_samples += sum(len(p) for _, p in series)
            backoff = 0.5
            for _ in group:
                self._pending.popleft()
            if newest != self.sent_ms:
                self.sent_ms = newest
                if self._store is not None:
                    await asyncio.to_thread(self._store.set_meta, self._key, json.dumps(newest))

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything queued has been posted (used at shutdown)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self._pending and loop.time() < deadline:
            await asyncio.sleep(0.05)

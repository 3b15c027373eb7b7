"""Pulling ``/api/v1/samples?since=SEQ`` from every agent, without gaps.

Each agent has one pull loop.  A pull asks for everything after the last
sequence number the hub *handed to the writer*; the writer stores the samples
and the node's new position in one transaction, so a crash re-pulls exactly
what was not yet stored.  A changed boot id (or a sequence number that went
backwards) means the agent restarted: its ring holds only the new boot, so
the hub asks again from 0 and keeps every sample.

Every answer passes :mod:`._validate` first; an answer larger than 64 KiB is
decoded and checked in a worker thread, and at most two such answers are read
or decoded at once over all nodes, so a few hostile nodes cannot make the hub
hold many large answers at once.  A pull loop never dies:
whatever goes wrong is the node's error, and the loop backs off and tries again.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from microrack.hub._http import HttpError, KeepAliveClient
from microrack.hub._nodes import NodeState
from microrack.hub._store import Batch
from microrack.hub._validate import Answer, Limits, Rejected, check_answer, parse_answer

__all__ = ["INLINE_BYTES", "PullResult", "pull_loop", "pull_once"]

log = logging.getLogger("microrack.hub.collector")

INLINE_BYTES = 64 * 1024  # answers up to this size are checked on the event loop
BIG_AT_ONCE = 2  # larger answers read or decoded at the same time, over all nodes
MAX_BACKOFF = 30.0
_POOL = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="hub-parse")

# admit(node, claimed name) -> None, or why this target may not be that node
Admit = Callable[[NodeState, str], str | None]


class PullResult:
    """What one pull produced: a batch to store (maybe empty) and whether more is waiting."""

    __slots__ = ("batch", "duration", "more", "rejected", "restarted")

    def __init__(
        self,
        batch: Batch | None,
        more: bool,
        restarted: bool,
        duration: float,
        rejected: dict[str, int] | None = None,
    ) -> None:
        self.batch = batch
        self.more = more
        self.restarted = restarted
        self.duration = duration
        self.rejected = rejected or {}


def _decode(raw: bytes, since: int, limits: Limits, cached: Any) -> Answer:
    return check_answer(parse_answer(raw), since, limits, cached)


_BIG: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def _big_gate() -> asyncio.Semaphore:
    """The running loop's gate for large answers (a semaphore belongs to one loop)."""
    loop = asyncio.get_running_loop()
    gate = _BIG.get(loop)
    if gate is None:
        gate = _BIG[loop] = asyncio.Semaphore(BIG_AT_ONCE)
    return gate


async def _fetch(client: KeepAliveClient, node: NodeState, since: int, limits: Limits) -> Answer:
    if client.big is None:
        client.big, client.big_at = _big_gate(), INLINE_BYTES
    try:
        raw = await client.get(f"/api/v1/samples?since={since}")
        cached = node.series_check
        if len(raw) <= INLINE_BYTES:
            return _decode(raw, since, limits, cached)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_POOL, _decode, raw, since, limits, cached)
    finally:
        client.release_big()


async def pull_once(
    client: KeepAliveClient,
    node: NodeState,
    limits: Limits | None = None,
    admit: Admit | None = None,
) -> PullResult:
    """One pull of ``node``; updates its identity and position, returns the batch.

    Raises :class:`Rejected` for an answer refused whole, ``OSError``/``TimeoutError``
    when the agent cannot be read.
    """
    limits = limits or Limits()
    t0 = time.perf_counter()
    epoch = node.epoch
    ans = await _fetch(client, node, node.since, limits)
    if node.epoch != epoch:  # the hub rewound this node meanwhile: pull again from there
        return PullResult(None, True, False, time.perf_counter() - t0)
    if admit is not None:
        refusal = admit(node, ans.name)
        if refusal is not None:
            raise Rejected(
                "name_taken", refusal, max(1, len(ans.samples)) * max(1, ans.series.width)
            )
    if node.series_check is None or node.series_check[1] is not ans.series:
        new_keys = [(n, tuple(sorted(lab.items()))) for n, lab, _ in ans.series.series]
        grown = len(node.all_series.union(new_keys))
        if grown > limits.max_series_total:
            raise Rejected(
                "too_many_series",
                f"the node would have {grown} distinct series, more than the "
                f"{limits.max_series_total} allowed",
                max(1, len(ans.samples)) * max(1, ans.series.width),
            )
    restarted = False
    if node.boot_id is not None and (ans.boot_id != node.boot_id or ans.last_seq < node.since):
        # The agent restarted: its sequence numbers start again.
        log.info("node %s restarted (new boot id)", node.key)
        node.restarts += 1
        node.boot_id = ans.boot_id
        node.since = 0
        node.stored_seq = 0
        restarted = True
        ans = await _fetch(client, node, 0, limits)
        if node.epoch != epoch:
            return PullResult(None, True, restarted, time.perf_counter() - t0)
        if admit is not None and admit(node, ans.name) is not None:
            raise Rejected("name_taken", "the restarted agent claims another node's name")
    node.boot_id = ans.boot_id
    node.name = ans.name
    node.board = ans.board
    node.interval = ans.interval
    sc = ans.series
    if node.series_check is None or node.series_check[1] is not sc:
        node.series_check = (ans.wire, sc)
        node.parsed_series = sc.series
        node.series_keys = [(n, tuple(sorted(lab.items()))) for n, lab, _ in sc.series]
        node.all_series.update(node.series_keys)
    series = node.parsed_series
    samples = ans.samples
    if samples and node.since > 0 and samples[0][0] > node.since + 1:
        # The ring buffer overflowed while the hub was away: count, do not hide.
        node.lost += samples[0][0] - node.since - 1
    top = samples[-1][0] if samples else node.since
    more = bool(samples) and top < ans.last_seq
    batch = Batch(
        node=ans.name,
        board=ans.board,
        address=node.host,
        port=node.port,
        boot_id=ans.boot_id,
        interval=ans.interval,
        last_seq=top,
        series=series,
        samples=samples,
    )
    if samples:
        node.set_latest(node.series_keys, samples[-1][2])
        node.last_seen = samples[-1][1]
    node.since = top
    return PullResult(batch, more, restarted, time.perf_counter() - t0, ans.rejected)


async def pull_loop(
    node: NodeState,
    deliver: Callable[[NodeState, PullResult], Awaitable[None]],
    failed: Callable[[NodeState, str, str | None, int], Awaitable[None]],
    stop: asyncio.Event,
    min_interval: float | None = None,
    *,
    limits: Limits | None = None,
    admit: Admit | None = None,
    max_body: int = 8 * 2**20,
    timeout: float = 10.0,
) -> None:
    """Pull ``node`` every interval until ``stop`` is set; catch up at once when behind.

    ``failed(node, message, reason, values)`` is told of every failed pull; ``reason``
    is a rejection reason, or None when the agent could not be read at all.
    """
    client = KeepAliveClient(node.host, node.port, timeout=timeout, max_body=max_body)
    failures = 0
    try:
        while not stop.is_set():
            t0 = time.monotonic()
            more = False
            try:
                result = await pull_once(client, node, limits, admit)
            except asyncio.CancelledError:
                raise
            except Rejected as exc:
                failures += 1
                node.last_error = str(exc)
                await failed(node, node.last_error, exc.reason, exc.values)
            except HttpError as exc:
                failures += 1
                node.last_error = str(exc)
                await failed(node, node.last_error, exc.reason, 1 if exc.reason else 0)
            except (OSError, EOFError, TimeoutError) as exc:
                failures += 1
                node.last_error = _io_error(exc)
                await failed(node, node.last_error, None, 0)
            except Exception as exc:  # a bug must cost this node a pull, never its loop
                failures += 1
                log.exception("pull %s failed", node.key)
                node.last_error = f"internal error: {type(exc).__name__}"
                await failed(node, node.last_error, None, 0)
            else:
                failures = 0
                more = result.more
                node.last_ok = time.monotonic()
                node.last_error = _rejected_text(result.rejected)
                try:
                    await deliver(node, result)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("delivering %s's samples failed", node.key)
            if more:
                await asyncio.sleep(0)
                continue
            interval = min_interval if min_interval is not None else node.interval
            if failures:
                interval = min(MAX_BACKOFF, max(interval, 0.1) * 2 ** min(failures - 1, 10))
            await _sleep(stop, max(0.05, interval - (time.monotonic() - t0)))
    finally:
        client.close()


async def _sleep(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


def _io_error(exc: BaseException) -> str:
    """An I/O failure in the hub's words (no text from whatever answered)."""
    if isinstance(exc, TimeoutError):
        return "timeout: no complete answer in time"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, EOFError | ConnectionError):
        return "connection closed during the answer"
    return f"cannot reach the agent: {getattr(exc, 'strerror', None) or type(exc).__name__}"


def _rejected_text(rejected: dict[str, int]) -> str | None:
    if not rejected:
        return None
    parts = ", ".join(f"{n} {r}" for r, n in sorted(rejected.items()))
    return f"values rejected in the last answer: {parts}"

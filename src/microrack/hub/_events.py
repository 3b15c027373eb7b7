"""A small publish/subscribe bus behind ``/api/v1/events`` (server-sent events)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["EventBus", "json_bytes"]


def _finite(o: Any) -> Any:
    """``o`` with every NaN or infinite float replaced by None (JSON has no such numbers)."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, list | tuple):
        return [_finite(v) for v in o]
    return o


def json_bytes(content: Any) -> bytes:
    """Strict JSON; a value an agent sent as NaN or inf becomes null instead of an error.

    The store keeps such values bit for bit; only what leaves as JSON is changed, and
    the cleaning pass runs only when the fast strict encoding refused.
    """
    try:
        text = json.dumps(content, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(content), allow_nan=False, separators=(",", ":"))
    return text.encode()


class EventBus:
    """Fan-out of events to every connected browser; a slow reader loses old events, not the hub."""

    def __init__(self, queue_size: int = 1000) -> None:
        self._subscribers: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()
        self._queue_size = queue_size
        self.published = 0

    def publish(self, kind: str, data: dict[str, Any]) -> None:
        self.published += 1
        for q in list(self._subscribers):
            if q.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    q.get_nowait()
            q.put_nowait((kind, data))

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    async def stream(
        self, hello: list[tuple[str, dict[str, Any]]] | None = None, keepalive: float = 15.0
    ) -> AsyncIterator[bytes]:
        """SSE frames: the ``hello`` events first, then everything published."""
        q: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(self._queue_size)
        self._subscribers.add(q)
        try:
            yield b"retry: 2000\n\n"
            for kind, data in hello or []:
                yield _frame(kind, data)
            while True:
                try:
                    kind, data = await asyncio.wait_for(q.get(), timeout=keepalive)
                except TimeoutError:
                    yield b": keepalive\n\n"
                    continue
                yield _frame(kind, data)
        finally:
            self._subscribers.discard(q)


def _frame(kind: str, data: dict[str, Any]) -> bytes:
    return b"event: " + kind.encode() + b"\ndata: " + json_bytes(data) + b"\n\n"

"""A small publish/subscribe bus behind ``/api/v1/events`` (server-sent events)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

__all__ = ["EventBus"]


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
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

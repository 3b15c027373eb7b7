"""A lean HTTP/1.1 GET client for the pull loops: one kept-alive connection per agent.

The hub pulls every agent every few seconds, so the fixed cost of one request
is most of its CPU.  A general client (httpx) spends about a millisecond per
request in connection-pool and framework bookkeeping — more than parsing the
samples; this client spends a few tens of microseconds.  It speaks exactly what
the agent's ``/api/v1/samples`` needs: GET, ``Content-Length`` or chunked
bodies, keep-alive.  Everything else (webhooks, remote write) uses httpx.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["HttpError", "KeepAliveClient"]


class HttpError(OSError):
    """The agent answered with a non-200 status or an unreadable response."""


class KeepAliveClient:
    """GET requests to one ``host:port`` over a reused connection."""

    def __init__(
        self, host: str, port: int, timeout: float = 10.0, max_body: int = 512 * 2**20
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.max_body = max_body
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        hostname = f"[{host}]" if ":" in host else host
        self._host_header = f"{hostname}:{port}"

    async def get(self, target: str) -> bytes:
        """The body of ``GET target``; raises :class:`HttpError` or ``OSError``/``TimeoutError``."""
        try:
            return await asyncio.wait_for(self._get(target, retry=True), self.timeout)
        except BaseException:
            self.close()
            raise

    async def _get(self, target: str, retry: bool) -> bytes:
        fresh = self._writer is None
        if fresh:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None and self._writer is not None
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {self._host_header}\r\n"
            "Accept: application/json\r\nUser-Agent: microrack-hub\r\n\r\n"
        )
        try:
            self._writer.write(request.encode())
            await self._writer.drain()
            status_line = await self._reader.readline()
        except (ConnectionError, OSError):
            status_line = b""
        if not status_line:
            # A kept-alive connection the agent closed meanwhile: try once on a new one.
            self.close()
            if retry and not fresh:
                return await self._get(target, retry=False)
            raise HttpError(f"{self._host_header}: connection closed without a response")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"{self._host_header}: not an HTTP response: {status_line[:60]!r}")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        while True:
            line = await self._reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                length = int(value.strip())
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif key == b"connection":
                keep = value.strip().lower() == b"keep-alive" or (
                    keep and value.strip().lower() != b"close"
                )
        if chunked:
            body = await self._read_chunked()
        elif length is not None:
            if length > self.max_body:
                raise HttpError(f"{self._host_header}: body of {length} bytes is too large")
            body = await self._reader.readexactly(length)
        else:
            body = await self._reader.read(self.max_body)
            keep = False
        if not keep:
            self.close()
        if status != 200:
            raise HttpError(f"{self._host_header}{target}: HTTP {status}: {body[:200]!r}")
        return body

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        out = bytearray()
        while True:
            size_line = await self._reader.readline()
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while (await self._reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                return bytes(out)
            out += await self._reader.readexactly(size)
            await self._reader.readexactly(2)
            if len(out) > self.max_body:
                raise HttpError(f"{self._host_header}: chunked body is too large")

    def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self._reader = self._writer = None

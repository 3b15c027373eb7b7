"""A lean HTTP/1.1 GET client for the pull loops: one kept-alive connection per agent.

The hub pulls every agent every few seconds, so the fixed cost of one request
is most of its CPU.  A general client (httpx) spends about a millisecond per
request in connection-pool and framework bookkeeping — more than parsing the
samples; this client spends a few tens of microseconds.  It speaks exactly what
the agent's ``/api/v1/samples`` needs: GET, ``Content-Length`` or chunked
bodies, keep-alive.  Everything else (webhooks, remote write) uses httpx.

Whatever answers is untrusted: the body is read in pieces and refused as soon
as it passes ``max_body`` (a declared length over it is refused before any of
it is read), the status line and headers are bounded (64 KiB a line, 100
lines), the whole request has one deadline, and no error message repeats what
the other side sent.
"""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["HttpError", "KeepAliveClient"]

MAX_HEADERS = 100
_PIECE = 256 * 1024


class HttpError(OSError):
    """The agent answered with a non-200 status or an unreadable response.

    ``reason`` is ``too_large`` for an answer over the size limit, else None.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


class KeepAliveClient:
    """GET requests to one ``host:port`` over a reused connection."""

    def __init__(
        self, host: str, port: int, timeout: float = 10.0, max_body: int = 8 * 2**20
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.max_body = max_body
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        # a body over `big_at` bytes is read only while holding `big` (shared by every
        # client): a few hostile peers cannot make the hub hold many large answers at once
        self.big: asyncio.Semaphore | None = None
        self.big_at = 64 * 1024
        self.holding = False
        hostname = f"[{host}]" if ":" in host else host
        self._host_header = f"{hostname}:{port}"

    async def get(self, target: str) -> bytes:
        """The body of ``GET target``; raises :class:`HttpError` or ``OSError``/``TimeoutError``."""
        try:
            return await asyncio.wait_for(self._get(target, retry=True), self.timeout)
        except BaseException:
            self.close()
            self.release_big()
            raise

    async def _enter_big(self) -> None:
        if self.big is not None and not self.holding:
            await self.big.acquire()
            self.holding = True

    def release_big(self) -> None:
        """Let another client read a large answer (call once this one's is decoded)."""
        if self.holding and self.big is not None:
            self.holding = False
            self.big.release()

    def _too_large(self) -> HttpError:
        return HttpError(f"answer larger than the limit of {self.max_body} bytes", "too_large")

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
            status_line = await self._readline()
        except (ConnectionError, OSError):
            status_line = b""
        if not status_line:
            # A kept-alive connection the agent closed meanwhile: try once on a new one.
            self.close()
            if retry and not fresh:
                return await self._get(target, retry=False)
            raise HttpError("connection closed without a response")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise HttpError("not an HTTP response")
        status = int(parts[1])
        length: int | None = None
        chunked = False
        keep = parts[0] == b"HTTP/1.1"
        for _ in range(MAX_HEADERS + 1):
            line = await self._readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                text = value.strip()
                if not text.isdigit():
                    raise HttpError("malformed Content-Length")
                length = int(text)
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif key == b"connection":
                keep = value.strip().lower() == b"keep-alive" or (
                    keep and value.strip().lower() != b"close"
                )
        else:
            raise HttpError(f"more than {MAX_HEADERS} header lines")
        if status != 200:
            # the body is not read: what answered is not an agent, or refused us
            self.close()
            raise HttpError(f"HTTP {status}")
        if chunked:
            body = await self._read_chunked()
        elif length is not None:
            if length > self.max_body:
                raise self._too_large()
            if length > self.big_at:
                await self._enter_big()
            body = await self._reader.readexactly(length)
        else:
            body = await self._read_to_eof()
            keep = False
        if not keep:
            self.close()
        return body

    async def _readline(self) -> bytes:
        assert self._reader is not None
        try:
            return await self._reader.readline()
        except ValueError:  # a line over the reader's 64 KiB limit
            raise HttpError("header line too long") from None

    async def _read_to_eof(self) -> bytes:
        assert self._reader is not None
        out = bytearray()
        while True:
            piece = await self._reader.read(_PIECE)
            if not piece:
                return bytes(out)
            out += piece
            if len(out) > self.max_body:
                raise self._too_large()
            if len(out) > self.big_at:
                await self._enter_big()

    async def _read_chunked(self) -> bytes:
        assert self._reader is not None
        out = bytearray()
        while True:
            size_line = await self._readline()
            text = size_line.split(b";")[0].strip() or b"0"
            try:
                size = int(text, 16)
            except ValueError:
                raise HttpError("malformed chunked encoding") from None
            if size < 0:
                raise HttpError("malformed chunked encoding")
            if size == 0:
                for _ in range(MAX_HEADERS + 1):
                    if (await self._readline()) in (b"\r\n", b"\n", b""):
                        return bytes(out)
                raise HttpError(f"more than {MAX_HEADERS} trailer lines")
            if len(out) + size > self.max_body:
                raise self._too_large()
            if len(out) + size > self.big_at:
                await self._enter_big()
            out += await self._reader.readexactly(size)
            await self._reader.readexactly(2)

    def close(self) -> None:
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.close()
        self._reader = self._writer = None

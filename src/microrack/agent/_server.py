"""The agent's HTTP endpoint: ``/metrics``, ``/api/v1/snapshot``, ``/api/v1/samples``, ``/healthz``.

These endpoints are read-only, so they need no token.  The only write
endpoints, ``/api/v1/faults``, exist only with ``--chaos-token`` and every
request to them is signed (``agent/_chaos.py``); without it any write answers
405.  The Prometheus text is rendered once per collection and cached, so a scrape costs a dictionary
lookup and a socket write, not a collection.
"""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from microrack.agent._chaos import MAX_BODY, SIGNED_HEADERS
from microrack.exposition import CONTENT_TYPE

if TYPE_CHECKING:
    from microrack.agent._agent import Agent

__all__ = ["AgentServer"]

log = logging.getLogger(__name__)


def _grouped(pieces: Iterable[str], size: int) -> Iterator[bytes]:
    """``pieces`` joined into runs of at least ``size`` characters (the last shorter), UTF-8."""
    buf: list[str] = []
    held = 0
    for piece in pieces:
        buf.append(piece)
        held += len(piece)
        if held >= size:
            yield "".join(buf).encode()
            buf, held = [], 0
    if buf:
        yield "".join(buf).encode()


class _Handler(BaseHTTPRequestHandler):
    server: AgentServer
    protocol_version = "HTTP/1.1"
    server_version = "microrack-agent"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _send(self, status: int, body: bytes | bytearray, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_chunked(self, pieces: Iterable[str], ctype: str, size: int = 1 << 16) -> None:
        """Stream a large body in HTTP/1.1 chunks of about ``size``: never whole in memory."""
        self._send_chunked_bytes(_grouped(pieces, size), ctype)

    def _send_chunked_bytes(self, pieces: Iterable[bytes], ctype: str) -> None:
        """Stream ``pieces`` as they come, one HTTP/1.1 chunk each (empty ones left out)."""
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if self.command == "HEAD":
            return
        for piece in pieces:
            if piece:
                self._chunk(piece)
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _json(self, status: int, obj: Any) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json")

    def do_HEAD(self) -> None:
        self.do_GET()

    def _write(self) -> None:
        agent = self.server.agent
        if not agent.reachable():
            self.close_connection = True
            return
        chaos = agent.chaos
        if chaos is None or not chaos.owns(urlsplit(self.path).path):
            self.close_connection = True  # the body (if any) is not read
            self._json(405, {"error": f"{self.command} is not allowed: this agent is read-only"})
            return
        self._chaos()

    do_POST = do_DELETE = do_PUT = do_PATCH = _write

    def _chaos(self) -> None:
        chaos = self.server.agent.chaos
        assert chaos is not None
        raw = self.headers.get("Content-Length", "0")
        length = int(raw) if raw.isdigit() else -1
        if length < 0 or "chunked" in self.headers.get("Transfer-Encoding", ""):
            self.close_connection = True
            self._json(411, {"error": "a Content-Length header is needed"})
            return
        body = b""
        if length <= MAX_BODY:
            body = self.rfile.read(length)
        else:
            self.close_connection = True
        signed = {h: v for h in SIGNED_HEADERS if (v := self.headers.get(h)) is not None}
        status, obj = chaos.handle(
            self.command, self.path, signed, body, length, self.address_string()
        )
        self._json(status, obj)

    def do_GET(self) -> None:
        agent = self.server.agent
        if not agent.reachable():  # a crashed or partitioned board does not answer
            self.close_connection = True
            return
        url = urlsplit(self.path)
        if agent.chaos is not None and agent.chaos.owns(url.path):
            self._chaos()
        elif url.path == "/metrics":
            body = agent.metrics_body()
            if isinstance(body, bytes | bytearray):
                self._send(200, body, CONTENT_TYPE)
            elif self.request_version == "HTTP/1.0":  # no chunked encoding before HTTP/1.1
                self._send(200, b"".join(body), CONTENT_TYPE)
            else:
                self._send_chunked_bytes(body, CONTENT_TYPE)
        elif url.path == "/healthz":
            ok, detail = agent.health()
            self._json(200 if ok else 503, detail)
        elif url.path == "/api/v1/snapshot":
            snap = agent.snapshot()
            if snap is None:
                self._json(503, {"error": "no collection yet"})
            else:
                self._json(200, snap)
        elif url.path == "/api/v1/samples":
            raw = parse_qs(url.query).get("since", ["0"])[0]
            try:
                since = int(raw)
            except ValueError:
                self._json(400, {"error": f"since: expected a sequence number, got {raw!r}"})
                return
            self._send_chunked(agent.samples_since(since), "application/json")
        elif url.path == "/":
            self._send(
                200,
                b"microrack agent: /metrics /api/v1/snapshot /api/v1/samples?since=SEQ /healthz\n",
                "text/plain; charset=utf-8",
            )
        else:
            self._json(404, {"error": f"no such endpoint: {url.path}"})


class AgentServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], agent: Agent) -> None:
        self.agent = agent
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

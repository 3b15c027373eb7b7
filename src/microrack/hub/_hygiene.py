"""What every request to the hub passes before an endpoint sees it, and parameter parsing.

* :class:`HostAllowList` — a ``Host`` header outside the allow-list (loopback
  names, the ``--listen`` host, configured names) is answered 421: a page on
  another site that rebinds its DNS name to the hub's address cannot read the API.
* :class:`RequestLimits` — a request target longer than :data:`MAX_TARGET` is
  answered 414, a query parameter longer than :data:`MAX_PARAM` 400 naming it
  (uvicorn's h11 parser already refuses request heads over 16 KiB).
* :func:`error`, :func:`int_param`, :func:`choice_param` — endpoints answer a bad
  parameter with a JSON 400 ``{"error", "parameter"}``, never a 500.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse as StrictJSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from microrack.hub._events import json_bytes
from microrack.hub._query import BadParameter

__all__ = [
    "MAX_PARAM",
    "MAX_TARGET",
    "BadParameter",
    "HostAllowList",
    "JSONResponse",
    "RequestLimits",
    "allowed_hosts",
    "choice_param",
    "error",
    "int_param",
]

MAX_TARGET = 8192  # bytes of path + query string
MAX_PARAM = 2048  # bytes of one query parameter's value
MAX_PARAMS = 64  # query parameters in one request
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1", "localhost.localdomain")


class JSONResponse(StrictJSONResponse):
    """JSON in which a NaN or infinite value (an agent's broken reading) is null, not a 500."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def error(status: int, parameter: str | None, message: str) -> JSONResponse:
    """The hub's one error shape: ``{"error": message, "parameter": name-or-null}``."""
    return JSONResponse({"error": message, "parameter": parameter}, status_code=status)


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in ``[lo, hi]``; raises :class:`BadParameter`."""
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = int(text.strip())
    except ValueError:
        raise BadParameter(name, f"{name}={text[:64]!r} is not an integer") from None
    if not lo <= value <= hi:
        raise BadParameter(name, f"{name}={value} is not between {lo} and {hi}")
    return value


def choice_param(request: Request, name: str, default: str, choices: Iterable[str]) -> str:
    """A query parameter that must be one of ``choices``; raises :class:`BadParameter`."""
    allowed = tuple(choices)
    text = request.query_params.get(name, default)
    if text not in allowed:
        raise BadParameter(name, f"{name}={text[:64]!r} is not one of {', '.join(allowed)}")
    return text


def allowed_hosts(listen_host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """Host names (without port) the hub answers to: loopback, the listen address, ``extra``."""
    names = {n.lower() for n in LOOPBACK_NAMES}
    names.add(listen_host.strip("[]").lower())
    names.update(e.strip().strip("[]").lower() for e in extra if e.strip())
    return frozenset(names)


def _host_of(header: str) -> str:
    """``host`` of a ``Host: host[:port]`` header (IPv6 in brackets), lower-case."""
    h = header.strip().lower()
    if h.startswith("["):
        return h[1 : h.find("]")] if "]" in h else h
    return h.rsplit(":", 1)[0] if h.count(":") == 1 else h


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class HostAllowList:
    """Answer 421 to a request whose ``Host`` is not in the allow-list.

    A wildcard listen address (``0.0.0.0``, ``::``) allows any IP literal (a
    browser cannot be made to send a rebound *name* as an IP), but names only
    from the list.
    """

    def __init__(self, app: ASGIApp, hosts: frozenset[str], any_ip: bool = False) -> None:
        self.app = app
        self.hosts = hosts
        self.any_ip = any_ip

    def allows(self, host: str) -> bool:
        if host in self.hosts:
            return True
        if self.any_ip:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                return False
            return True
        return False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = b""
        for k, v in scope.get("headers", ()):
            if k == b"host":
                raw = v
                break
        host = _host_of(raw.decode("latin-1"))
        if not self.allows(host):
            await _send_json(
                send,
                421,
                {"error": "this hub does not answer to that Host header", "parameter": "Host"},
            )
            return
        await self.app(scope, receive, send)


class RequestLimits:
    """414 for an over-long request target, 400 naming an over-long or malformed parameter."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        qs: bytes = scope.get("query_string", b"")
        path: str = scope.get("path", "")
        if len(qs) + len(path.encode("utf-8", "replace")) > MAX_TARGET:
            await _send_json(
                send,
                414,
                {"error": f"request target longer than {MAX_TARGET} bytes", "parameter": None},
            )
            return
        if qs:
            try:
                pairs = parse_qsl(
                    qs.decode("latin-1"),
                    keep_blank_values=True,
                    strict_parsing=False,
                    max_num_fields=MAX_PARAMS,
                )
            except ValueError:
                await _send_json(
                    send,
                    400,
                    {"error": f"more than {MAX_PARAMS} query parameters", "parameter": None},
                )
                return
            for name, value in pairs:
                if len(value) > MAX_PARAM or len(name) > MAX_PARAM:
                    await _send_json(
                        send,
                        400,
                        {
                            "error": f"{name[:64]}: longer than {MAX_PARAM} bytes",
                            "parameter": name[:64],
                        },
                    )
                    return
        await self.app(scope, receive, send)

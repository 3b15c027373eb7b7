"""Annotations: time windows marked on the dashboard's charts (a chaos run's faults).

``POST /api/v1/annotations`` exists only when the hub runs with
``--chaos-token FILE``; each request is signed like the agents' fault requests
(``microrack.faults.Verifier``: 401 unsigned, bad, stale or replayed).  The body
is checked field by field (400 naming the field, 413 over 16 KiB) and kept in
the hub's store.  ``GET /api/v1/annotations?start=&end=`` (Unix seconds;
default the last 24 h) lists those that overlap the window.
"""

from __future__ import annotations

import json
import math
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from microrack.hub._hygiene import JSONResponse, error

__all__ = ["MAX_BODY", "annotations_get", "annotations_post", "check_annotation"]

MAX_BODY = 16 * 1024
_KEYS = {"start", "end", "text", "kind", "nodes", "run", "fault"}
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _Bad(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _time(obj: dict[str, Any], key: str, required: bool) -> float | None:
    v = obj.get(key)
    if v is None:
        if required:
            raise _Bad(key, "required: Unix seconds")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
        raise _Bad(key, "expected Unix seconds (a number >= 0)")
    return float(v)


def check_annotation(obj: Any) -> dict[str, Any]:
    """The annotation as stored; raises ``_Bad`` naming the field."""
    if not isinstance(obj, dict):
        raise _Bad("body", "expected a JSON object")
    extra = sorted(set(obj) - _KEYS)
    if extra:
        raise _Bad(str(extra[0]), f"unknown field (known: {', '.join(sorted(_KEYS))})")
    start = _time(obj, "start", True)
    end = _time(obj, "end", False)
    if start is not None and end is not None and end < start:
        raise _Bad("end", "before start")
    text = obj.get("text", "")
    if not isinstance(text, str) or len(text) > 500:
        raise _Bad("text", "a string of at most 500 characters")
    out: dict[str, Any] = {"start": start, "end": end, "text": text}
    for key in ("kind", "run"):
        v = obj.get(key)
        if v is not None and (not isinstance(v, str) or not _NAME.match(v)):
            raise _Bad(key, "1-64 of A-Z a-z 0-9 . _ -")
        out[key] = v
    nodes = obj.get("nodes", [])
    if not isinstance(nodes, list) or len(nodes) > 256:
        raise _Bad("nodes", "a list of at most 256 node names")
    for i, n in enumerate(nodes):
        if not isinstance(n, str) or not _NAME.match(n):
            raise _Bad(f"nodes[{i}]", "a node name: 1-64 of A-Z a-z 0-9 . _ -")
    out["nodes"] = nodes
    fault = obj.get("fault")
    if fault is not None and (isinstance(fault, bool) or not isinstance(fault, int) or fault < 0):
        raise _Bad("fault", "the fault's index in its scenario (an integer >= 0)")
    out["fault"] = fault
    return out


async def annotations_post(request: Request) -> Response:
    from microrack.faults import AuthError, Verifier

    hub = request.app.state.hub
    secret = hub.config.chaos_secret
    if secret is None:
        return error(405, None, "annotations are off: start the hub with --chaos-token FILE")
    verifier = getattr(request.app.state, "annotation_verifier", None)
    if verifier is None:
        verifier = request.app.state.annotation_verifier = Verifier(secret)
    size = request.headers.get("content-length")
    if size is not None and (not size.isdigit() or int(size) > MAX_BODY):
        return error(413, "body", f"at most {MAX_BODY} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return error(413, "body", f"at most {MAX_BODY} bytes")
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    try:
        verifier.verify("POST", path, request.headers, body)
    except AuthError as exc:
        return error(401, None, str(exc))
    try:
        ann = check_annotation(json.loads(body.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return error(400, "body", "not JSON (UTF-8)")
    except RecursionError:
        return error(400, "body", "nested too deeply")
    except _Bad as exc:
        return error(400, exc.field, str(exc))
    ann_id = hub.store.add_annotation(ann["start"], ann["end"], json.dumps(ann))
    return JSONResponse({"id": ann_id, **ann}, status_code=201)


def _float_param(request: Request, name: str, default: float) -> float:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = float(raw)
    except ValueError:
        raise _Bad(name, "expected Unix seconds") from None
    if not math.isfinite(v):
        raise _Bad(name, "expected Unix seconds")
    return v


async def annotations_get(request: Request) -> Response:
    hub = request.app.state.hub
    now = time.time()
    try:
        end = _float_param(request, "end", now)
        start = _float_param(request, "start", end - 86400.0)
    except _Bad as exc:
        return error(400, exc.field, str(exc))
    if start > end:
        return error(400, "start", "after end")
    rows = hub.store.annotations(start, end)
    return JSONResponse({"annotations": [{"id": i, **json.loads(b)} for i, b in rows]})

"""The dashboard's endpoints (module-level; the hub is ``request.app.state.hub``)."""

from __future__ import annotations

import asyncio
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from microrack.hub._events import json_bytes
from microrack.hub._query import BadParameter, parse_query
from microrack.hub._service import Hub
from microrack.hub._views import cluster_strip, node_view

__all__ = ["alerts_view", "cluster_view", "node_page", "rack_view"]

MAX_PAGE_POINTS = 2000


class _JSON(JSONResponse):
    def render(self, content: object) -> bytes:
        return json_bytes(content)


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


def _error(status: int, parameter: str | None, message: str) -> Response:
    return _JSON({"error": message, "parameter": parameter}, status_code=status)


async def node_page(request: Request) -> Response:
    """``GET /api/v1/nodes/{name}/view?from=&to=&points=``: every panel of a node's page."""
    hub = _hub(request)
    name = request.path_params["name"]
    args = dict(request.query_params)
    args["metric"] = "node_view"  # parse_query checks from/to/points; the metric is ours
    try:
        q = parse_query(args)
    except BadParameter as exc:
        return _error(400, exc.parameter, str(exc))
    if q.points > MAX_PAGE_POINTS:
        return _error(400, "points", f"points must be at most {MAX_PAGE_POINTS} for a page")
    known = {r.name for r in await asyncio.to_thread(hub.store.nodes)}
    if name not in known:
        return _error(404, "name", f"node {name!r} is not a node the hub has stored")
    view = await asyncio.to_thread(node_view, hub, name, q.t_from, q.t_to, q.points)
    return _JSON(view)


async def cluster_view(request: Request) -> Response:
    """``GET /api/v1/cluster``: watts, energy and cost since a stated time, PoE per switch."""
    return _JSON(await asyncio.to_thread(cluster_strip, _hub(request)))


async def rack_view(request: Request) -> Response:
    """``GET /api/v1/rack``: the layout from cluster.yaml (``layout`` null without --spec)."""
    layout = _hub(request).config.rack
    return _JSON({"layout": None if layout is None else layout.as_dict()})


async def alerts_view(request: Request) -> Response:
    """``GET /api/v1/alerts``: active alerts, and resolved ones newest first."""
    engine = _hub(request).alerts
    now = time.time()
    return _JSON(
        {
            "alerts": [a.describe(now) for a in engine.active.values()],
            "resolved": [a.describe(now) for a in reversed(engine.recent_resolved)],
        }
    )

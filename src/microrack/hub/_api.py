"""The hub's HTTP face (Starlette): JSON API, SSE, /metrics and the dashboard.

Every endpoint is a module-level function that reaches the running hub through
``request.app.state.hub`` (Starlette's own style), so new endpoints are added
to :data:`ROUTES` without touching the others.  What every request passes first
(Host allow-list, size limits) and the parameter helpers live in
:mod:`._hygiene`; the hub's own ``/metrics`` in :mod:`._selfmetrics`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from microrack.exposition import CONTENT_TYPE
from microrack.hub._annotations import annotations_get, annotations_post
from microrack.hub._dashboard import (
    alerts_view,
    cluster_series,
    cluster_view,
    node_page,
    plotly_js,
    plotly_js_path,
    rack_view,
    warm_static,
)
from microrack.hub._hygiene import (
    BadParameter,
    HostAllowList,
    JSONResponse,
    RequestLimits,
    allowed_hosts,
    error,
)
from microrack.hub._query import downsample, parse_query, rate
from microrack.hub._selfmetrics import hub_metrics
from microrack.hub._service import Hub

__all__ = ["ROUTES", "create_app", "hub_of", "plotly_js_path"]

STATIC = Path(__file__).resolve().parent / "static"


def hub_of(request: Request) -> Hub:
    """The running :class:`Hub` an endpoint serves."""
    hub: Hub = request.app.state.hub
    return hub


async def nodes(request: Request) -> Response:
    hub = hub_of(request)
    return JSONResponse({"nodes": hub.node_list(), "summary": hub.summary()})


async def query(request: Request) -> Response:
    hub = hub_of(request)
    try:
        q = parse_query(request.query_params)
    except BadParameter as exc:
        return error(400, exc.parameter, str(exc))
    series = await asyncio.to_thread(hub.store.find_series, q.metric, q.node, q.labels)
    if not series and q.node is not None:
        # a node without this metric is an empty answer; a node nobody knows is a typo
        known = {r.name for r in await asyncio.to_thread(hub.store.nodes)}
        if q.node not in known:
            return error(404, "node", f"node={q.node!r} is not a node the hub has stored")
    data = await asyncio.to_thread(hub.store.read, series, q.t_from, q.t_to)
    out = []
    for s in series:
        ts, vs = data.get(s.id, ([], []))
        if q.rate:
            ts, vs = rate(ts, vs)
        pts = downsample(ts, vs, q.t_from, q.t_to, q.points, q.step)
        out.append(
            {
                "metric": s.name,
                "node": s.node,
                "labels": s.labels,
                "type": s.type,
                "raw_points": len(ts),
                "points": [[round(t, 3), v] for t, v in pts],
            }
        )
    return JSONResponse(
        {"metric": q.metric, "from": q.t_from, "to": q.t_to, "points": q.points, "series": out}
    )


async def metrics_list(request: Request) -> Response:
    hub = hub_of(request)
    return JSONResponse({"metrics": await asyncio.to_thread(hub.store.metric_names)})


async def events(request: Request) -> Response:
    hub = hub_of(request)
    hello = [("node", n) for n in hub.node_list()]
    hello += [("alert", a.describe()) for a in hub.alerts.firing()]
    hello.append(("summary", hub.summary()))
    return StreamingResponse(
        hub.bus.stream(hello),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def summary(request: Request) -> Response:
    return JSONResponse(await asyncio.to_thread(hub_of(request).summary))


async def metrics(request: Request) -> Response:
    return PlainTextResponse(hub_metrics(hub_of(request)), media_type=CONTENT_TYPE)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok\n")


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html")


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    return error(status, None, f"{request.url.path}: {getattr(exc, 'detail', 'error')}")


ROUTES = [
    Route("/", index),
    Route("/api/v1/nodes", nodes),
    Route("/api/v1/query", query),
    Route("/api/v1/metrics", metrics_list),
    Route("/api/v1/alerts", alerts_view),
    Route("/api/v1/nodes/{name}/view", node_page),
    Route("/api/v1/cluster", cluster_view),
    Route("/api/v1/cluster/series", cluster_series),
    Route("/api/v1/rack", rack_view),
    Route("/api/v1/events", events),
    Route("/api/v1/annotations", annotations_get, methods=["GET"]),
    Route("/api/v1/annotations", annotations_post, methods=["POST"]),
    Route("/api/v1/summary", summary),
    Route("/metrics", metrics),
    Route("/healthz", healthz),
    Route("/static/plotly.min.js", plotly_js),
    Mount("/static", StaticFiles(directory=STATIC), name="static"),
]


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    """Start the hub's background tasks with the server, stop them with it."""
    hub: Hub = app.state.hub
    await hub.start()
    warm = asyncio.get_running_loop().run_in_executor(None, warm_static)
    try:
        yield
    finally:
        await hub.stop()
        with contextlib.suppress(Exception):
            await warm


def create_app(hub: Hub) -> Starlette:
    """The ASGI app; its lifespan starts and stops the hub's background tasks."""
    cfg = hub.config
    hosts = allowed_hosts(cfg.listen_host, cfg.allow_hosts)
    wildcard = cfg.listen_host in ("0.0.0.0", "::", "")
    app = Starlette(
        routes=ROUTES,
        lifespan=lifespan,
        exception_handlers={HTTPException: http_error},
        middleware=[
            Middleware(HostAllowList, hosts=hosts, any_ip=wildcard),
            Middleware(RequestLimits),
        ],
    )
    app.state.hub = hub
    return app

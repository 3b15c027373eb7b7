"""The hub's HTTP face (Starlette): JSON API, SSE, /metrics and the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.responses import JSONResponse as StrictJSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from microrack import __version__
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
from microrack.hub._events import json_bytes
from microrack.hub._query import BadParameter, downsample, parse_query, rate
from microrack.hub._service import Hub

__all__ = ["create_app", "plotly_js_path"]

STATIC = Path(__file__).resolve().parent / "static"


class JSONResponse(StrictJSONResponse):
    """JSON in which a NaN or infinite value (an agent's broken reading) is null, not a 500."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def _error(status: int, parameter: str | None, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "parameter": parameter}, status_code=status)


def create_app(hub: Hub) -> Starlette:
    """The ASGI app; its lifespan starts and stops the hub's background tasks."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await hub.start()
        warm = asyncio.get_running_loop().run_in_executor(None, warm_static)
        try:
            yield
        finally:
            await hub.stop()
            with contextlib.suppress(Exception):
                await warm

    async def nodes(request: Request) -> Response:
        return JSONResponse({"nodes": hub.node_list(), "summary": hub.summary()})

    async def query(request: Request) -> Response:
        try:
            q = parse_query(request.query_params)
        except BadParameter as exc:
            return _error(400, exc.parameter, str(exc))
        series = await asyncio.to_thread(hub.store.find_series, q.metric, q.node, q.labels)
        if not series and q.node is not None:
            # a node without this metric is an empty answer; a node nobody knows is a typo
            known = {r.name for r in await asyncio.to_thread(hub.store.nodes)}
            if q.node not in known:
                return _error(404, "node", f"node={q.node!r} is not a node the hub has stored")
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
        return JSONResponse({"metrics": await asyncio.to_thread(hub.store.metric_names)})

    async def events(request: Request) -> Response:
        hello = [("node", n) for n in hub.node_list()]
        hello += [("alert", a.describe()) for a in hub.alerts.firing()]
        hello.append(("summary", hub.summary()))
        return StreamingResponse(
            hub.bus.stream(hello),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def summary(request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(hub.summary))

    async def metrics(request: Request) -> Response:
        return PlainTextResponse(_hub_metrics(hub), media_type="text/plain; version=0.0.4")

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def not_found(request: Request, exc: Exception) -> Response:
        status = exc.status_code if isinstance(exc, HTTPException) else 500
        return _error(status, None, f"{request.url.path}: {getattr(exc, 'detail', 'error')}")

    routes = [
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
        Route("/api/v1/summary", summary),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/static/plotly.min.js", plotly_js),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: not_found})
    app.state.hub = hub
    return app


def _hub_metrics(hub: Hub) -> str:
    lines: list[str] = []

    def metric(
        name: str, mtype: str, help_text: str, samples: list[tuple[dict[str, str], float]]
    ) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {mtype}")
        for labels, v in samples:
            lab = ",".join(f'{k}="{val}"' for k, val in labels.items())
            lines.append(f"{name}{{{lab}}} {v!r}" if lab else f"{name} {v!r}")

    metric("microrack_hub_info", "gauge", "Hub version.", [({"version": __version__}, 1.0)])
    metric(
        "microrack_hub_pulls_total",
        "counter",
        "Pulls of agents' samples by result.",
        [({"result": k}, float(v)) for k, v in hub.pulls.items()],
    )
    metric(
        "microrack_hub_pull_duration_seconds_sum",
        "counter",
        "Total time spent pulling.",
        [({}, hub.pull_seconds_sum)],
    )
    metric(
        "microrack_hub_pull_duration_seconds_max",
        "gauge",
        "Longest pull so far.",
        [({}, hub.pull_seconds_max)],
    )
    metric(
        "microrack_hub_write_duration_seconds_sum",
        "counter",
        "Total time in store writes.",
        [({}, hub.write_seconds_sum)],
    )
    metric(
        "microrack_hub_store_write_failures_total",
        "counter",
        "Store writes that failed (their samples are kept and written with the next one).",
        [({}, float(hub.write_failures))],
    )
    metric(
        "microrack_hub_samples_stored_total",
        "counter",
        "Samples written to the store.",
        [({}, float(hub.store.samples_stored))],
    )
    metric(
        "microrack_hub_samples_lost_total",
        "counter",
        "Samples an agent's ring buffer dropped before the hub could pull them.",
        [({"node": n.key}, float(n.lost)) for n in hub.nodes.values()],
    )
    metric(
        "microrack_hub_store_bytes",
        "gauge",
        "Size of the database files.",
        [({}, float(hub.store.file_bytes()))],
    )
    st = hub.store.light_stats()
    metric(
        "microrack_hub_store_samples",
        "gauge",
        "Samples in the store, by where they sit (head: recent, chunk: compressed).",
        [
            ({"part": "head"}, float(st["head_samples"])),
            ({"part": "chunk"}, float(st["chunk_samples"])),
        ],
    )
    metric(
        "microrack_hub_beacons_dropped_total",
        "counter",
        "Beacons rejected, by reason.",
        [({"reason": k}, float(v)) for k, v in hub.beacons_dropped.items()],
    )
    metric(
        "microrack_hub_beacons_accepted_total",
        "counter",
        "Valid beacons received.",
        [({}, float(hub.beacons_accepted))],
    )
    counts: dict[str, int] = {"up": 0, "stale": 0, "down": 0, "unknown": 0}
    for n in hub.nodes.values():
        counts[n.status] += 1
    metric(
        "microrack_hub_nodes",
        "gauge",
        "Nodes by status.",
        [({"status": k}, float(v)) for k, v in counts.items()],
    )
    metric(
        "microrack_hub_alerts_firing",
        "gauge",
        "Alerts firing now.",
        [({}, float(len(hub.alerts.firing())))],
    )
    if hub.remote is not None:
        metric(
            "microrack_hub_remote_write_samples_total",
            "counter",
            "Samples forwarded.",
            [({}, float(hub.remote.sent_samples))],
        )
        metric(
            "microrack_hub_remote_write_pending_batches",
            "gauge",
            "Batches waiting to be sent.",
            [({}, float(hub.remote.pending))],
        )
    metric(
        "microrack_hub_uptime_seconds",
        "gauge",
        "Seconds since the hub started.",
        [({}, time.time() - hub.started)],
    )
    return "\n".join(lines) + "\n"

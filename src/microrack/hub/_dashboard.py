"""The dashboard's endpoints (module-level; the hub is ``request.app.state.hub``)."""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import time
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

from microrack.hub._hygiene import JSONResponse, error
from microrack.hub._query import BadParameter, parse_query
from microrack.hub._service import Hub
from microrack.hub._views import cluster_charts, cluster_strip, node_view

__all__ = [
    "alerts_view",
    "cluster_series",
    "cluster_view",
    "node_page",
    "plotly_js",
    "plotly_js_path",
    "rack_view",
    "warm_static",
]

MAX_PAGE_POINTS = 2000


def plotly_js_path() -> Path:
    """plotly.js as shipped inside the installed ``plotly`` package (no CDN needed)."""
    import plotly

    return Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"


@functools.cache
def _plotly_bytes() -> tuple[bytes, bytes, str]:
    raw = plotly_js_path().read_bytes()
    return raw, gzip.compress(raw, 6, mtime=0), hashlib.sha256(raw).hexdigest()[:16]


def warm_static() -> None:
    """Compress plotly.js now (in a thread at start) rather than on the first page load."""
    _plotly_bytes()


async def plotly_js(request: Request) -> Response:
    """``GET /static/plotly.min.js``: 4.8 MB of script, compressed once, then cached by browsers."""
    raw, packed, tag = await asyncio.to_thread(_plotly_bytes)
    etag = f'"{tag}"'
    headers = {"ETag": etag, "Cache-Control": "public, max-age=86400", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(packed, media_type="application/javascript", headers=headers)
    return Response(raw, media_type="application/javascript", headers=headers)


def _hub(request: Request) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


async def node_page(request: Request) -> Response:
    """``GET /api/v1/nodes/{name}/view?from=&to=&points=``: every panel of a node's page."""
    hub = _hub(request)
    name = request.path_params["name"]
    w = _window(request)
    if isinstance(w, Response):
        return w
    known = {r.name for r in await asyncio.to_thread(hub.store.nodes)}
    if name not in known:
        return error(404, "name", f"node {name!r} is not a node the hub has stored")
    return JSONResponse(await asyncio.to_thread(node_view, hub, name, *w))


def _window(request: Request) -> tuple[float, float, int] | Response:
    args = dict(request.query_params)
    args["metric"] = "view"  # parse_query checks from/to/points; the metrics are the view's
    try:
        q = parse_query(args)
    except BadParameter as exc:
        return error(400, exc.parameter, str(exc))
    if q.points > MAX_PAGE_POINTS:
        return error(400, "points", f"points must be at most {MAX_PAGE_POINTS} for a page")
    return q.t_from, q.t_to, q.points


async def cluster_series(request: Request) -> Response:
    """``GET /api/v1/cluster/series?from=&to=&points=``: power and hottest SoC per node."""
    w = _window(request)
    if isinstance(w, Response):
        return w
    return JSONResponse(await asyncio.to_thread(cluster_charts, _hub(request), *w))


async def cluster_view(request: Request) -> Response:
    """``GET /api/v1/cluster``: watts, energy and cost since a stated time, PoE per switch."""
    return JSONResponse(await asyncio.to_thread(cluster_strip, _hub(request)))


async def rack_view(request: Request) -> Response:
    """``GET /api/v1/rack``: the layout from cluster.yaml (``layout`` null without --spec)."""
    layout = _hub(request).config.rack
    return JSONResponse({"layout": None if layout is None else layout.as_dict()})


async def alerts_view(request: Request) -> Response:
    """``GET /api/v1/alerts``: active alerts, and resolved ones newest first."""
    engine = _hub(request).alerts
    now = time.time()
    return JSONResponse(
        {
            "alerts": [a.describe(now) for a in engine.active.values()],
            "resolved": [a.describe(now) for a in reversed(engine.recent_resolved)],
        }
    )

"""The hub: discovery, gap-free collection, an embedded store, alerts, a live dashboard.

``serve(config, host, port)`` runs everything in one process: pull loops for
every agent (from ``--agent``, ``--spec`` and signed beacons), the SQLite
store, the alert engine, and the HTTP API with the web page at ``/``.
"""

from __future__ import annotations

from microrack.hub._alerts import AlertEngine, RulesFile, load_rules, parse_duration
from microrack.hub._api import create_app
from microrack.hub._rack import RackLayout, rack_layout
from microrack.hub._service import Hub, HubConfig
from microrack.hub._store import Retention, Store

__all__ = [
    "AlertEngine",
    "Hub",
    "HubConfig",
    "RackLayout",
    "Retention",
    "RulesFile",
    "Store",
    "create_app",
    "load_rules",
    "parse_duration",
    "rack_layout",
    "serve",
]


def serve(config: HubConfig, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the hub until SIGINT/SIGTERM."""
    import uvicorn

    app = create_app(Hub(config))
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )

"""The hub: discovery, gap-free collection, an embedded store, alerts, a live dashboard.

``serve(config, host, port)`` runs everything in one process: pull loops for
every agent (from ``--agent``, ``--spec`` and signed beacons), the SQLite
store, the alert engine, and the HTTP API with the web page at ``/``.
"""

from __future__ import annotations

from typing import Any

from microrack.hub._alerts import AlertEngine, RulesFile, load_rules, parse_duration
from microrack.hub._api import create_app
from microrack.hub._guard import check_port_free, lock_store
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
    "check_port_free",
    "create_app",
    "load_rules",
    "lock_store",
    "parse_duration",
    "rack_layout",
    "serve",
]


def serve(config: HubConfig, host: str = "127.0.0.1", port: int = 8080) -> None:
    """Run the hub until SIGINT/SIGTERM.

    Raises :class:`~microrack.errors.ResourceError` before anything starts if the port
    cannot be bound or another hub holds the store.
    """
    import sys

    import uvicorn

    check_port_free(host, port)
    hub = Hub(config)  # takes the store's lock
    shown = f"[{host}]" if ":" in host else host
    print(f"microrack hub: http://{shown}:{port}/ (store {config.db})", file=sys.stderr, flush=True)
    app = create_app(hub)
    try:
        _run(uvicorn, app, host, port)
    finally:
        hub.release()


def _run(uvicorn: Any, app: Any, host: str, port: int) -> None:
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        h11_max_incomplete_event_size=16 * 1024,
    )

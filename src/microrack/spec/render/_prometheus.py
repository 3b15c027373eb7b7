"""``prometheus.yml``: scrape jobs for the microrack agents and node_exporter."""

from __future__ import annotations

from typing import Any

from microrack.spec._model import NODE_EXPORTER_PORT, ClusterSpec


def _duration(seconds: float) -> str:
    ms = round(seconds * 1000)
    return f"{ms // 1000}s" if ms % 1000 == 0 else f"{ms}ms"


def prometheus_config(spec: ClusterSpec) -> dict[str, Any]:
    def target(node_name: str, board: str, host: str, port: int) -> dict[str, Any]:
        return {"targets": [f"{host}:{port}"], "labels": {"node": node_name, "board": board}}

    interval = _duration(spec.agent.interval_s)
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "microrack-agent",
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "static_configs": [
                target(n.name, n.board, n.address, n.agent_port) for n in spec.nodes
            ],
        }
    ]
    exporters = [n for n in spec.nodes if n.node_exporter]
    if exporters:
        jobs.append(
            {
                "job_name": "node-exporter",
                "static_configs": [
                    target(n.name, n.board, n.address, NODE_EXPORTER_PORT) for n in exporters
                ],
            }
        )
    return {
        "global": {
            "scrape_interval": "15s",
            "evaluation_interval": "15s",
            "external_labels": {"cluster": spec.cluster.name},
        },
        "scrape_configs": jobs,
    }

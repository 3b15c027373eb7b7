"""An agent's /metrics as {series: value}, and sums over a metric's series."""

from __future__ import annotations

from support import http_get


def scrape(port: int, host: str = "127.0.0.1") -> dict[str, float]:
    """Every sample of ``/metrics``, keyed by its series text (name with labels)."""
    status, body = http_get(f"http://{host}:{port}/metrics")
    assert status == 200, body[:200]
    out: dict[str, float] = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            out[series] = float(value)
    return out


def values(samples: dict[str, float], name: str, *labels: str) -> list[float]:
    """Values of the series of ``name`` whose label text holds every one of ``labels``."""
    return [
        v
        for k, v in samples.items()
        if (k == name or k.startswith(name + "{")) and all(lab in k for lab in labels)
    ]

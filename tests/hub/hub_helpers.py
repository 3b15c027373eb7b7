"""Shared helpers of the hub tests: start stand-in agents and hubs, poll their APIs."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from support import Proc, free_port, http_get, microrack_cmd, started

T = TypeVar("T")


def standin_cmd(
    port: int,
    *,
    name: str,
    interval: float = 0.2,
    series: int = 12,
    ring: int = 2000,
    count: int = 1,
    boot_id: str | None = None,
    backdate: float = 0.0,
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "microrack.hub._standin",
        "--port",
        str(port),
        "--name",
        name,
        "--interval",
        str(interval),
        "--series",
        str(series),
        "--ring",
        str(ring),
        "--count",
        str(count),
        "--backdate",
        str(backdate),
    ]
    if boot_id:
        argv += ["--boot-id", boot_id]
    return argv


@contextlib.contextmanager
def standin(log: Path, port: int, **kw: Any) -> Iterator[Proc]:
    with started(standin_cmd(port, **kw), log, wait=("127.0.0.1", port)) as p:
        yield p


@contextlib.contextmanager
def hub(log: Path, db: Path, *args: str, port: int | None = None) -> Iterator[tuple[Proc, str]]:
    port = port or free_port()
    argv = microrack_cmd("hub", "--listen", f"127.0.0.1:{port}", "--db", str(db), *args)
    with started(argv, log, wait=("127.0.0.1", port), timeout=60) as p:
        yield p, f"http://127.0.0.1:{port}"


def get_json(url: str) -> Any:
    status, body = http_get(url)
    assert status == 200, f"{url}: HTTP {status}: {body[:300]!r}"
    return json.loads(body)


def wait_until(
    what: str, fn: Callable[[], T | None], timeout: float = 60.0, every: float = 0.2
) -> T:
    """Poll ``fn`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = fn()
        except (OSError, AssertionError, ValueError, KeyError) as exc:
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def node(base: str, name: str) -> dict[str, Any] | None:
    for n in get_json(f"{base}/api/v1/nodes")["nodes"]:
        if n["name"] == name:
            return n
    return None


def raw_series(base: str, metric: str, node_name: str, labels: str = "") -> list[list[float]]:
    """Every stored point of one series (asks for more points than exist, so no averaging)."""
    q = f"{base}/api/v1/query?metric={metric}&node={node_name}&from=0&to=now&points=100000"
    if labels:
        q += f"&labels={labels}"
    series = get_json(q)["series"]
    assert len(series) == 1, series
    return series[0]["points"]

"""Shared helpers of the hub tests: start stand-in agents and hubs, poll their APIs."""

from __future__ import annotations

import contextlib
import json
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from microrack.hub._standin import command as standin_command
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
    return standin_command(
        port,
        name=name,
        count=count,
        interval=interval,
        series=series,
        ring=ring,
        backdate=backdate,
        boot_id=boot_id,
    )


def twin_agent_cmd(
    listen: str, board: str, node: str, *extra: str, interval: float = 0.5
) -> list[str]:
    """``microrack agent`` on ``listen`` (HOST:PORT) for a twin ``board`` named ``node``."""
    flags = ["--listen", listen, "--interval", str(interval), "--simulate", board, "--node", node]
    return microrack_cmd("agent", *flags, *extra)


@contextlib.contextmanager
def standin(log: Path, port: int, wait_port: int | None = None, **kw: Any) -> Iterator[Proc]:
    """Stand-in agents (``count`` of them on ports ``port`` ...) in one process."""
    with started(standin_cmd(port, **kw), log, wait=("127.0.0.1", wait_port or port)) as p:
        yield p


@contextlib.contextmanager
def hub(log: Path, db: Path, *args: str, port: int | None = None) -> Iterator[tuple[Proc, str]]:
    port = port or free_port()
    argv = microrack_cmd("hub", "--listen", f"127.0.0.1:{port}", "--db", str(db), *args)
    with started(argv, log, wait=("127.0.0.1", port), timeout=60) as p:
        yield p, f"http://127.0.0.1:{port}"


def free_block(n: int) -> int:
    """A first port such that ``n`` consecutive ports are free on loopback."""
    for _ in range(100):
        base = free_port()
        if base + n > 65000:
            continue
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return base
    raise RuntimeError(f"no {n} consecutive free ports")


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


def ring_points(
    agent: str, metric: str, labels: dict[str, str], upto: int | None = None
) -> list[tuple[int, float, float | None]]:
    """``(seq, ts, value)`` of one series, as the agent's ring holds it."""
    body = get_json(f"{agent}/api/v1/samples?since=0")
    idx = next(
        i
        for i, (name, lab, _) in enumerate(body["series"])
        if name == metric and all(lab.get(k) == v for k, v in labels.items())
    )
    return [
        (s["seq"], s["ts"], s["values"][idx])
        for s in body["samples"]
        if upto is None or s["seq"] <= upto
    ]


def assert_complete(
    base: str,
    agent: str,
    name: str,
    metric: str = "node_network_receive_bytes_total",
    labels: str = "device=eth0",
) -> int:
    """Every sample the agent's ring has, up to what the hub says it stored, is in the store."""
    last = node(base, name)["stored_seq"]
    want_labels = dict(kv.split("=", 1) for kv in labels.split(",") if kv)
    want = [
        (ts, v) for _, ts, v in ring_points(agent, metric, want_labels, upto=last) if v is not None
    ]
    lo, hi = want[0][0] - 0.0005, want[-1][0] + 0.0005
    got = [(t, v) for t, v in raw_series(base, metric, name, labels) if lo <= t <= hi]
    assert len(got) == len(want), f"stored {len(got)} samples, agent has {len(want)}"
    for (gt, gv), (wt, wv) in zip(got, want, strict=True):
        assert abs(gt - wt) <= 0.001 and gv == wv, ((gt, gv), (wt, wv))
    return len(want)

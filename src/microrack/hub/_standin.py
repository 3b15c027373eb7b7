"""A stand-in agent: the agent's HTTP API with deterministic, clock-driven samples.

Used by the hub's tests and ``benchmarks/hub_ingest.py`` where hundreds of
agents must run on one machine.  It serves ``/api/v1/samples?since=SEQ``
(``microrack.sample.encode_batch``), ``/metrics`` (Prometheus text) and
``/healthz``.  Sample ``seq`` is taken at ``start + (seq-1) * interval`` and
its values are a pure function of ``(seq, series index)`` — so a test can say
exactly which values must be in the store, and a stopped (SIGSTOP) process
catches up with the right timestamps when it continues, like an agent whose
network was cut while it kept collecting.

:class:`StandIn` is also the base of the hostile stand-ins (``_hostile``): they
answer ``/api/v1/samples`` their own way through :meth:`StandIn.answer_samples`.
Each stand-in answers from a daemon thread, so one process runs hundreds of
them; :func:`serve_until_interrupted` is the ``main()`` loop of both modules.

    python -m microrack.hub._standin --port 9101 --name n1 --interval 0.2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from microrack.sample import NodeIdentity, Point, Sample, SeriesKey, encode_batch

__all__ = [
    "FAN_AND_POWER",
    "NODE_PAGE_CHARTS",
    "SENSORS",
    "Exchange",
    "StandIn",
    "command",
    "parser",
    "series_keys",
    "serve_until_interrupted",
    "value_of",
]


# (name, labels, type) of a series as the store's Batch takes it
Series = tuple[str, dict[str, str], str]

#: the temperature sensors of a Pi-like node with an NVMe drive: the SoC's thermal zone
#: and its hwmon mirror (one line on the page, not two), the drive with its critical limit
SENSORS: list[Series] = [
    ("node_thermal_zone_temp", {"type": "cpu-thermal", "zone": "0"}, "gauge"),
    ("node_hwmon_temp_celsius", {"chip": "thermal_thermal_zone0", "sensor": "temp1"}, "gauge"),
    ("node_hwmon_temp_celsius", {"chip": "nvme_nvme0", "sensor": "temp1"}, "gauge"),
    ("node_hwmon_temp_crit_celsius", {"chip": "nvme_nvme0", "sensor": "temp1"}, "gauge"),
    ("node_hwmon_chip_names", {"chip": "nvme_nvme0", "chip_name": "nvme"}, "gauge"),
]
#: one fan (rpm and duty) and the estimated power
FAN_AND_POWER: list[Series] = [
    ("microrack_fan_rpm", {"fan": "fan"}, "gauge"),
    ("microrack_fan_duty_ratio", {"fan": "fan"}, "gauge"),
    ("microrack_power_watts", {"source": "estimate"}, "gauge"),
]
#: the element ids of the charts of a node's page (static/index.html)
NODE_PAGE_CHARTS = (
    "ch-cpu-modes",
    "ch-cpu-cores",
    "ch-temp",
    "ch-fan",
    "ch-power",
    "ch-throttle",
    "ch-mem",
    "ch-fs",
    "ch-disk",
    "ch-net",
)


def series_keys(count: int) -> list[SeriesKey]:
    """A mix like a real node's: counters, decimals, constants and noisy ratios."""
    keys: list[SeriesKey] = [
        SeriesKey.of("microrack_cpu_busy_ratio"),
        SeriesKey.of("node_hwmon_temp_celsius", chip="thermal_zone0", sensor="temp1"),
        SeriesKey.of("microrack_power_watts", source="estimate"),
        SeriesKey.of("microrack_fan_rpm", fan="fan0"),
        SeriesKey.of("node_memory_MemTotal_bytes"),
        SeriesKey.of("node_memory_MemAvailable_bytes"),
    ]
    i = 0
    while len(keys) < count:
        kind = i % 10
        if kind < 6:
            keys.append(
                SeriesKey.of("node_network_receive_bytes_total", "counter", device=f"eth{i}")
            )
        elif kind < 8:
            keys.append(SeriesKey.of("node_load1_like", "gauge", n=str(i)))
        elif kind < 9:
            keys.append(SeriesKey.of("node_filesystem_size_bytes", "gauge", mountpoint=f"/m{i}"))
        else:
            keys.append(SeriesKey.of("microrack_noise_ratio", "gauge", n=str(i)))
        i += 1
    return keys[:count]


def value_of(key: SeriesKey, index: int, seq: int) -> float:
    """The value of series ``index`` at ``seq`` (deterministic)."""
    name = key.name
    if name == "microrack_cpu_busy_ratio":
        return (math.sin(seq / 7.0) + 1) / 2
    if name == "node_hwmon_temp_celsius":
        return 45 + (seq % 40) * 0.125
    if name == "microrack_power_watts":
        return 4.5 + (seq % 5) * 0.25
    if name == "microrack_fan_rpm":
        return float(2400 + (seq % 8) * 10)
    if name == "node_memory_MemTotal_bytes":
        return 4.0 * 2**30
    if name == "node_memory_MemAvailable_bytes":
        return float(3 * 2**30 - (seq % 100) * 4096)
    if name.endswith("_total"):
        return float(seq * (1000 + index) + (seq * index) % 977)
    if name == "node_load1_like":
        return round(1 + ((seq * 37 + index) % 200) / 100, 2)
    if name == "node_filesystem_size_bytes":
        return float(32 * 2**30)
    return math.fmod(seq * 0.6180339887498949 + index * 0.1, 1.0)


# Rows are a function of (series count, seq) only: agents in one process share them.
_ROWS: dict[tuple[int, int], list[float]] = {}


class Exchange(BaseHTTPRequestHandler):
    """One HTTP/1.1 connection to a stand-in; routes each GET to its :class:`StandIn`."""

    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.agent.idle_timeout)

    def handle(self) -> None:
        with contextlib.suppress(OSError):  # the client went away: nothing to answer
            super().handle()

    def do_GET(self) -> None:
        agent = self.server.agent
        url = urlparse(self.path)
        if url.path == "/api/v1/samples":
            try:
                since = int(parse_qs(url.query).get("since", ["0"])[0])
            except ValueError:
                self.send(400, b'{"error":"since"}', "application/json")
                return
            agent.answer_samples(self, since)
        elif url.path == "/metrics":
            self.send(200, agent.metrics_body(), "text/plain; version=0.0.4")
        elif url.path == "/healthz":
            self.send(200, b"ok\n", "text/plain")
        else:
            self.send(404, b'{"error":"not found"}', "application/json")

    def send(self, status: int, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, agent: StandIn) -> None:
        self.agent = agent
        super().__init__((agent.host, agent.port), Exchange)


class StandIn:
    """One stand-in agent; ``serve()`` runs it on ``port`` in a thread."""

    #: seconds a kept-alive connection may stay idle (None: as long as the client likes)
    idle_timeout: float | None = None

    def __init__(
        self,
        name: str,
        port: int,
        *,
        interval: float = 5.0,
        series: int = 50,
        ring: int = 720,
        start: float | None = None,
        boot_id: str | None = None,
        host: str = "127.0.0.1",
        board: str = "rpi-4b",
    ) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.interval = interval
        self.ring = ring
        self.start = time.time() if start is None else start
        self.boot_id = boot_id or str(uuid.uuid4())
        self.keys = series_keys(series)
        self.board = board
        self._server: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    def last_seq(self, now: float | None = None) -> int:
        now = time.time() if now is None else now
        return max(0, int((now - self.start) / self.interval) + 1)

    def sample(self, seq: int) -> Sample:
        pts = tuple(Point(k, value_of(k, i, seq)) for i, k in enumerate(self.keys))
        return Sample(seq, self.start + (seq - 1) * self.interval, pts)

    def samples_body(self, since: int) -> bytes:
        last = self.last_seq()
        first = max(1, last - self.ring + 1)
        lo = max(first, since + 1)
        ident = NodeIdentity(
            self.name, self.board, self.host, self.port, self.boot_id, self.interval
        )
        if last - lo < 50:
            body = encode_batch(ident, first, last, (self.sample(s) for s in range(lo, last + 1)))
        else:
            # Large catch-up answers (benchmarks): the same JSON, built without Point objects.
            body = encode_batch(ident, first, last, ())
            body["series"] = [[k.name, dict(k.labels), k.type] for k in self.keys]
            body["samples"] = [
                {"seq": s, "ts": self.start + (s - 1) * self.interval, "values": self._row(s)}
                for s in range(lo, last + 1)
            ]
        return json.dumps(body, separators=(",", ":")).encode()

    def _row(self, seq: int) -> list[float]:
        row = _ROWS.get((len(self.keys), seq))
        if row is None:
            row = [value_of(k, i, seq) for i, k in enumerate(self.keys)]
            if len(_ROWS) > 200_000:
                _ROWS.clear()
            _ROWS[(len(self.keys), seq)] = row
        return row

    def metrics_body(self) -> bytes:
        seq = self.last_seq()
        lines = []
        for i, k in enumerate(self.keys):
            lab = ",".join(f'{a}="{b}"' for a, b in (*k.labels, ("node", self.name)))
            lines.append(f"{k.name}{{{lab}}} {value_of(k, i, seq)!r}")
        return ("\n".join(lines) + "\n").encode()

    def answer_samples(self, exchange: Exchange, since: int) -> None:
        """Answer ``GET /api/v1/samples?since=SEQ``."""
        exchange.send(200, self.samples_body(since), "application/json")

    def serve(self) -> ThreadingHTTPServer:
        """Listen on ``host:port`` and answer from a daemon thread until :meth:`close`."""
        if self._server is None:
            self._server = _HTTPServer(self)
            self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
            self._thread.start()
        return self._server

    def close(self) -> None:
        """Stop answering and free the port."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self._thread = None


def command(
    port: int,
    *,
    name: str = "standin",
    count: int = 1,
    interval: float = 5.0,
    series: int = 50,
    ring: int = 720,
    backdate: float = 0.0,
    boot_id: str | None = None,
) -> list[str]:
    """The argv that runs ``count`` stand-ins on ports ``port`` .. ``port+count-1`` in a
    process of their own (this module's ``main()``)."""
    argv = [sys.executable, "-m", "microrack.hub._standin", "--port", str(port)]
    argv += ["--name", name, "--count", str(count), "--interval", str(interval)]
    argv += ["--series", str(series), "--ring", str(ring), "--backdate", str(backdate)]
    return argv + (["--boot-id", boot_id] if boot_id else [])


def parser(prog: str) -> argparse.ArgumentParser:
    """The flags every stand-in ``main()`` has: where its agents listen."""
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="first port; agent i gets port+i")
    return p


def serve_until_interrupted(agents: Sequence[StandIn]) -> int:
    """Serve every agent until Ctrl-C, then close them; the exit status for ``main()``."""
    try:
        for agent in agents:
            agent.serve()
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        for agent in agents:
            agent.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("python -m microrack.hub._standin")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--name", default="standin")
    p.add_argument("--interval", type=float, default=5.0)
    p.add_argument("--series", type=int, default=50)
    p.add_argument("--ring", type=int, default=720)
    p.add_argument(
        "--backdate",
        type=float,
        default=0.0,
        help="pretend the agents started this many seconds ago",
    )
    p.add_argument("--boot-id", default=None)
    a = p.parse_args(argv)
    start = time.time() - a.backdate
    agents = [
        StandIn(
            a.name if a.count == 1 else f"{a.name}-{i:03d}",
            a.port + i,
            interval=a.interval,
            series=a.series,
            ring=a.ring,
            start=start,
            boot_id=a.boot_id,
            host=a.host,
        )
        for i in range(a.count)
    ]
    return serve_until_interrupted(agents)


if __name__ == "__main__":
    raise SystemExit(main())

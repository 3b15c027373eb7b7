"""Hostile stand-in agents: the agent's ``/api/v1/samples`` answered with bad data, on purpose.

Each *mode* is one way an agent (or whatever answers at an agent's address)
can be wrong; the hub's tests run every mode against a real hub beside a real
agent and check that nothing of it reaches the real node, the API or the
hub's memory.

    python -m microrack.hub._hostile --port 9300 --modes garbage,not_json,silent
    python -m microrack.hub._hostile --port 9300 --modes all --name-taken real1

Mode ``m`` listens on ``port + i`` (its place in ``--modes``) and names itself
``hostile-m-PORT``, except ``name_taken``, which claims ``--name-taken``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import socketserver
import time
from collections.abc import Callable, Sequence
from typing import Any

from microrack.hub._threaded import ServerThread, block_until_interrupted

__all__ = ["MODES", "HostileAgent", "body_for"]

_START = time.time()


def _ident(name: str, port: int, interval: Any = 0.2, boot_id: str = "hostile-boot") -> dict:
    return {
        "name": name,
        "board": "rpi-4b",
        "address": "127.0.0.1",
        "port": port,
        "boot_id": boot_id,
        "interval": interval,
    }


def _seq_now(interval: float = 0.2) -> int:
    return int((time.time() - _START) / interval) + 1


def _answer(
    name: str,
    port: int,
    since: int,
    *,
    series: list[Any] | None = None,
    value: Callable[[int], Any] = float,
    ts: Callable[[int], Any] | None = None,
    seq: Callable[[int], Any] = lambda s: s,
    interval: Any = 0.2,
    last: Any = None,
) -> dict[str, Any]:
    n = _seq_now()
    lo = max(since + 1, n - 200, 1)
    series = series or [["microrack_power_watts", {"source": "estimate"}, "gauge"]]
    ts = ts or (lambda s: _START + s * 0.2)
    return {
        "node": _ident(name, port, interval),
        "first_seq": 1,
        "last_seq": n if last is None else last,
        "series": series,
        "samples": [
            {"seq": seq(s), "ts": ts(s), "values": [value(s)] * len(series)}
            for s in range(lo, n + 1)
        ],
    }


def _json(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def body_for(mode: str, name: str, port: int, since: int) -> bytes:
    """The body a JSON-level mode answers with."""
    a = _answer
    if mode == "garbage":
        return os.urandom(4096)
    if mode == "not_json":
        return b"<html><body>403 Forbidden: SECRET-BANNER</body></html>"
    if mode == "not_object":
        return b"[1, 2, 3]"
    if mode == "huge_json":
        # valid JSON far over the hub's answer limit (12 MB)
        head = _json(a(name, port, since, value=lambda s: 0.0))[:-3]
        return head + b"1.5," * 3_000_000 + b"1.5]}]}"
    if mode == "deep_json":
        return b"[" * 200_000 + b"]" * 200_000
    if mode == "seq_backwards":
        # the same boot, and every answer's last_seq below the one before
        back = max(1, 10**6 - _seq_now())
        d = a(name, port, 0, last=back)
        d["samples"] = [{"seq": back, "ts": time.time(), "values": [1.0]}]
        return _json(d)
    if mode == "huge_seq":
        return _json(a(name, port, since, seq=lambda s: 2**63 + s, last=2**64))
    if mode == "string_values":
        return _json(a(name, port, since, value=lambda s: "12.5"))
    if mode == "nonfinite_values":
        # NaN and +-Inf are values of the Prometheus data model: kept, served as null
        nf = (float("nan"), float("inf"), float("-inf"))
        return json.dumps(a(name, port, since, value=lambda s: nf[s % 3])).encode()
    if mode == "dict_values":
        return _json(a(name, port, since, value=lambda s: {"count": 1}))
    if mode == "bool_and_bigint_values":
        return _json(a(name, port, since, value=lambda s: True if s % 2 else 10**400))
    if mode == "values_not_list":
        d = a(name, port, since)
        for smp in d["samples"]:
            smp["values"] = {"0": 1.0}
        return _json(d)
    if mode == "nan_ts":
        return json.dumps(a(name, port, since, ts=lambda s: float("nan"))).encode()
    if mode == "inf_ts":
        return json.dumps(a(name, port, since, ts=lambda s: float("inf"))).encode()
    if mode == "huge_ts":
        return _json(a(name, port, since, ts=lambda s: 1e300))
    if mode == "string_ts":
        return _json(a(name, port, since, ts=lambda s: "yesterday"))
    if mode == "hostile_labels":
        series = [
            ["ok_metric", {"a": 'quote " brace } newline \n backslash \\'}, "gauge"],
            ["bad metric\n# TYPE x counter", {}, "gauge"],
            ["m", {"bad label": "x"}, "gauge"],
            ["m", {"__reserved": "x"}, "gauge"],
            ["m", {"long": "x" * 100_000}, "gauge"],
            ["m", {"v": 5}, "gauge"],
            ["m", {}, "histogram"],
            ["ok_metric", {"a": 'quote " brace } newline \n backslash \\'}, "gauge"],
        ]
        return _json(a(name, port, since, series=series))
    if mode == "hostile_name":
        return _json(a('evil"} 1 # TYPE pwned counter pwned{x="\\', port, since))
    if mode == "control_name":
        return _json(a("evil\nname", port, since))
    if mode == "too_many_series":
        series = [["m", {"i": str(i)}, "gauge"] for i in range(20_000)]
        return _json(a(name, port, since, series=series))
    if mode == "zero_interval":
        return _json(a(name, port, since, interval=0))
    if mode == "inf_interval":
        return json.dumps(a(name, port, since, interval=float("inf"))).encode()
    if mode == "string_interval":
        return _json(a(name, port, since, interval="5s"))
    if mode == "name_taken":
        return _json(a(name, port, since))
    if mode == "big_valid":
        # a valid answer just under the hub's limit (about 6 MB), every row new: several of
        # these at once must not add up in the hub's memory
        return _big_valid(name, port, since)
    if mode == "renaming":
        # a new name on every answer: each would be a new node in the store
        return _json(a(f"{name}-{time.monotonic_ns()}", port, since))
    if mode == "series_churn":
        # 5000 new series on every answer: the store would grow without end
        tag = str(time.monotonic_ns())
        series = [["churn", {"i": str(i), "t": tag}, "gauge"] for i in range(5000)]
        return _json(a(name, port, since, series=series))
    raise ValueError(f"unknown mode {mode!r}")


_BIG_ROWS = 120_000


def _big_valid(name: str, port: int, since: int) -> bytes:
    t0 = time.time() - _BIG_ROWS * 0.001 - 60
    rows = ",".join(
        f'{{"seq":{s},"ts":{t0 + s * 0.001:.3f},"values":[{s % 7}.5]}}'
        for s in range(since + 1, _BIG_ROWS + 1)
    )
    head = {
        "node": _ident(name, port),
        "first_seq": 1,
        "last_seq": _BIG_ROWS,
        "series": [["microrack_power_watts", {"source": "estimate"}, "gauge"]],
    }
    return _json(head)[:-1] + f',"samples":[{rows}]}}'.encode()


# modes that misbehave below JSON: how the HTTP exchange goes wrong
_RAW = {"silent", "slow_loris", "gigantic", "gigantic_chunked", "bad_status", "http_403"}
_JSON_MODES = (
    "garbage",
    "not_json",
    "not_object",
    "huge_json",
    "deep_json",
    "seq_backwards",
    "huge_seq",
    "string_values",
    "nonfinite_values",
    "dict_values",
    "bool_and_bigint_values",
    "values_not_list",
    "nan_ts",
    "inf_ts",
    "huge_ts",
    "string_ts",
    "hostile_labels",
    "hostile_name",
    "control_name",
    "too_many_series",
    "zero_interval",
    "inf_interval",
    "string_interval",
    "name_taken",
    "renaming",
    "series_churn",
    "big_valid",
)
MODES = (*_JSON_MODES, *sorted(_RAW))


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(30)
        with contextlib.suppress(OSError):
            while True:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode("latin-1")
                since = 0
                if "since=" in line:
                    with contextlib.suppress(ValueError):
                        since = int(line.split("since=", 1)[1].split()[0].split("&")[0])
                if not self._answer(sock, since):
                    return

    def _answer(self, sock: socket.socket, since: int) -> bool:
        mode, name, port = self.server.mode, self.server.agent_name, self.server.port
        if mode == "silent":
            time.sleep(60)
            return False
        if mode == "slow_loris":
            sock.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
            for _ in range(60):
                sock.sendall(b"{")
                time.sleep(1)
            return False
        if mode == "gigantic":
            size = 400 * 2**20
            sock.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
            piece = b"[" * 65536
            for _ in range(size // len(piece)):
                sock.sendall(piece)
            return False
        if mode == "gigantic_chunked":
            sock.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            piece = b"1" * 65536
            for _ in range(400 * 16):
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            return False
        if mode == "bad_status":
            sock.sendall(b"SSH-2.0-OpenSSH_9.2 SECRET-BANNER\r\n\r\n")
            return False
        if mode == "http_403":
            body = b"403 Forbidden: SECRET-BANNER"
            sock.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            return True
        body = body_for(mode, name, port, since)
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
            % len(body)
            + body
        )
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mode: str
    agent_name: str
    port: int


class HostileAgent:
    """One mode on one port, served from a thread."""

    def __init__(self, mode: str, port: int, name: str | None = None, host: str = "127.0.0.1"):
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        self.mode = mode
        self.port = port
        self.name = name or f"hostile-{mode}-{port}"
        server = _Server((host, port), _Handler)
        server.mode = mode
        server.agent_name = self.name
        server.port = port
        self._served = ServerThread(server)

    def serve(self) -> None:
        self._served.start()

    def close(self) -> None:
        self._served.close()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m microrack.hub._hostile")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True, help="first port; mode i gets port+i")
    p.add_argument("--modes", default="all", help=f"comma-separated, or all: {', '.join(MODES)}")
    p.add_argument("--name-taken", default="real", help="the name the name_taken mode claims")
    a = p.parse_args(argv)
    modes = list(MODES) if a.modes == "all" else a.modes.split(",")
    agents = []
    for i, mode in enumerate(modes):
        agent = HostileAgent(
            mode, a.port + i, a.name_taken if mode == "name_taken" else None, a.host
        )
        agent.serve()
        agents.append(agent)
    return block_until_interrupted(a._served for a in agents)


if __name__ == "__main__":
    raise SystemExit(main())

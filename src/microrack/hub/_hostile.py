"""Hostile stand-in agents: the agent's ``/api/v1/samples`` answered with bad data, on purpose.

Each *mode* is one way an agent (or whatever answers at an agent's address)
can be wrong; the hub's tests run every mode against a real hub beside a real
agent and check that nothing of it reaches the real node, the API or the
hub's memory.  A hostile agent is a :class:`~microrack.hub._standin.StandIn`
whose samples answer is its mode: a *body* mode answers 200 with a bad body
(one function each in ``_BODIES``), a *wire* mode breaks the HTTP exchange
itself (one function each in ``_WIRE``).

    python -m microrack.hub._hostile --port 9300 --modes garbage,not_json,silent
    python -m microrack.hub._hostile --port 9300 --modes all --name-taken real1

Mode ``m`` listens on ``port + i`` (its place in ``--modes``) and names itself
``hostile-m-PORT``, except ``name_taken``, which claims ``--name-taken``.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from microrack.hub._standin import Exchange, StandIn, parser, serve_until_interrupted

__all__ = ["MODES", "HostileAgent"]

_INTERVAL = 0.2
_WATTS = [["microrack_power_watts", {"source": "estimate"}, "gauge"]]


class HostileAgent(StandIn):
    """One mode on one port, served from a thread."""

    idle_timeout = 30.0

    def __init__(
        self, mode: str, port: int, name: str | None = None, host: str = "127.0.0.1"
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        super().__init__(
            name or f"hostile-{mode}-{port}",
            port,
            interval=_INTERVAL,
            boot_id="hostile-boot",
            host=host,
        )
        self.mode = mode

    def answer_samples(self, exchange: Exchange, since: int) -> None:
        wire = _WIRE.get(self.mode)
        if wire is not None:
            wire(exchange)
        else:
            exchange.send(200, _BODIES[self.mode](self, since), "application/json")

    def ident(self, name: str | None = None, interval: Any = _INTERVAL) -> dict[str, Any]:
        """The ``node`` object of an answer, with this agent's name unless told otherwise."""
        return {
            "name": self.name if name is None else name,
            "board": self.board,
            "address": self.host,
            "port": self.port,
            "boot_id": self.boot_id,
            "interval": interval,
        }

    def answer(
        self,
        since: int,
        *,
        name: str | None = None,
        series: list[Any] | None = None,
        value: Callable[[int], Any] = float,
        ts: Callable[[int], Any] | None = None,
        seq: Callable[[int], Any] = lambda s: s,
        interval: Any = _INTERVAL,
        last: Any = None,
    ) -> dict[str, Any]:
        """A well-formed answer (up to 200 samples) but for the parts a mode replaces."""
        n = self.last_seq()
        lo = max(since + 1, n - 200, 1)
        series = series or _WATTS
        ts = ts or (lambda s: self.start + s * self.interval)
        return {
            "node": self.ident(name, interval),
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


_Body = Callable[[HostileAgent, int], bytes]


def _huge_json(a: HostileAgent, since: int) -> bytes:
    # valid JSON far over the hub's answer limit (12 MB)
    head = _json(a.answer(since, value=lambda s: 0.0))[:-3]
    return head + b"1.5," * 3_000_000 + b"1.5]}]}"


def _seq_backwards(a: HostileAgent, since: int) -> bytes:
    # the same boot, and every answer's last_seq below the one before
    back = max(1, 10**6 - a.last_seq())
    d = a.answer(0, last=back)
    d["samples"] = [{"seq": back, "ts": time.time(), "values": [1.0]}]
    return _json(d)


def _nonfinite_values(a: HostileAgent, since: int) -> bytes:
    # NaN and +-Inf are values of the Prometheus data model: kept, served as null
    nf = (float("nan"), float("inf"), float("-inf"))
    return json.dumps(a.answer(since, value=lambda s: nf[s % 3])).encode()


def _values_not_list(a: HostileAgent, since: int) -> bytes:
    d = a.answer(since)
    for smp in d["samples"]:
        smp["values"] = {"0": 1.0}
    return _json(d)


_HOSTILE_SERIES = [
    ["ok_metric", {"a": 'quote " brace } newline \n backslash \\'}, "gauge"],
    ["bad metric\n# TYPE x counter", {}, "gauge"],
    ["m", {"bad label": "x"}, "gauge"],
    ["m", {"__reserved": "x"}, "gauge"],
    ["m", {"long": "x" * 100_000}, "gauge"],
    ["m", {"v": 5}, "gauge"],
    ["m", {}, "histogram"],
    ["ok_metric", {"a": 'quote " brace } newline \n backslash \\'}, "gauge"],
]

_BIG_ROWS = 120_000


def _big_valid(a: HostileAgent, since: int) -> bytes:
    # a valid answer just under the hub's limit (about 6 MB), every row new: several of
    # these at once must not add up in the hub's memory
    t0 = time.time() - _BIG_ROWS * 0.001 - 60
    rows = ",".join(
        f'{{"seq":{s},"ts":{t0 + s * 0.001:.3f},"values":[{s % 7}.5]}}'
        for s in range(since + 1, _BIG_ROWS + 1)
    )
    head = {"node": a.ident(), "first_seq": 1, "last_seq": _BIG_ROWS, "series": _WATTS}
    return _json(head)[:-1] + f',"samples":[{rows}]}}'.encode()


def _series_churn(a: HostileAgent, since: int) -> bytes:
    # 5000 new series on every answer: the store would grow without end
    tag = str(time.monotonic_ns())
    series = [["churn", {"i": str(i), "t": tag}, "gauge"] for i in range(5000)]
    return _json(a.answer(since, series=series))


# body modes: a 200 answer whose body is wrong, in MODES order
_BODIES: dict[str, _Body] = {
    "garbage": lambda a, since: os.urandom(4096),
    "not_json": lambda a, since: b"<html><body>403 Forbidden: SECRET-BANNER</body></html>",
    "not_object": lambda a, since: b"[1, 2, 3]",
    "huge_json": _huge_json,
    "deep_json": lambda a, since: b"[" * 200_000 + b"]" * 200_000,
    "seq_backwards": _seq_backwards,
    "huge_seq": lambda a, since: _json(a.answer(since, seq=lambda s: 2**63 + s, last=2**64)),
    "string_values": lambda a, since: _json(a.answer(since, value=lambda s: "12.5")),
    "nonfinite_values": _nonfinite_values,
    "dict_values": lambda a, since: _json(a.answer(since, value=lambda s: {"count": 1})),
    "bool_and_bigint_values": lambda a, since: _json(
        a.answer(since, value=lambda s: True if s % 2 else 10**400)
    ),
    "values_not_list": _values_not_list,
    "nan_ts": lambda a, since: json.dumps(a.answer(since, ts=lambda s: float("nan"))).encode(),
    "inf_ts": lambda a, since: json.dumps(a.answer(since, ts=lambda s: float("inf"))).encode(),
    "huge_ts": lambda a, since: _json(a.answer(since, ts=lambda s: 1e300)),
    "string_ts": lambda a, since: _json(a.answer(since, ts=lambda s: "yesterday")),
    "hostile_labels": lambda a, since: _json(a.answer(since, series=_HOSTILE_SERIES)),
    "hostile_name": lambda a, since: _json(
        a.answer(since, name='evil"} 1 # TYPE pwned counter pwned{x="\\')
    ),
    "control_name": lambda a, since: _json(a.answer(since, name="evil\nname")),
    "too_many_series": lambda a, since: _json(
        a.answer(since, series=[["m", {"i": str(i)}, "gauge"] for i in range(20_000)])
    ),
    "zero_interval": lambda a, since: _json(a.answer(since, interval=0)),
    "inf_interval": lambda a, since: json.dumps(a.answer(since, interval=float("inf"))).encode(),
    "string_interval": lambda a, since: _json(a.answer(since, interval="5s")),
    "name_taken": lambda a, since: _json(a.answer(since)),
    # a new name on every answer: each would be a new node in the store
    "renaming": lambda a, since: _json(a.answer(since, name=f"{a.name}-{time.monotonic_ns()}")),
    "series_churn": _series_churn,
    "big_valid": _big_valid,
}


def _silent(ex: Exchange) -> None:
    time.sleep(60)
    ex.close_connection = True


def _slow_loris(ex: Exchange) -> None:
    ex.connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n")
    for _ in range(60):
        ex.connection.sendall(b"{")
        time.sleep(1)
    ex.close_connection = True


def _gigantic(ex: Exchange) -> None:
    size = 400 * 2**20
    ex.connection.sendall(f"HTTP/1.1 200 OK\r\nContent-Length: {size}\r\n\r\n".encode())
    piece = b"[" * 65536
    for _ in range(size // len(piece)):
        ex.connection.sendall(piece)
    ex.close_connection = True


def _gigantic_chunked(ex: Exchange) -> None:
    ex.connection.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    piece = b"1" * 65536
    for _ in range(400 * 16):
        ex.connection.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
    ex.close_connection = True


def _bad_status(ex: Exchange) -> None:
    ex.connection.sendall(b"SSH-2.0-OpenSSH_9.2 SECRET-BANNER\r\n\r\n")
    ex.close_connection = True


# wire modes: how the HTTP exchange itself goes wrong
_WIRE: dict[str, Callable[[Exchange], None]] = {
    "bad_status": _bad_status,
    "gigantic": _gigantic,
    "gigantic_chunked": _gigantic_chunked,
    "http_403": lambda ex: ex.send(403, b"403 Forbidden: SECRET-BANNER", "text/plain"),
    "silent": _silent,
    "slow_loris": _slow_loris,
}
MODES = (*_BODIES, *sorted(_WIRE))


def main(argv: Sequence[str] | None = None) -> int:
    p = parser("python -m microrack.hub._hostile")
    p.add_argument("--modes", default="all", help=f"comma-separated, or all: {', '.join(MODES)}")
    p.add_argument("--name-taken", default="real", help="the name the name_taken mode claims")
    a = p.parse_args(argv)
    modes = list(MODES) if a.modes == "all" else a.modes.split(",")
    agents = [
        HostileAgent(mode, a.port + i, a.name_taken if mode == "name_taken" else None, a.host)
        for i, mode in enumerate(modes)
    ]
    return serve_until_interrupted(agents)


if __name__ == "__main__":
    raise SystemExit(main())

"""Message passing between workers, measured twice.

Once over plain TCP sockets that the two workers open between themselves (what
the network gives), once over Dask's own communication layer,
``distributed.comm`` — the connect/handshake, framing and serialisation that
workers use to move task data (what the engine costs).  Both carry the same
payload sizes between the same two worker addresses.  Then an all-to-all
exchange through ordinary Dask tasks: every worker produces a block for every
other worker, which fetches it as a task dependency.

Every echo is compared with what was sent and every byte stream is counted
by the receiver, so a fast but lossy path cannot pass.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from microrack.bench.engine import BenchCluster, WorkerInfo
from microrack.bench.measure import WorkloadResult, percentiles
from microrack.errors import ResourceError, UsageError

__all__ = [
    "NetParams",
    "make_block",
    "run_net",
    "tcp_pingpong",
    "tcp_throughput",
]

_SERVERS: dict[int, socket.socket] = {}
_LISTENERS: dict[str, Any] = {}
_SAMPLE = 2000
#: The stream receiver's buffer: one ``recv_into`` takes whatever the socket holds, up to this.
_RECV_BUFFER = 4 << 20


@dataclass(slots=True)
class NetParams:
    """Sizes and counts; ``pair`` restricts the pairwise tests to two nodes."""

    pair: tuple[str, str] | None = None
    small: int = 64
    round_trips: int = 2000
    stream_bytes: int = 256 << 20
    chunk: int = 1 << 20
    all_to_all_bytes: int = 8 << 20

    def pairs(self, bench: BenchCluster) -> list[tuple[WorkerInfo, WorkerInfo]]:
        if self.pair is not None:
            a, b = (bench.by_node(n) for n in self.pair)
            if a.address == b.address and bench.engine != "ray":
                raise UsageError("--pair", f"{self.pair[0]} and {self.pair[1]} are one worker")
            return [(a, b)]
        if len(bench.workers) == 1 and bench.engine == "ray":
            # one Ray node: the pair is two actors (two processes) on it, over loopback
            return [(bench.workers[0], bench.workers[0])]
        if len(bench.workers) < 2:
            arg = "--local" if bench.embedded else "--scheduler"
            raise UsageError(arg, "the net workload needs at least 2 workers")
        return list(itertools.combinations(bench.workers, 2))


# --- plain TCP, both ends in worker threads -------------------------------------------------


def _recv_exact(conn: socket.socket, n: int) -> bytes | None:
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        k = conn.recv_into(view[got:])
        if k == 0:
            return None
        got += k
    return bytes(buf)


def _serve(conn: socket.socket) -> None:
    with conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        mode = _recv_exact(conn, 1)
        if mode == b"P":
            header = _recv_exact(conn, 4)
            if header is None:
                return
            (size,) = struct.unpack("!I", header)
            while (msg := _recv_exact(conn, size)) is not None:
                conn.sendall(msg)
        elif mode == b"T":
            # one preallocated buffer, no per-chunk Python work: count only (the
            # stream's content is random and need not be checked, its length must)
            total = 0
            buf = bytearray(_RECV_BUFFER)
            recv_into = conn.recv_into
            while (k := recv_into(buf)) > 0:
                total += k
            conn.sendall(struct.pack("!Q", total))


def start_tcp_server(host: str) -> int:
    """Runs on a worker: a TCP echo/sink on the worker's own address; returns the port."""
    srv = socket.create_server((host, 0), backlog=16)
    port = int(srv.getsockname()[1])
    _SERVERS[port] = srv

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = srv.accept()
                threading.Thread(target=_serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True, name=f"microrack-tcp-{port}").start()
    return port


def stop_tcp_server(port: int) -> None:
    srv = _SERVERS.pop(port, None)
    if srv is not None:
        with contextlib.suppress(OSError):
            srv.shutdown(socket.SHUT_RDWR)
        srv.close()


def tcp_pingpong(host: str, port: int, size: int, count: int) -> dict[str, Any]:
    """``count`` round trips of ``size`` bytes; latencies in ns and whether every echo matched."""
    payload = bytes((i * 7 + 1) % 256 for i in range(size))
    lat: list[int] = []
    ok = True
    with socket.create_connection((host, port)) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        conn.sendall(b"P" + struct.pack("!I", size))
        clock = time.perf_counter_ns
        for _ in range(count):
            t0 = clock()
            conn.sendall(payload)
            echo = _recv_exact(conn, size)
            lat.append(clock() - t0)
            ok = ok and echo == payload
    return {"latency_ns": lat, "echo_ok": ok}


def tcp_throughput(host: str, port: int, nbytes: int, chunk: int) -> dict[str, Any]:
    """Stream ``nbytes``; the receiver's count comes back when it has read them all.

    Like iperf3: one preallocated buffer of random bytes written ``chunk`` at a
    time with the kernel's own socket-buffer autotuning, and nothing else in the
    loop (no copies, no per-chunk checks).
    """
    buf = memoryview(os.urandom(chunk))  # incompressible, like iperf3's buffer
    full, rest = divmod(nbytes, chunk)
    with socket.create_connection((host, port)) as conn:
        conn.sendall(b"T")
        sendall = conn.sendall
        t0 = time.perf_counter()
        for _ in range(full):
            sendall(buf)
        if rest:
            sendall(buf[:rest])
        conn.shutdown(socket.SHUT_WR)
        reply = _recv_exact(conn, 8)
        seconds = time.perf_counter() - t0
    received = struct.unpack("!Q", reply)[0] if reply else 0
    return {"sent": full * chunk + rest, "received": received, "seconds": seconds}


# --- distributed.comm, both ends on the workers' event loops --------------------------------


async def start_dask_listener(host: str) -> str:
    """Runs on a worker: a distributed.comm listener that echoes pings and counts data."""
    from distributed.comm import listen
    from distributed.comm.core import CommClosedError

    async def handle(comm: Any) -> None:
        total = 0
        try:
            while True:
                msg = await comm.read()
                op = msg.get("op")
                if op == "ping":
                    await comm.write(msg)
                elif op == "data":
                    total += int(msg["payload"].nbytes)
                elif op == "done":
                    await comm.write({"received": total})
                    total = 0
                else:
                    break
        except CommClosedError:
            pass
        finally:
            await comm.close()

    listener = listen(f"tcp://{host}:0", handle, deserialize=True)
    await listener.start()
    _LISTENERS[listener.contact_address] = listener
    return str(listener.contact_address)


async def stop_dask_listener(address: str) -> None:
    listener = _LISTENERS.pop(address, None)
    if listener is not None:
        listener.stop()


async def dask_pingpong(address: str, size: int, count: int) -> dict[str, Any]:
    from distributed.comm import connect

    payload = bytes((i * 7 + 1) % 256 for i in range(size))
    comm = await connect(address)
    lat: list[int] = []
    ok = True
    clock = time.perf_counter_ns
    try:
        for _ in range(count):
            t0 = clock()
            await comm.write({"op": "ping", "payload": payload})
            echo = await comm.read()
            lat.append(clock() - t0)
            ok = ok and echo.get("payload") == payload
        await comm.write({"op": "close"})
    finally:
        await comm.close()
    return {"latency_ns": lat, "echo_ok": ok}


async def dask_throughput(address: str, nbytes: int, chunk: int) -> dict[str, Any]:
    import numpy as np
    from distributed.comm import connect
    from distributed.protocol import to_serialize

    block = np.frombuffer(os.urandom(chunk), dtype=np.uint8)
    comm = await connect(address)
    sent = 0
    try:
        t0 = time.perf_counter()
        while sent < nbytes:
            n = min(chunk, nbytes - sent)
            await comm.write({"op": "data", "payload": to_serialize(block[:n])})
            sent += n
        await comm.write({"op": "done"})
        reply = await comm.read()
        seconds = time.perf_counter() - t0
        await comm.write({"op": "close"})
    finally:
        await comm.close()
    return {"sent": sent, "received": int(reply["received"]), "seconds": seconds}


# --- all-to-all through tasks ---------------------------------------------------------------


def make_block(src: int, dst: int, nbytes: int) -> Any:
    """The block worker ``src`` sends to ``dst``: deterministic, so its CRC can be recomputed."""
    import numpy as np

    return np.random.default_rng([src, dst]).integers(0, 256, nbytes, dtype=np.uint8)


def receive_blocks(*blocks: Any) -> dict[str, int]:
    return {
        "bytes": sum(int(b.nbytes) for b in blocks),
        "crc": sum(zlib.crc32(b) for b in blocks) & 0xFFFFFFFF,
    }


def expected_all_to_all(n: int, nbytes: int) -> dict[int, int]:
    """The CRC sum each destination must report (for tests and self-checks)."""
    return {
        dst: sum(zlib.crc32(make_block(src, dst, nbytes)) for src in range(n) if src != dst)
        & 0xFFFFFFFF
        for dst in range(n)
    }


def _all_to_all(bench: BenchCluster, nbytes: int) -> dict[str, Any]:
    from distributed import wait

    c = bench.client
    ws = bench.workers
    blocks = {
        (i, j): c.submit(
            make_block, i, j, nbytes, workers=[a.address], allow_other_workers=False, pure=False
        )
        for i, a in enumerate(ws)
        for j in range(len(ws))
        if i != j
    }
    wait(list(blocks.values()))
    t0 = time.perf_counter()
    sinks = [
        c.submit(
            receive_blocks,
            *[blocks[i, j] for i in range(len(ws)) if i != j],
            workers=[b.address],
            allow_other_workers=False,
            pure=False,
        )
        for j, b in enumerate(ws)
    ]
    got = c.gather(sinks)
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "bytes": sum(g["bytes"] for g in got),
        "crc": [g["crc"] for g in got],
        "tasks": len(blocks) + len(sinks),
    }


def report_pair(
    result: WorkloadResult,
    pair: str,
    small: int,
    by_transport: dict[str, tuple[dict[str, Any], dict[str, Any]]],
) -> dict[str, list[float]]:
    """One pair's ping-pong and stream per transport (``tcp`` first, then the engine's).

    Adds ``<engine>_over_tcp_throughput`` and ``..._latency_p50``; returns the
    sampled latencies (s) per transport for the report's histograms.
    """
    samples: dict[str, list[float]] = {}
    for transport, (pp, tp) in by_transport.items():
        for q, v in percentiles(pp["latency_ns"]).items():
            result.add(
                "pingpong_latency",
                v,
                "s",
                pair=pair,
                transport=transport,
                quantile=q,
                message_bytes=small,
            )
        result.add("round_trips", len(pp["latency_ns"]), "count", pair=pair, transport=transport)
        result.add("echo_ok", pp["echo_ok"], "bool", pair=pair, transport=transport)
        result.add(
            "throughput", tp["received"] / tp["seconds"], "bytes/s", pair=pair, transport=transport
        )
        result.add("bytes_sent", tp["sent"], "bytes", pair=pair, transport=transport)
        result.add("bytes_received", tp["received"], "bytes", pair=pair, transport=transport)
        step_ = max(1, len(pp["latency_ns"]) // _SAMPLE)
        samples[transport] = [v / 1e9 for v in pp["latency_ns"][::step_]]
    for engine in by_transport:
        if engine == "tcp":
            continue
        result.add(
            f"{engine}_over_tcp_throughput",
            result.get("throughput", pair=pair, transport=engine).value
            / result.get("throughput", pair=pair, transport="tcp").value,
            "ratio",
            pair=pair,
        )
        p50 = {
            t: result.get("pingpong_latency", pair=pair, transport=t, quantile="p50").value
            for t in ("tcp", engine)
        }
        result.add(f"{engine}_over_tcp_latency_p50", p50[engine] / p50["tcp"], "ratio", pair=pair)
    return samples


def run_net(
    bench: BenchCluster, params: NetParams, step: Callable[[str], None] = lambda _: None
) -> WorkloadResult:
    """Pairwise latency and throughput over TCP and over Dask, then all-to-all."""
    if bench.engine == "ray":
        from microrack.bench.ray_engine import run_net_ray

        return run_net_ray(bench, params, step)
    result = WorkloadResult("net")
    c = bench.client
    samples: dict[str, dict[str, list[float]]] = {}
    for a, b in params.pairs(bench):
        pair = f"{a.node}-{b.node}"
        port = c.run(start_tcp_server, b.host, workers=[b.address])[b.address]
        listener = c.run(start_dask_listener, b.host, workers=[b.address])[b.address]
        try:

            def on_a(fn: Callable[..., Any], *args: Any, a: WorkerInfo = a) -> Any:
                return c.submit(
                    fn, *args, workers=[a.address], allow_other_workers=False, pure=False
                ).result()

            tcp_pp = on_a(tcp_pingpong, b.host, port, params.small, params.round_trips)
            tcp_tp = on_a(tcp_throughput, b.host, port, params.stream_bytes, params.chunk)
            dask_pp = c.run(
                dask_pingpong, listener, params.small, params.round_trips, workers=[a.address]
            )[a.address]
            dask_tp = c.run(
                dask_throughput, listener, params.stream_bytes, params.chunk, workers=[a.address]
            )[a.address]
        except OSError as exc:  # a firewall or a route between the two workers
            raise ResourceError(f"net {pair}: {a.address} -> {b.host}: {exc}") from None
        finally:
            c.run(stop_tcp_server, port, workers=[b.address])
            c.run(stop_dask_listener, listener, workers=[b.address])
        samples[pair] = report_pair(
            result, pair, params.small, {"tcp": (tcp_pp, tcp_tp), "dask": (dask_pp, dask_tp)}
        )
        step(pair)
    ata = _all_to_all(bench, params.all_to_all_bytes)
    result.add("all_to_all_throughput", ata["bytes"] / ata["seconds"], "bytes/s")
    result.add("all_to_all_bytes", ata["bytes"], "bytes")
    result.add("all_to_all_tasks", ata["tasks"], "count")
    result.details.update(
        {
            "latency_samples_s": samples,
            "all_to_all_crc": ata["crc"],
            "all_to_all_block_bytes": params.all_to_all_bytes,
            "workers": len(bench.workers),
        }
    )
    step("all-to-all")
    return result

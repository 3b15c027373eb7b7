"""microrack bench side by side with the standard tools, in one run, as ratios.

* storage: microrack's storage workload and fio (Debian) on the same directory
  with the same file size, block size, queue depth, runtime and direct-I/O
  setting: sequential write/read throughput (``rw=write``/``read``,
  ``end_fsync=1``, psync), random 4 KiB read/write IOPS at QD1 (psync) and at
  the deeper queue (libaio ``iodepth``), and latency percentiles;
* net throughput: microrack's worker-to-worker TCP stream and Dask-comm stream
  against ``iperf3`` (one stream, same byte count) on loopback;
* ping-pong latency: microrack's worker-to-worker TCP and Dask-comm round
  trips against a raw-socket floor (two bare processes, same message size).

Targets (issue 7): storage throughput and QD1 random-read IOPS within
0.8-1.25 of fio; TCP throughput at least 0.8 of iperf3's.

    .venv/bin/python benchmarks/bench_vs_tools.py --dir /var/tmp --size 1G
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from typing import Any

from microrack.bench import NetParams, StorageParams, open_cluster, parse_size
from microrack.bench.net import run_net, start_tcp_server, stop_tcp_server, tcp_throughput
from microrack.bench.storage import preflight_local, run_storage

# name, microrack (median), peer (median), median of paired ratios, unit, target
Row = tuple[str, float, float, float, str, tuple[float, float] | None]


def fio(
    args: argparse.Namespace, name: str, rw: str, bs: int, depth: int, timed: bool
) -> dict[str, Any]:
    """One fio job; returns its JSON ``jobs[0]``."""
    path = os.path.join(args.dir, "microrack-fio.dat")
    argv = [
        "fio",
        f"--name={name}",
        f"--filename={path}",
        f"--rw={rw}",
        f"--bs={bs}",
        f"--size={args.size_bytes}",
        f"--direct={int(args.direct)}",
        "--ioengine=" + ("psync" if depth == 1 else "libaio"),
        f"--iodepth={depth}",
        "--end_fsync=1",
        "--output-format=json",
        "--invalidate=1",
    ]
    if timed:
        argv += [f"--runtime={args.runtime}", "--time_based"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["jobs"][0]


def fio_phases(args: argparse.Namespace, phase: str) -> dict[str, Any]:
    """fio's jobs for one microrack phase (``seq`` is the write then the read)."""
    if phase == "seq":
        # a fresh file, as microrack's is: overwriting the previous pair's already
        # allocated file would spare fio the block allocation microrack pays for
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(args.dir, "microrack-fio.dat"))
        return {
            "seq_write": fio(args, "seqw", "write", args.block_bytes, 1, False)["write"],
            "seq_read": fio(args, "seqr", "read", args.block_bytes, 1, False)["read"],
        }
    kind, qd = phase.split("_qd")
    side = "read" if kind == "randread" else "write"
    return {phase: fio(args, phase, kind, 4096, int(qd), True)[side]}


def fio_p(job: dict[str, Any], q: str) -> float:
    return float(job["clat_ns"]["percentile"][q]) / 1e9


def raw_echo(port_q: Any, size: int) -> None:
    srv = socket.create_server(("127.0.0.1", 0))
    port_q.put(srv.getsockname()[1])
    conn, _ = srv.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    with conn:
        while True:
            buf = b""
            while len(buf) < size:
                chunk = conn.recv(size - len(buf))
                if not chunk:
                    return
                buf += chunk
            conn.sendall(buf)


def raw_client(port: int, size: int, count: int, out: Any) -> None:
    lat = []
    msg = b"x" * size
    with socket.create_connection(("127.0.0.1", port)) as c:
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(count):
            t0 = time.perf_counter_ns()
            c.sendall(msg)
            got = 0
            while got < size:
                got += len(c.recv(size - got))
            lat.append(time.perf_counter_ns() - t0)
    out.put(statistics.median(lat) / 1e9)


def raw_floor(size: int, count: int) -> float:
    """Median round trip between two bare Python processes on loopback.

    Both ends are fresh processes: this one hosts the Dask scheduler, whose
    threads would otherwise share the GIL with the measuring loop.
    """
    ctx = multiprocessing.get_context("spawn")
    q: Any = ctx.Queue()
    server = ctx.Process(target=raw_echo, args=(q, size))
    server.start()
    port = q.get(timeout=60)
    client = ctx.Process(target=raw_client, args=(port, size, count, q))
    client.start()
    median = float(q.get(timeout=300))
    client.join(10)
    server.join(10)
    return median


def iperf3(nbytes: int, chunk: int) -> float:
    """Receiver-side rate of one iperf3 stream over loopback, in bytes/s."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _attempt in range(20):
            time.sleep(0.5)  # no probe connection: iperf3 would take it for a test
            out = subprocess.run(
                [
                    "iperf3",
                    "-c",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-n",
                    str(nbytes),
                    "-l",
                    str(chunk),
                    "-J",
                ],
                capture_output=True,
                text=True,
            )
            data = json.loads(out.stdout or "{}")
            if out.returncode == 0 and "sum_received" in data.get("end", {}):
                return float(data["end"]["sum_received"]["bits_per_second"]) / 8
        raise RuntimeError(f"iperf3 failed: {data.get('error', out.stderr)}")
    finally:
        server.terminate()
        server.wait(5)


def stream_pairs(n: int, nbytes: int, chunk: int) -> tuple[list[float], list[float]]:
    """``n`` back-to-back pairs: microrack's worker-to-worker TCP stream and iperf3.

    Both run while the same idle two-worker cluster is up (so both see the same
    background), the order alternates pair by pair (ABBA: a drifting load hits both
    sides alike), and every microrack stream must arrive complete.
    """
    mine: list[float] = []
    peers: list[float] = []
    with open_cluster(None, local=2) as bench:
        a, b = bench.workers
        port = bench.client.run(start_tcp_server, b.host, workers=[b.address])[b.address]
        try:
            for i in range(n):
                for side in ("mine", "iperf3") if i % 2 == 0 else ("iperf3", "mine"):
                    if side == "iperf3":
                        peers.append(iperf3(nbytes, chunk))
                        continue
                    r = bench.call(a, tcp_throughput, b.host, port, nbytes, chunk)
                    if r["received"] != r["sent"] or r["sent"] != nbytes:
                        raise RuntimeError(f"stream lost bytes: {r}")
                    mine.append(r["received"] / r["seconds"])
                print(
                    f"  stream pair {i + 1}/{n}: microrack {mine[-1] / 2**20:.0f} MiB/s, "
                    f"iperf3 {peers[-1] / 2**20:.0f} MiB/s",
                    flush=True,
                )
        finally:
            bench.client.run(stop_tcp_server, port, workers=[b.address])
    return mine, peers


def storage_rows(args: argparse.Namespace, rows: list[Row]) -> bool:
    """microrack's storage workload against fio, phase by phase; returns whether I/O was direct."""
    sp = StorageParams(
        directory=os.path.abspath(args.dir),
        size=args.size_bytes,
        block_size=args.block_bytes,
        queue_depth=args.queue_depth,
        direct=args.direct,
        runtime=args.runtime,
    )
    preflight_local(sp)
    args.size_bytes = sp.file_size()
    print(
        f"storage: {sp.directory} size={args.size_bytes} bs={args.block_bytes} "
        f"qd={args.queue_depth} direct={args.direct} runtime={args.runtime}s",
        flush=True,
    )
    # Phase by phase, microrack then fio, --repeat times: a noisy neighbour hits both
    # sides of a pair, and the ratio shown is the median of the paired ratios.
    groups = [
        "seq",
        *(f"{k}_qd{qd}" for k in ("randread", "randwrite") for qd in sorted({1, args.queue_depth})),
    ]
    pairs: dict[str, list[tuple[Any, dict[str, Any]]]] = {g: [] for g in groups}
    fio_file = os.path.join(args.dir, "microrack-fio.dat")
    try:
        with open_cluster(None, local=1) as bench:
            for group in groups:
                only = replace(sp, random_phases=() if group == "seq" else (group,))
                for _ in range(args.repeat):
                    pairs[group].append((run_storage(bench, only), fio_phases(args, group)))
    finally:
        if os.path.exists(fio_file):
            os.unlink(fio_file)

    def pair_row(
        group: str, name: str, mine: Any, peer: Any, unit: str, target: tuple[float, float] | None
    ) -> Row:
        ms = [float(mine(st)) for st, _ in pairs[group]]
        ps = [float(peer(ff)) for _, ff in pairs[group]]
        return (
            name,
            statistics.median(ms),
            statistics.median(ps),
            statistics.median(m / p for m, p in zip(ms, ps, strict=True)),
            unit,
            target,
        )

    for phase in ("seq_write", "seq_read"):
        rows.append(
            pair_row(
                "seq",
                f"{phase} throughput",
                lambda st, ph=phase: st.get(f"{ph}_throughput").value,
                lambda ff, ph=phase: ff[ph]["bw_bytes"],
                "bytes/s",
                (0.8, 1.25),
            )
        )
    for group in groups[1:]:
        kind, qd = group.split("_qd")
        target = (0.8, 1.25) if group == "randread_qd1" else None
        rows.append(
            pair_row(
                group,
                f"{kind} 4k QD{qd}",
                lambda st, k=kind, q=qd: st.get(f"{k}_iops", qd=q).value,
                lambda ff, g=group: ff[g]["iops"],
                "iops",
                target,
            )
        )
    for group in ("randread_qd1", "randwrite_qd1"):
        for q, fq in (("p50", "50.000000"), ("p99", "99.000000")):
            rows.append(
                pair_row(
                    group,
                    f"{group} latency {q}",
                    lambda st, g=group, q=q: st.get("latency", phase=g, quantile=q).value,
                    lambda ff, g=group, fq=fq: fio_p(ff[g], fq),
                    "s",
                    None,
                )
            )
    return bool(pairs["seq"][0][0].get("direct_io").value == 1)


def net_rows(args: argparse.Namespace, npar: NetParams, rows: list[Row]) -> None:
    """The net workload against iperf3 and a raw-socket floor; then the stream pairs."""
    print(
        f"net: loopback, stream {npar.stream_bytes} bytes in {npar.chunk}-byte writes, "
        f"{npar.round_trips} round trips of {npar.small} bytes",
        flush=True,
    )
    small = npar.small
    nets, ips, floors = [], [], []
    for _ in range(args.repeat):
        # the cluster is closed while the peers run: its heartbeats would disturb them
        with open_cluster(None, local=2) as bench:
            nets.append(run_net(bench, npar))
        ips.append(iperf3(npar.stream_bytes, npar.chunk))
        floors.append(raw_floor(small, args.round_trips))
    pair = "node0-node1"

    def net_row(
        name: str,
        metric: str,
        peers: list[float],
        unit: str,
        target: tuple[float, float] | None,
        **labels: str,
    ) -> Row:
        ms = [r.get(metric, pair=pair, **labels).value for r in nets]
        return (
            name,
            statistics.median(ms),
            statistics.median(peers),
            statistics.median(m / p for m, p in zip(ms, peers, strict=True)),
            unit,
            target,
        )

    rows.append(
        net_row(
            "TCP in the net workload vs iperf3", "throughput", ips, "bytes/s", None, transport="tcp"
        )
    )
    rows.append(
        net_row(
            "Dask comm throughput vs iperf3", "throughput", ips, "bytes/s", None, transport="dask"
        )
    )
    for transport in ("tcp", "dask"):
        rows.append(
            net_row(
                f"{transport} ping-pong p50 vs raw socket",
                "pingpong_latency",
                floors,
                "s",
                None,
                transport=transport,
                quantile="p50",
            )
        )

    mine, peers = stream_pairs(args.stream_pairs, npar.stream_bytes, npar.chunk)
    rows.append(
        (
            f"TCP stream vs iperf3 ({args.stream_pairs} pairs)",
            statistics.median(mine),
            statistics.median(peers),
            statistics.median(m / p for m, p in zip(mine, peers, strict=True)),
            "bytes/s",
            (0.8, float("inf")),
        )
    )


def fmt(v: float, unit: str) -> str:
    if unit == "bytes/s":
        return f"{v / 2**20:10.1f} MiB/s"
    if unit == "iops":
        return f"{v:10.0f} IOPS "
    return f"{v * 1e6:10.1f} µs   "


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", default="/var/tmp")
    p.add_argument(
        "--size",
        default="1G",
        help="long enough that the sequential phases are not dominated by start-up noise",
    )
    p.add_argument("--block-size", default="1M")
    p.add_argument("--queue-depth", type=int, default=16)
    p.add_argument("--runtime", type=float, default=5.0)
    io = p.add_mutually_exclusive_group()
    io.add_argument("--direct", dest="direct", action="store_true", default=True)
    io.add_argument("--buffered", dest="direct", action="store_false")
    p.add_argument("--stream-size", default="1G")
    p.add_argument("--message-size", default="64")
    p.add_argument("--round-trips", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=3, help="interleaved pairs; medians shown")
    p.add_argument(
        "--stream-pairs",
        type=int,
        default=9,
        help="back-to-back TCP stream/iperf3 pairs for the throughput target",
    )
    p.add_argument(
        "--only",
        choices=("all", "storage", "net"),
        default="all",
        help="run only the storage comparisons or only the net ones",
    )
    p.add_argument("--json", help="write the pairs and ratios here")
    args = p.parse_args()
    args.size_bytes = parse_size(args.size, "--size")
    args.block_bytes = parse_size(args.block_size, "--block-size")
    for tool in ("fio", "iperf3"):
        if shutil.which(tool) is None:
            print(
                f"bench_vs_tools: {tool} is not installed (Debian package {tool})", file=sys.stderr
            )
            return 1

    rows: list[Row] = []
    direct = args.direct
    if args.only in ("all", "storage"):
        direct = storage_rows(args, rows)
    small = parse_size(args.message_size, "--message-size")
    npar = NetParams(
        pair=("node0", "node1"),
        small=small,
        round_trips=args.round_trips,
        stream_bytes=parse_size(args.stream_size, "--stream-size"),
        all_to_all_bytes=1 << 20,
    )
    if args.only in ("all", "net"):
        net_rows(args, npar, rows)

    print(f"\n{'measurement':40} {'microrack':>16} {'peer tool':>16} {'ratio':>7}  target")
    print(f"{'(medians of ' + str(args.repeat) + ' interleaved pairs)':40}")
    ok = True
    out = []
    for name, mine, peer, ratio, unit, target in rows:
        verdict = ""
        if target is not None:
            hit = target[0] <= ratio <= target[1]
            ok = ok and hit
            hi = "" if target[1] == float("inf") else f"-{target[1]}"
            verdict = f"{target[0]}{hi} {'ok' if hit else 'MISSED'}"
        print(f"{name:40} {fmt(mine, unit):>16} {fmt(peer, unit):>16} {ratio:7.3f}  {verdict}")
        out.append(
            {
                "name": name,
                "microrack": mine,
                "peer": peer,
                "unit": unit,
                "ratio": ratio,
                "target": target,
            }
        )
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"rows": out, "direct": direct, "repeat": args.repeat}, fh, indent=1)
    print("\nall targets met" if ok else "\nsome targets missed (see MISSED)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``microrack bench {cpu,storage,net,mixed,all} | compare A.json B.json``."""

from __future__ import annotations

import argparse
import importlib.util
import os

from microrack.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("workload", help="cpu, storage, net, mixed, all, or compare")
    parser.add_argument("files", nargs="*", help="for compare: A.json B.json")
    eng = parser.add_argument_group("engine")
    where = eng.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="tcp://HOST:8786",
                       help="run on this Dask scheduler; every worker is a node")
    where.add_argument("--local", type=int, default=2, metavar="N",
                       help="start a LocalCluster of N worker processes (default 2)")
    eng.add_argument("--threads", type=int, default=1, help="threads per local worker (default 1)")
    eng.add_argument("--engine", choices=("dask", "ray"), default="dask")
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="write every number with its unit")
    out.add_argument("--report", metavar="FILE.html", help="write an HTML page of plots")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    st = parser.add_argument_group("storage (fio's meaning)")
    st.add_argument("--dir", default=".", help="directory of the test file (default: .)")
    st.add_argument("--size", default="256M", help="test file size (default 256M)")
    st.add_argument("--block-size", default="1M", help="sequential block size (default 1M)")
    st.add_argument("--queue-depth", type=int, default=16,
                    help="deeper queue for random I/O (QD1 always runs too; default 16)")
    io = st.add_mutually_exclusive_group()
    io.add_argument("--direct", dest="direct", action="store_const", const=True, default=None,
                    help="O_DIRECT, error if the filesystem refuses (default: where allowed)")
    io.add_argument("--buffered", dest="direct", action="store_const", const=False,
                    help="through the page cache")
    st.add_argument("--runtime", type=float, default=5.0,
                    help="seconds per random-I/O phase (default 5)")
    nt = parser.add_argument_group("net")
    nt.add_argument("--pair", metavar="A,B", help="only this pair of nodes (node0,node1 or "
                                                  "worker addresses)")
    nt.add_argument("--message-size", default="64", help="ping-pong message size (default 64)")
    nt.add_argument("--round-trips", type=int, default=2000, help="ping-pong count (default 2000)")
    nt.add_argument("--stream-size", default="256M", help="bytes per throughput test (256M)")
    nt.add_argument("--exchange-size", default="8M", help="all-to-all block per pair (8M)")
    cp = parser.add_argument_group("cpu and mixed")
    cp.add_argument("--cpu-elements", type=int, default=1 << 20,
                    help="integer lanes per task (default 1048576)")
    cp.add_argument("--matrix", type=int, default=512, help="matmul size n (default 512)")
    cp.add_argument("--width", type=int, default=12, help="mixed graph width (default 12)")


def _positive(value: int, argument: str) -> int:
    if value < 1:
        raise UsageError(argument, f"{value} must be at least 1")
    return value


def run(args: argparse.Namespace) -> int:
    from microrack.bench import (
        CpuParams,
        MixedParams,
        NetParams,
        StorageParams,
        SuiteOptions,
        parse_size,
        report,
        resolve_workloads,
        run_suite,
    )

    if args.workload == "compare":
        if len(args.files) != 2:
            raise UsageError("compare", "needs exactly two files: A.json B.json")
        a = report.load_run(args.files[0], "A.json")
        b = report.load_run(args.files[1], "B.json")
        report.print_compare(report.compare_runs(a, b), args.files[0], args.files[1])
        return 0
    workloads = resolve_workloads(args.workload)
    if args.files:
        raise UsageError("workload", f"unexpected extra arguments {' '.join(args.files)}")
    if args.engine == "ray":
        if importlib.util.find_spec("ray") is None:
            raise UsageError("--engine", "ray is not installed (pip install 'microrack[ray]')")
        raise UsageError("--engine", "the Ray engine is not implemented yet; use --engine dask")
    pair = None
    if args.pair:
        parts = [p.strip() for p in args.pair.split(",")]
        if len(parts) != 2 or not all(parts):
            raise UsageError("--pair", f"{args.pair!r}: expected A,B")
        pair = (parts[0], parts[1])
    storage = StorageParams(
        directory=os.path.abspath(args.dir),
        size=parse_size(args.size, "--size"),
        block_size=parse_size(args.block_size, "--block-size"),
        queue_depth=_positive(args.queue_depth, "--queue-depth"),
        direct=args.direct,
        runtime=args.runtime if args.runtime > 0 else _positive(0, "--runtime"),
    )
    opts = SuiteOptions(
        workloads=workloads,
        scheduler=args.scheduler,
        local=_positive(args.local, "--local"),
        threads=_positive(args.threads, "--threads"),
        cpu=CpuParams(int_elements=_positive(args.cpu_elements, "--cpu-elements"),
                      matrix=_positive(args.matrix, "--matrix")),
        storage=storage,
        net=NetParams(pair=pair, small=parse_size(args.message_size, "--message-size"),
                      round_trips=_positive(args.round_trips, "--round-trips"),
                      stream_bytes=parse_size(args.stream_size, "--stream-size"),
                      all_to_all_bytes=parse_size(args.exchange_size, "--exchange-size")),
        mixed=MixedParams(width=_positive(args.width, "--width")),
        progress=not args.no_progress,
    )
    result = run_suite(opts)
    report.print_summary(result)
    if args.json:
        report.write_json(result, args.json)
    if args.report:
        report.write_html(result, args.report)
    return 0

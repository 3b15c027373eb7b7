"""``microrack bench {cpu,storage,net,mixed,all} | compare A.json B.json``."""

from __future__ import annotations

import argparse
import importlib.util
import sys

from microrack.cli._paths import check_output
from microrack.errors import UsageError


def configure(parser: argparse.ArgumentParser) -> None:
    # Defaults are None so that a --profile value applies unless the flag is given;
    # the real defaults live in microrack.bench.profile.DEFAULTS.
    parser.add_argument("workload", help="cpu, storage, net, mixed, all, or compare")
    parser.add_argument("files", nargs="*", help="for compare: A.json B.json")
    parser.add_argument(
        "--profile",
        metavar="FILE.yaml",
        help="settings from a file (examples/bench-*.yaml); flags win",
    )
    eng = parser.add_argument_group("engine")
    where = eng.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler",
        metavar="tcp://HOST:8786",
        help="run on this Dask scheduler; every worker is a node",
    )
    where.add_argument(
        "--local",
        type=int,
        metavar="N",
        help="start a LocalCluster of N worker processes (default 2)",
    )
    eng.add_argument("--threads", type=int, help="threads per local worker (default 1)")
    eng.add_argument(
        "--engine",
        choices=("dask", "ray"),
        default="dask",
        help="dask (default) or ray (every workload; pip install "
        "'microrack[ray]'); with ray, --scheduler is the Ray address",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--json", metavar="FILE", help="write every number with its unit")
    out.add_argument("--report", metavar="FILE.html", help="write an HTML page of plots")
    out.add_argument("--no-progress", action="store_true", help="no progress bars")
    out.add_argument("--force", action="store_true", help="replace --json/--report files")
    st = parser.add_argument_group("storage (fio's meaning)")
    st.add_argument("--dir", help="directory of the test file (default: .)")
    st.add_argument("--size", help="test file size (default 256M)")
    st.add_argument("--block-size", help="sequential block size (default 1M)")
    st.add_argument(
        "--queue-depth",
        type=int,
        help="deeper queue for random I/O (QD1 always runs too; default 16)",
    )
    io = st.add_mutually_exclusive_group()
    io.add_argument(
        "--direct",
        dest="direct",
        action="store_const",
        const=True,
        help="O_DIRECT, error if the filesystem refuses (default: where allowed)",
    )
    io.add_argument(
        "--buffered",
        dest="direct",
        action="store_const",
        const=False,
        help="through the page cache",
    )
    st.add_argument("--runtime", type=float, help="seconds per random-I/O phase (default 5)")
    nt = parser.add_argument_group("net")
    nt.add_argument(
        "--pair", metavar="A,B", help="only this pair of nodes (node0,node1 or worker addresses)"
    )
    nt.add_argument("--message-size", help="ping-pong message size (default 64)")
    nt.add_argument("--round-trips", type=int, help="ping-pong count (default 2000)")
    nt.add_argument("--stream-size", help="bytes per throughput test (default 256M)")
    nt.add_argument("--exchange-size", help="all-to-all block per pair (default 8M)")
    cp = parser.add_argument_group("cpu and mixed")
    cp.add_argument("--cpu-elements", type=int, help="integer lanes per task (default 1048576)")
    cp.add_argument("--matrix", type=int, help="matmul size n (default 512)")
    cp.add_argument("--width", type=int, help="mixed graph width (default 12)")


def run(args: argparse.Namespace) -> int:
    from microrack.bench import report, resolve_workloads, run_suite
    from microrack.bench.profile import resolve_settings, suite_options
    from microrack.bench.suite import engine_workloads

    if args.workload == "compare":
        if len(args.files) != 2:
            raise UsageError("compare", "needs exactly two files: A.json B.json")
        a = report.load_run(args.files[0], "A.json")
        b = report.load_run(args.files[1], "B.json")
        rows = report.compare_runs(a, b)
        if not rows:
            raise UsageError(
                "compare",
                f"{args.files[0]} ({', '.join(a.results) or 'empty'}) "
                f"and {args.files[1]} ({', '.join(b.results) or 'empty'})"
                " have no measurement in common",
            )
        report.print_compare(rows, args.files[0], args.files[1])
        return 0
    workloads = resolve_workloads(args.workload)
    if args.files:
        raise UsageError("workload", f"unexpected extra arguments {' '.join(args.files)}")
    if args.engine == "ray" and importlib.util.find_spec("ray") is None:
        raise UsageError("--engine", "ray is not installed (pip install 'microrack[ray]')")
    chosen = engine_workloads(args.engine, workloads, explicit=args.workload != "all")
    if chosen != workloads:
        skipped = ", ".join(w for w in workloads if w not in chosen)
        print(
            f"microrack bench: the {args.engine} engine does not run {skipped}; skipped",
            file=sys.stderr,
        )
    workloads = chosen
    for path, argument in ((args.json, "--json"), (args.report, "--report")):
        if path:
            report.check_writable(path, argument)
            check_output(argument, path, force=args.force, inputs=[args.profile])
    settings = resolve_settings(vars(args), args.profile)
    opts = suite_options(workloads, settings, progress=not args.no_progress)
    opts.engine = args.engine
    result = run_suite(opts)
    report.print_summary(result)
    if args.json:
        report.write_json(result, args.json)
    if args.report:
        report.write_html(result, args.report)
    return 0

"""``microrack demo``: simulated agents with fan control and a hub, on loopback."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from microrack.errors import UsageError

if TYPE_CHECKING:
    from microrack.demo import Demo

MAX_NODES = 100


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--nodes", type=int, default=4, help="simulated nodes (default 4)")
    parser.add_argument(
        "--boards",
        default="pi4b,rk1,pi5,vf2",
        help="board ids or aliases, used in turn (default %(default)s)",
    )
    parser.add_argument(
        "--listen",
        default="127.0.0.1:8080",
        metavar="HOST:PORT",
        help="where the hub's dashboard listens (default %(default)s)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this long (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--no-hub", action="store_true", help="no hub: the live summary in this terminal only"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=10.0,
        metavar="X",
        help="twin seconds per real second (default %(default)s)",
    )


def _listen(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError("--listen", f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def run(args: argparse.Namespace) -> int:
    from microrack.demo import Demo, Story, running
    from microrack.demo._live import render, status_line

    if not 1 <= args.nodes <= MAX_NODES:
        raise UsageError(
            "--nodes", f"expected 1 to {MAX_NODES} (one agent process each), got {args.nodes}"
        )
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration", f"must be positive, got {args.duration:g}")
    if not 0 < args.speed <= 1000:
        raise UsageError("--speed", f"expected 0 < X <= 1000, got {args.speed:g}")
    boards = [b.strip() for b in args.boards.split(",") if b.strip()]
    if not boards:
        raise UsageError("--boards", "name at least one board")
    host, port = _listen(args.listen)
    demo = Demo(
        nodes=args.nodes,
        boards=boards,
        listen=(host, port),
        duration=args.duration,
        story=Story(speed=args.speed),
        use_hub=False if args.no_hub else None,
    )
    out = sys.stdout
    try:
        with running(demo):
            out.write(
                f"microrack demo: {len(demo.nodes)} simulated nodes, twin speed x{args.speed:g}\n"
            )
            if demo.hub is not None:
                out.write(f"  dashboard: http://{host}:{port}/  (hub pid {demo.hub.pid})\n")
            else:
                out.write("  no hub: live summary in this terminal only\n")
            for n in demo.nodes:
                pid = n.proc.pid if n.proc else 0
                out.write(
                    f"  agent {n.name} pid {pid} http://127.0.0.1:{n.port}/metrics"
                    f"{'  (' + n.role + ')' if n.role else ''}\n"
                )
            out.write(f"  workdir {demo.workdir} (removed at exit)\n")
            out.write(_script_text(demo) + "Ctrl-C stops everything.\n")
            out.flush()
            _loop(demo, render, status_line)
    except KeyboardInterrupt:
        out.write("stopping\n")
    out.write("microrack demo: stopped every process it started\n")
    for n in demo.nodes:
        out.write(
            f"  {n.name}: peak {n.peak_c:.1f} °C, boots {n.boots}"
            f"{'  (' + n.role + ')' if n.role else ''}\n"
        )
    if demo.raised:
        out.write(
            "  alerts raised: "
            + ", ".join(
                f"{rule} {node} at {t:.0f} s"
                for (rule, node), t in sorted(demo.raised.items(), key=lambda kv: kv[1])
            )
            + "\n"
        )
    out.flush()
    return 0


def _script_text(demo: Demo) -> str:
    """What the default script will do, in real seconds, so the newcomer knows what to watch."""
    s, nodes = demo.story, demo.nodes
    lines = [
        f"script: load ramps {s.idle_util:.0%} -> {s.busy_util:.0%} on every node "
        f"over {s.ramp_s:g} s"
    ]
    lines.append(
        f"  at {s.stall_at_s:g} s {nodes[0].name}'s fan stalls for {s.stall_for_s:g} s: "
        "it heats, throttles, and FanStalled / Throttling fire"
    )
    if len(nodes) > 1:
        lines.append(
            f"  at {s.crash_at_s:g} s {nodes[1].name} crashes (NodeDown); at "
            f"{s.crash_at_s + s.crash_for_s:g} s it boots again with a new boot id"
        )
    return "\n".join(lines) + "\n"


def _loop(demo: Demo, render: Callable[[Demo], Any], status_line: Callable[[Demo], str]) -> None:
    from rich.console import Console
    from rich.live import Live

    console = Console()
    end = None if demo.duration is None else demo.duration
    if console.is_terminal:
        with Live(render(demo), console=console, refresh_per_second=2) as live:
            while end is None or demo.elapsed < end:
                demo.tick()
                live.update(render(demo))
                time.sleep(1.0)
        return
    last = -10.0
    while end is None or demo.elapsed < end:
        demo.tick()
        if demo.elapsed - last >= 5:
            last = demo.elapsed
            print(status_line(demo), flush=True)
        time.sleep(1.0)

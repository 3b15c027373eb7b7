"""The rendered monitoring stack, end to end, on three namespaced "nodes".

Each namespace runs a microrack agent started from the command line of its
rendered systemd unit (on the hardware twin); the monitoring node runs the real
Prometheus with the rendered ``prometheus.yml``.  Every target must come up,
and every query of the rendered Grafana dashboard must return data.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest
from spec_cases import write

from microrack.spec import load_spec
from microrack.spec.render import render_to
from support import NetNS, require_binary, started

pytestmark = [pytest.mark.integration, pytest.mark.netns]

SUBNET = 62
BOARDS = {"node-a": "rpi-5", "node-b": "turing-rk1", "mon": "rpi-4b"}

# Runs in the monitoring namespace: wait for every target, then run each query.
QUERY = r"""
import json, sys, time, urllib.parse, urllib.request
base, want, exprs = sys.argv[1], int(sys.argv[2]), json.loads(sys.argv[3])
def q(expr):
    url = base + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)["data"]["result"]
deadline = time.monotonic() + 120
up = []
while time.monotonic() < deadline:
    try:
        up = q('up{job="microrack-agent"} == 1')
        if len(up) == want and all(q(e) for e in exprs):
            break
    except OSError:
        pass
    time.sleep(1)
print(json.dumps({"up": sorted(s["metric"]["node"] for s in up),
                  "results": {e: len(q(e)) for e in exprs}}))
"""


def _spec(ns: NetNS) -> dict:
    nodes = []
    for i, (name, board) in enumerate(BOARDS.items()):
        nodes.append(
            {
                "name": name,
                "board": board,
                "ram_gb": 8,
                "roles": ["control-plane", "monitoring"] if name == "mon" else ["worker"],
                "fan": name == "node-a",
                "nics": [
                    {
                        "name": "eth0",
                        "mac": f"02:6d:72:3e:00:0{i + 1}",
                        "network": "lan",
                        "address": ns.addresses[i],
                    }
                ],
            }
        )
    return {
        "cluster": {"name": "live-prom", "domain": "prom.lab.internal"},
        "networks": [{"name": "lan", "kind": "infrastructure", "cidr": f"198.18.{SUBNET}.0/24"}],
        "nodes": nodes,
        "agent": {"command": str(Path(sys.executable).parent / "microrack"), "interval_s": 1},
    }


def _exec_start(unit: Path) -> list[str]:
    line = next(x for x in unit.read_text().splitlines() if x.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_rendered_prometheus_scrapes_rendered_agents(tmp_path: Path) -> None:
    prometheus = require_binary("prometheus")
    with NetNS(3, subnet=SUBNET, prefix="mrpr") as ns, ExitStack() as stack:
        out = tmp_path / "out"
        render_to(load_spec(write(tmp_path, _spec(ns))), out)
        for i, (name, board) in enumerate(BOARDS.items()):
            argv = _exec_start(out / f"systemd/{name}/microrack-agent.service")
            assert argv[1] == "agent" and argv[argv.index("--board") + 1] == board
            assert argv[argv.index("--listen") + 1] == f"0.0.0.0:{9101}"
            argv += ["--simulate", board, "--seed", str(i)]
            if name == "node-a":
                argv += ["--fan", "auto"]
            stack.enter_context(started(ns.exec_argv(i, argv), tmp_path / f"agent-{name}.log"))
        mon = 2
        web = f"{ns.addresses[mon]}:9090"
        prom = stack.enter_context(
            started(
                ns.exec_argv(
                    mon,
                    [
                        prometheus,
                        f"--config.file={out / 'prometheus/prometheus.yml'}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address={web}",
                    ],
                ),
                tmp_path / "prometheus.log",
            )
        )
        board = json.loads((out / "grafana/microrack-dashboard.json").read_text())
        exprs = [t["expr"].replace("$node", ".*") for p in board["panels"] for t in p["targets"]]
        r = subprocess.run(
            ns.exec_argv(
                mon, [sys.executable, "-c", QUERY, f"http://{web}", "3", json.dumps(exprs)]
            ),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert r.returncode == 0, r.stderr + prom.output()[-3000:]
        got = json.loads(r.stdout)
    assert got["up"] == sorted(BOARDS), got
    empty = [e for e, n in got["results"].items() if n == 0]
    assert not empty, f"dashboard queries without data: {empty}"

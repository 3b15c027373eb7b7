"""``microrack chaos run|stop`` against real agents on loopback (captured /sys trees)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest
import yaml

from faults.chaos_support import agent_argv, call, copy_tree, poll, write_token
from hub.hub_helpers import hub
from support import free_port, microrack_cmd, started

ROOT = Path(__file__).resolve().parents[2]
CPU0 = "sys/devices/system/cpu/cpu0/cpufreq/scaling_max_freq"


def _spec(tmp: Path, chaos: dict[str, object] | None = None) -> Path:
    doc = yaml.safe_load((ROOT / "examples" / "cluster-pi2-5.yaml").read_text())
    for node in doc["nodes"][:2]:
        node["chaos"] = chaos or {"allow": ["throttle", "crash"], "units": ["web.service"]}
    out = tmp / "cluster.yaml"
    out.write_text(yaml.safe_dump(doc))
    return out


def _names(spec: Path) -> list[str]:
    return [n["name"] for n in yaml.safe_load(spec.read_text())["nodes"]]


def _scenario(tmp: Path, text: str) -> Path:
    p = tmp / "scenario.yaml"
    p.write_text(text)
    return p


def _chaos(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        microrack_cmd("chaos", *args), capture_output=True, text=True, timeout=timeout, check=False
    )


def test_dry_run_lists_every_request_and_command_without_a_token(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    a, b = _names(spec)[:2]
    sc = _scenario(
        tmp_path,
        f"""
duration: 60
faults:
  - {{at: 5, duration: 20, kind: throttle, node: {a}, max_pct: 40}}
  - {{at: 10, duration: 5, kind: crash, node: {b}}}
""",
    )
    p = _chaos("run", str(sc), "--spec", str(spec), "--dry-run", "--json")
    assert p.returncode == 0, p.stderr
    reqs = json.loads(p.stdout)["requests"]
    assert [(r["node"], r["kind"], r["at_s"], r["duration_s"]) for r in reqs] == [
        (a, "throttle", 5, 20),
        (b, "crash", 10, 5),
    ]
    assert reqs[1]["params"] == {"target": "web.service"}  # the node's one unit
    assert any("scaling_max_freq" in c for c in reqs[0]["commands"])
    assert any("systemctl stop web.service" in c for c in reqs[1]["commands"])
    text = _chaos("run", str(sc), "--spec", str(spec), "--dry-run")
    assert text.returncode == 0 and "t+5s for 20s" in text.stdout


@pytest.mark.parametrize(
    ("fault", "where"),
    [
        ("{at: 1, kind: throttle, node: NODE2, max_pct: 50}", "cluster.yaml: nodes[2].chaos:"),
        ("{at: 1, kind: pressure, node: NODE0, cpu: 1}", "cluster.yaml: nodes[0].chaos.allow:"),
        (
            "{at: 1, kind: crash, node: NODE0, target: sshd.service}",
            "scenario.yaml: faults[0].target:",
        ),
        ("{at: 1, kind: sensor_fail, node: NODE0}", "scenario.yaml: faults[0].kind:"),
        ("{at: 1, kind: power_cycle, node: NODE0}", "cluster.yaml: nodes[0].bmc:"),
        ("{at: 90, kind: throttle, node: NODE0, max_pct: 50}", "scenario.yaml: faults[0].at:"),
        ("{at: 1, kind: throttle, node: nope, max_pct: 50}", "scenario.yaml: faults[0].node:"),
    ],
)
def test_a_scenario_the_cluster_cannot_run_is_one_error_naming_file_and_field(
    tmp_path: Path, fault: str, where: str
) -> None:
    spec = _spec(tmp_path)
    names = _names(spec)
    for i, n in enumerate(names):
        fault = fault.replace(f"NODE{i}", n)
    sc = _scenario(tmp_path, f"duration: 60\nfaults:\n  - {fault}\n")
    p = _chaos("run", str(sc), "--spec", str(spec), "--dry-run")
    assert p.returncode == 1 and p.stdout == ""
    assert len(p.stderr.strip().splitlines()) == 1 and where in p.stderr, p.stderr


def test_the_spec_renders_the_chaos_flags_into_the_agent_unit(tmp_path: Path) -> None:
    from microrack.spec import load_spec
    from microrack.spec.render._systemd import agent_unit

    spec = load_spec(
        _spec(
            tmp_path,
            {
                "allow": ["throttle", "disk_fill"],
                "units": ["podman:web"],
                "fill_dir": "/var/tmp/fill",
                "max_lease_s": 600,
            },
        )
    )
    unit = agent_unit(spec, spec.nodes[0])
    line = next(x for x in unit.splitlines() if x.startswith("ExecStart="))
    assert (
        "--chaos-token ${CREDENTIALS_DIRECTORY}/chaos.token --chaos-allow throttle,disk_fill "
        "--chaos-unit podman:web --chaos-fill-dir /var/tmp/fill --chaos-max-lease 600"
    ) in line
    assert "--chaos" not in agent_unit(spec, spec.nodes[2])


@contextmanager
def _agents(tmp: Path, names: list[str]) -> Iterator[tuple[list[str], list[Path], Path]]:
    tok = tmp / "token"
    write_token(tok)
    flags, roots = [], []
    with ExitStack() as stack:
        for k, name in enumerate(names):
            root = copy_tree("rpi4b", tmp / f"root{k}")
            port = free_port()
            argv = agent_argv(
                f"127.0.0.1:{port}",
                root,
                name,
                tmp / f"state{k}.json",
                token=tok,
                allow=["throttle"],
            )
            stack.enter_context(started(argv, tmp / f"agent{k}.log", wait=("127.0.0.1", port)))
            flags += ["--agent", f"{name}=http://127.0.0.1:{port}"]
            roots.append(root)
        yield flags, roots, tok


@pytest.mark.integration
def test_run_applies_on_time_and_reverts_and_a_killed_run_is_reverted_by_the_agent(
    tmp_path: Path,
) -> None:
    spec = _spec(tmp_path, {"allow": ["throttle"]})
    a, b = _names(spec)[:2]
    with _agents(tmp_path, [a, b]) as (flags, roots, tok):
        orig = [(r / CPU0).read_text() for r in roots]
        sc = _scenario(
            tmp_path,
            f"""
name: cap
duration: 4
faults:
  - {{at: 0.5, duration: 2, kind: throttle, nodes: [{a}, {b}], max_pct: 50}}
""",
        )
        hub_port = free_port()
        with hub(
            tmp_path / "hub.log", tmp_path / "h.db", "--chaos-token", str(tok), port=hub_port
        ) as (_proc, hub_url):
            p = _chaos(
                "run",
                str(sc),
                "--spec",
                str(spec),
                "--token",
                str(tok),
                "--json",
                "--hub",
                hub_url,
                "--probe",
                f"hubhealth={hub_url}/healthz",
                *flags,
            )
            assert p.returncode == 0, p.stderr
            assert "warning" not in p.stderr
            marks = call("127.0.0.1", hub_port, None, "GET", "/api/v1/annotations")[1]
        rep = json.loads(p.stdout)
        rec = rep["run"]
        probe = rep["groups"][0]
        assert probe["group"] == "hubhealth" and probe["measured_available"] is True
        assert probe["predicted_available"] is None and probe["agree"] is None
        node_a = next(n for n in rep["nodes"] if n["name"] == a)
        assert node_a["faults"] == ["throttle"] and node_a["predicted_throttled_s"] > 0
        assert sorted(m["nodes"][0] for m in marks["annotations"]) == sorted([a, b])
        assert all(
            m["kind"] == "throttle" and m["run"] == rec["run_id"] for m in marks["annotations"]
        )
        assert {f["node"] for f in rec["faults"]} == {a, b}
        assert all(f["error"] is None and f["commands"] for f in rec["faults"])
        assert [(r / CPU0).read_text() for r in roots] == orig
        # killed mid-fault (SIGKILL: no chance to clean up): the agent's lease ends it
        sc.write_text(
            sc.read_text()
            .replace("duration: 4", "duration: 60")
            .replace("duration: 2,", "duration: 3,")
        )
        proc = subprocess.Popen(
            [
                *microrack_cmd("chaos", "run", str(sc), "--spec", str(spec), "--token", str(tok)),
                *flags,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            poll(lambda: (roots[0] / CPU0).read_text() != orig[0], what="the cap")
            os.kill(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        poll(lambda: [(r / CPU0).read_text() for r in roots] == orig, what="the agent's revert")
        # SIGTERM mid-fault: the command reverts at once and says so
        sc.write_text(sc.read_text().replace("duration: 3,", "duration: 50,"))
        proc = subprocess.Popen(
            [
                *microrack_cmd("chaos", "run", str(sc), "--spec", str(spec), "--token", str(tok)),
                *flags,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            poll(lambda: (roots[1] / CPU0).read_text() != orig[1], what="the cap")
            os.kill(proc.pid, signal.SIGTERM)
            out, _err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 130 and "every fault was reverted" in out
        assert [(r / CPU0).read_text() for r in roots] == orig
        # stop: nothing left, every node answers
        p = _chaos("stop", "--spec", str(spec), "--token", str(tok), "--json", *flags)
        assert p.returncode == 0, p.stdout + p.stderr
        assert json.loads(p.stdout)["nodes"][a]["reverted"] == []

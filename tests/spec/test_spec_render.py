"""Rendered files, each checked by the real tool that reads it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import spec_cases
import yaml
from spec_cases import base, write

from microrack.spec import load_spec
from microrack.spec.render import MANIFEST, PANELS, EditedFiles, render, render_to
from support import microrack_cmd, missing, require_binary

EXAMPLES = spec_cases.examples()
VENV_BIN = Path(sys.executable).parent


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    # stdin from /dev/null: Ansible refuses a non-blocking stdin (a backgrounded run).
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,  # type: ignore[call-overload]
        stdin=subprocess.DEVNULL,
        **kw,
    )


@pytest.fixture(scope="module", params=EXAMPLES, ids=lambda p: p.name)
def rendered(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An example rendered by the CLI, with the agent command pointing at this venv
    (so that systemd-analyze finds an executable)."""
    data = yaml.safe_load(request.param.read_text())
    data.setdefault("agent", {})["command"] = str(VENV_BIN / "microrack")
    tmp = tmp_path_factory.mktemp(request.param.stem)
    spec = write(tmp, data)
    out = tmp / "out"
    r = _run(microrack_cmd("spec", "render", str(spec), "--out", str(out), "--json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["files"]
    return out


def test_dnsmasq_test_accepts(rendered: Path) -> None:
    dnsmasq = require_binary("dnsmasq", "/usr/sbin/dnsmasq")
    r = _run([dnsmasq, "--test", "-C", str(rendered / "dnsmasq.conf")])
    assert r.returncode == 0 and "syntax check OK" in r.stderr, r.stderr


def test_promtool_accepts_prometheus_yml(rendered: Path) -> None:
    promtool = require_binary("promtool")
    r = _run([promtool, "check", "config", str(rendered / "prometheus/prometheus.yml")])
    assert r.returncode == 0, r.stdout + r.stderr


def test_ansible_inventory_lists_every_node(rendered: Path) -> None:
    exe = shutil.which("ansible-inventory", path=str(VENV_BIN)) or shutil.which("ansible-inventory")
    if exe is None:
        missing("ansible-inventory (PyPI ansible-core)")
    inv = rendered / "ansible/inventory.yaml"
    r = _run(
        [str(exe), "-i", str(inv), "--list"], env={**os.environ, "ANSIBLE_HOME": str(rendered)}
    )
    assert r.returncode == 0, r.stderr
    assert "[WARNING]" not in r.stderr, r.stderr
    listed = json.loads(r.stdout)
    manifest = json.loads((rendered / MANIFEST).read_text())
    hostvars = listed["_meta"]["hostvars"]
    units = {p.split("/")[1] for p in manifest["files"] if p.startswith("systemd/")}
    assert set(hostvars) == units
    for name, hv in hostvars.items():
        assert hv["ansible_host"].startswith("198.1"), name
        for role in hv["microrack_roles"]:
            assert name in listed[role.replace("-", "_")]["hosts"]


def test_systemd_analyze_verifies_units(rendered: Path) -> None:
    tool = require_binary("systemd-analyze")
    units = sorted(rendered.glob("systemd/*/*.service"))
    assert units
    # One node per call: the unit names repeat across nodes.
    for node_dir in sorted({u.parent for u in units}):
        r = _run([tool, "verify", *map(str, sorted(node_dir.glob("*.service")))])
        assert r.returncode == 0, f"{node_dir.name}: {r.stdout}{r.stderr}"
        assert "microrack" not in r.stderr, r.stderr  # no warnings about our units


def test_kubernetes_validate_accepts_manifests(rendered: Path) -> None:
    exe = shutil.which("kubernetes-validate", path=str(VENV_BIN))
    if exe is None:
        missing("kubernetes-validate (PyPI)")
    r = _run([exe, "--strict", str(rendered / "kubernetes/microrack-agent.yaml")])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("passed") + r.stderr.count("passed") == 3


def test_k3s_configs(rendered: Path) -> None:
    configs = {p.stem: yaml.safe_load(p.read_text()) for p in rendered.glob("k3s/*.yaml")}
    if not configs:
        return
    servers = [c for c in configs.values() if "cluster-cidr" in c or "service-cidr" in c]
    first = [c for c in configs.values() if "server" not in c]
    assert len(first) == 1, "exactly one node bootstraps the cluster"
    joined = {c["server"] for c in configs.values() if "server" in c}
    assert joined <= {f"https://{first[0]['node-ip']}:6443"}
    if len(servers) > 1:
        assert first[0].get("cluster-init") is True
    for c in configs.values():
        assert c["node-label"][0].startswith("microrack.io/board=")


def test_dashboard_queries_parse_with_promtool(rendered: Path, tmp_path: Path) -> None:
    """Every PromQL expression in the dashboard is valid (promtool parses it as a rule)."""
    promtool = require_binary("promtool")
    board = json.loads((rendered / "grafana/microrack-dashboard.json").read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(exprs) == sum(1 + len(p.extra) for p in PANELS)
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "node"}
    # The JSON is Grafana's dashboard model: it decodes into the SDK's types and back unchanged.
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    model = Dashboard.from_json(board)
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == board
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"microrack:panel{i}", "expr": e.replace("$node", ".*")}
                    for i, e in enumerate(exprs)
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules))
    r = _run([promtool, "check", "rules", str(path)])
    assert r.returncode == 0, r.stdout + r.stderr


def test_dashboard_has_the_sbc_panels(rendered: Path) -> None:
    """Temperatures with limits, fan duty and rpm together, a throttle timeline, NVMe."""
    board = json.loads((rendered / "grafana/microrack-dashboard.json").read_text())
    panels = {p["title"]: p for p in board["panels"]}
    temps = panels["Temperatures and throttle limits"]
    exprs = [t["expr"] for t in temps["targets"]]
    assert any("node_thermal_zone_temp" in e for e in exprs)
    assert any("group_left (chip_name) node_hwmon_chip_names" in e for e in exprs)
    assert any("microrack_throttle_limit_celsius" in e for e in exprs)
    (limit,) = [o for o in temps["fieldConfig"]["overrides"] if o["matcher"]["options"] == "C"]
    assert {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}} in limit[
        "properties"
    ]
    fans = panels["Fan duty and speed"]
    assert [t["legendFormat"] for t in fans["targets"]] == [
        "{{node}} {{fan}} duty",
        "{{node}} {{fan}} rpm",
    ]
    (rpm,) = fans["fieldConfig"]["overrides"]
    assert {"id": "custom.axisPlacement", "value": "right"} in rpm["properties"]
    assert {"id": "unit", "value": "rotrpm"} in rpm["properties"]
    timeline = panels["Throttling, under-voltage, frequency cap (now)"]
    assert timeline["type"] == "state-timeline"
    assert 'when="now"' in timeline["targets"][0]["expr"]
    for title, unit in (
        ("NVMe latency per I/O", "s"),
        ("NVMe queue depth", "none"),
        ("NVMe IOPS", "iops"),
        ("NVMe temperature", "celsius"),
    ):
        assert panels[title]["fieldConfig"]["defaults"]["unit"] == unit, title
        assert all("nvme" in t["expr"] for t in panels[title]["targets"]), title


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_render_is_deterministic(path: Path) -> None:
    spec = load_spec(path)
    assert render(spec) == render(load_spec(path))


def test_render_is_byte_identical_across_processes(tmp_path: Path) -> None:
    """Two processes with different hash seeds (set and dict order) write the same bytes."""
    trees = []
    for seed in ("1", "2"):
        out = tmp_path / f"out-{seed}"
        r = _run(
            microrack_cmd(
                "spec", "render", str(EXAMPLES[0].parent / "cluster-pi4-13.yaml"), "--out", str(out)
            ),
            env={**os.environ, "PYTHONHASHSEED": seed},
        )
        assert r.returncode == 0, r.stderr
        trees.append({p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()})
    assert len(trees[0]) > 10 and trees[0] == trees[1]


def test_hosts_and_dnsmasq_name_every_nic(tmp_path: Path) -> None:
    spec = load_spec(spec_cases.EXAMPLES / "cluster-rv2-3.yaml")
    files = render(spec)
    hosts = files["hosts"].decode()
    conf = files["dnsmasq.conf"].decode()
    for node in spec.nodes:
        for nic in node.nics:
            assert f"dhcp-host={nic.mac},{nic.address}," in conf
            assert f"{nic.address}\t" in hosts
    assert "198.18.33.11\trv2-1-mgmt.rv.lab.internal rv2-1-mgmt" in hosts


def test_edited_file_is_kept_without_force(tmp_path: Path) -> None:
    spec_path = write(tmp_path, base())
    out = tmp_path / "out"
    spec = load_spec(spec_path)
    first = render_to(spec, out)
    assert "dnsmasq.conf" in first
    assert render_to(spec, out) == []  # nothing changed, nothing rewritten
    edited = out / "hosts"
    edited.write_text(edited.read_text() + "198.18.0.99\tby-hand\n")
    data = base()
    data["nodes"][0]["name"] = "renamed"
    write(tmp_path, data)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    with pytest.raises(EditedFiles) as info:
        render_to(load_spec(spec_path), out)
    assert info.value.paths == ["hosts"]
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    r = _run(microrack_cmd("spec", "render", str(spec_path), "--out", str(out)))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "hosts" in r.stderr and "--force" in r.stderr
    written = render_to(load_spec(spec_path), out, force=True)
    assert "hosts" in written and "by-hand" not in edited.read_text()
    assert not (out / "systemd/n1").exists()  # the old node's units went with it
    assert (out / "systemd/renamed/microrack-agent.service").exists()


def _line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_bad_spec_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    render_to(load_spec(write(tmp_path, base())), out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    data = base()
    data["nodes"][1]["nics"][0]["mac"] = "bad"
    path = write(tmp_path, data)
    r = _run(microrack_cmd("spec", "render", str(path), "--out", str(out)))
    assert r.returncode == 1
    assert r.stderr.strip() == (
        f"microrack spec: error: {path}: nodes[1].nics[0].mac: 'bad' is not a MAC address "
        f"(expected six hex pairs, e.g. 02:00:c6:12:00:01) (line {_line_of(path, 'mac: bad')})"
    )
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_schema_cli_describes_the_model(tmp_path: Path) -> None:
    r = _run(microrack_cmd("spec", "schema"))
    assert r.returncode == 0, r.stderr
    schema = json.loads(r.stdout)
    assert set(schema["required"]) == {"cluster", "networks", "nodes"}
    import jsonschema

    for path in EXAMPLES:
        jsonschema.validate(yaml.safe_load(path.read_text()), schema)
    bad = yaml.safe_load(EXAMPLES[0].read_text())
    bad["nodes"][0]["roles"] = ["captain"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_hosts_file_resolves_through_the_system_resolver(tmp_path: Path) -> None:
    """glibc's resolver reads the rendered file as /etc/hosts (in a private mount namespace)."""
    unshare = require_binary("unshare")
    require_binary("getent")
    if os.geteuid() != 0:
        missing("root (mount namespace)")
    spec = load_spec(spec_cases.EXAMPLES / "cluster-rv2-3.yaml")
    hosts = tmp_path / "hosts"
    hosts.write_bytes(render(spec)["hosts"])
    names = [f"{n.name}.{spec.cluster.domain}" for n in spec.nodes] + ["rv2-2-mgmt"]
    script = f"mount --bind {hosts} /etc/hosts && getent hosts {' '.join(names)}"
    r = _run([unshare, "--mount", "sh", "-c", script])
    assert r.returncode == 0, r.stderr
    got = {line.split()[1]: line.split()[0] for line in r.stdout.splitlines()}
    assert got == {
        "rv2-1.rv.lab.internal": "198.18.32.11",
        "rv2-2.rv.lab.internal": "198.18.32.12",
        "rv2-3.rv.lab.internal": "198.18.32.13",
        "rv2-2-mgmt.rv.lab.internal": "198.18.33.12",
    }


def test_unwritable_out_is_one_line(tmp_path: Path) -> None:
    """--out under a file (or any path that cannot be created) names --out, no traceback."""
    spec = write(tmp_path, base())
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me\n")
    for argv, shown in (
        (["render", str(spec), "--out", str(blocker / "out")], str(blocker / "out")),
        (["schema", "--out", str(blocker / "schema.json")], str(blocker / "schema.json")),
    ):
        r = _run(microrack_cmd("spec", *argv))
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("microrack spec: error: --out: "), r.stderr
        assert shown in lines[0] and "Not a directory" in lines[0]
    assert blocker.read_text() == "keep me\n"

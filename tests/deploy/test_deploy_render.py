"""The deployment files `spec render` writes: units, playbook, DaemonSets, Talos patches."""

from __future__ import annotations

import copy
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import spec_cases
import yaml
from spec_cases import base, write

from microrack import __version__
from microrack.errors import ConfigError
from microrack.spec import ClusterSpec, load_spec
from microrack.spec.render import render
from microrack.spec.render._kubernetes import node_labels
from support import missing

EXAMPLES = spec_cases.examples()
VENV_BIN = Path(sys.executable).parent


def _unit(text: str) -> dict[str, list[str]]:
    """``Key -> [values]`` of a unit file (sections merged; keys are distinct here)."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def _spec(data: dict[str, Any]) -> ClusterSpec:
    return ClusterSpec.model_validate(data)


def _files(path: Path) -> dict[str, bytes]:
    return render(load_spec(path))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_units_notify_watchdog_and_restart_limits(path: Path) -> None:
    spec = load_spec(path)
    files = render(spec)
    for node in spec.nodes:
        agent = _unit(files[f"systemd/{node.name}/microrack-agent.service"].decode())
        assert agent["Type"] == ["notify"]
        assert int(agent["WatchdogSec"][0]) >= 4 * spec.agent.interval_s
        assert agent["StartLimitBurst"] and agent["StartLimitIntervalSec"]
        assert shlex.split(agent["ExecStart"][0])[0] == "/usr/local/bin/microrack"
        fan_path = f"systemd/{node.name}/microrack-fan.service"
        assert (fan_path in files) == node.fan
        if node.fan:
            fan = _unit(files[fan_path].decode())
            assert fan["Type"] == ["notify"] and fan["WatchdogSec"]
            start = shlex.split(fan["ExecStart"][0])
            # The same arguments, plus --failsafe: runs after SIGKILL too.
            assert shlex.split(fan["ExecStopPost"][0]) == [*start, "--failsafe"]


def test_hub_unit_on_the_hub_node_pulls_every_agent(tmp_path: Path) -> None:
    data = base()
    data["nodes"][1]["roles"] = [*data["nodes"][1].get("roles", []), "hub"]
    spec = _spec(data)
    files = render(spec)
    hubs = [p for p in files if p.endswith("microrack-hub.service")]
    assert hubs == [f"systemd/{spec.nodes[1].name}/microrack-hub.service"]
    argv = shlex.split(_unit(files[hubs[0]].decode())["ExecStart"][0])
    assert argv[1] == "hub"
    agents = [argv[i + 1] for i, a in enumerate(argv) if a == "--agent"]
    assert agents == [f"{n.address}:{n.agent_port}" for n in spec.nodes]
    inv = yaml.safe_load(files["ansible/inventory.yaml"])["all"]["hosts"]
    assert inv[spec.nodes[1].name]["microrack_install"] == "venv"
    assert "microrack-hub.service" in inv[spec.nodes[1].name]["microrack_units"]
    assert inv[spec.nodes[0].name]["microrack_install"] == "pyz"


def test_image_default_is_local_and_versioned_and_used_by_every_daemonset() -> None:
    spec = _spec(base())
    assert spec.agent.image == "localhost/microrack:" + __version__.replace("+", "-")
    data = base()
    data["agent"] = {"image": "registry.lab:5000/tools/microrack:1.2.3"}
    data["nodes"][0]["fan"] = True
    files = render(_spec(data))
    docs = [
        d
        for f in ("kubernetes/microrack-agent.yaml", "kubernetes/microrack-fan.yaml")
        for d in yaml.safe_load_all(files[f])
    ]
    images = {
        c["image"]
        for d in docs
        if d["kind"] == "DaemonSet"
        for c in d["spec"]["template"]["spec"]["containers"]
    }
    assert images == {"registry.lab:5000/tools/microrack:1.2.3"}


@pytest.mark.parametrize("image", ["UPPER/case:1", "a b", "x:tag with space", "", "-x", "a:"])
def test_bad_image_names_the_field(image: str, tmp_path: Path) -> None:
    from support import microrack_cmd

    data = base()
    data["agent"] = {"image": image}
    spec = write(tmp_path, data)
    r = subprocess.run(
        microrack_cmd("spec", "validate", str(spec)),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1
    assert "agent.image" in r.stdout + r.stderr


def _daemonsets(files: dict[str, bytes]) -> list[dict[str, Any]]:
    return [
        d
        for p, data in files.items()
        if p.startswith("kubernetes/")
        for d in yaml.safe_load_all(data)
        if d and d["kind"] == "DaemonSet"
    ]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_daemonsets_mount_only_what_they_need(path: Path) -> None:
    spec = load_spec(path)
    files = render(spec)
    sets = {d["metadata"]["name"]: d for d in _daemonsets(files)}
    assert "microrack-device-plugin" not in sets  # no example names a fan device
    agent = sets.pop("microrack-agent")["spec"]["template"]["spec"]
    (c,) = agent["containers"]
    assert {v["hostPath"]["path"] for v in agent["volumes"]} == {"/proc", "/sys", "/run/udev"}
    assert all(m["readOnly"] for m in c["volumeMounts"])
    assert agent["securityContext"]["runAsNonRoot"] is True
    boards = {n.board for n in spec.nodes if n.fan}
    assert {
        s["spec"]["template"]["spec"]["nodeSelector"]["microrack.io/board"] for s in sets.values()
    } == boards
    for s in sets.values():
        pod = s["spec"]["template"]["spec"]
        assert not pod.get("hostPID") and not pod.get("hostNetwork") and not pod.get("hostIPC")
        assert pod["nodeSelector"]["microrack.io/fan"] == "true"
        (fan,) = pod["containers"]
        assert fan["args"][:2] == ["fan", "--board"]
        assert fan["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert not fan["securityContext"].get("privileged")
        assert fan["securityContext"]["readOnlyRootFilesystem"] is True
        assert _host_paths(pod) == {"/sys": True, "/sys/devices/platform": False}
    # The selectors match the labels the k3s configs and Talos patches give the nodes.
    for node in spec.nodes:
        (kube,) = _talos(files, node.name)["KubeNodeConfig"]
        labels = kube["labels"]
        assert labels["microrack.io/board"] == node.board
        assert (labels.get("microrack.io/fan") == "true") == node.fan


def _host_paths(pod: dict[str, Any]) -> dict[str, bool]:
    """``host path -> mounted read-only`` of a pod's one container."""
    (c,) = pod["containers"]
    volumes = {v["name"]: v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v}
    return {
        volumes[m["name"]]: bool(m.get("readOnly"))
        for m in c["volumeMounts"]
        if m["name"] in volumes
    }


#: Fan nodes and the devices their fan controller needs (None: an hwmon fan only).
FAN_NODES = {"n1": "i2c-10", "n2": "gpiochip0.i2c-1", "n4": "i2c-10", "n5": None}


def _selects(daemonset: dict[str, Any], labels: dict[str, str]) -> bool:
    """Whether a node with ``labels`` matches the pod's nodeSelector and required affinity
    (In, NotIn, Exists, DoesNotExist: what the scheduler evaluates)."""
    pod = daemonset["spec"]["template"]["spec"]
    if any(labels.get(k) != v for k, v in pod.get("nodeSelector", {}).items()):
        return False
    required = (
        pod.get("affinity", {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if required is None:
        return True

    def holds(e: dict[str, Any]) -> bool:
        op, key = e["operator"], e["key"]
        return {
            "In": lambda: labels.get(key) in e["values"],
            "NotIn": lambda: labels.get(key) not in e["values"],
            "Exists": lambda: key in labels,
            "DoesNotExist": lambda: key not in labels,
        }[op]()

    return any(all(holds(e) for e in t["matchExpressions"]) for t in required["nodeSelectorTerms"])


def _device_spec() -> ClusterSpec:
    data = base()
    for i in (4, 5, 6):  # three more boards on the second switch, no power over Ethernet
        node = copy.deepcopy(data["nodes"][2])
        node.update(name=f"n{i}", roles=["ceph-osd"], fan=False)
        node["nics"][0].update(mac=f"02:00:00:00:00:0{i}", address=f"198.18.0.1{i}", port=i)
        data["nodes"].append(node)
    for node in data["nodes"]:
        node["fan"] = False
        device = FAN_NODES.get(node["name"])
        if node["name"] in FAN_NODES:
            node["fan"] = True
        if device is not None:
            node.setdefault("labels", {})["microrack.io/fan-device"] = device
    return _spec(data)


def _fan_docs(spec: ClusterSpec) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(render(spec)["kubernetes/microrack-fan.yaml"]) if d]


def test_fan_pods_get_exactly_their_nodes_devices_through_the_device_plugin() -> None:
    spec = _device_spec()
    assert len(spec.nodes) > len(FAN_NODES)  # some nodes have no fan at all
    docs = _fan_docs(spec)
    assert {d["kind"] for d in docs} == {"DaemonSet"}
    sets = {d["metadata"]["name"]: d for d in docs}
    plugin = sets.pop("microrack-device-plugin")["spec"]["template"]["spec"]
    (pc,) = plugin["containers"]
    assert pc["args"][:2] == ["--domain", "squat.ai"]
    offered = [
        json.loads(v)
        for k, v in zip(pc["args"][2::2], pc["args"][3::2], strict=True)
        if k == "--device"
    ]
    assert len(offered) * 2 + 2 == len(pc["args"])
    # One resource per device, each exactly one host path: nothing broader is offered.
    assert offered == [
        {"name": d, "groups": [{"count": 1, "paths": [{"path": f"/dev/{d}"}]}]}
        for d in ("gpiochip0", "i2c-1", "i2c-10")
    ]
    assert all("*" not in json.dumps(o) for o in offered)
    (term,) = plugin["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term == {"matchExpressions": [{"key": "microrack.io/fan-device", "operator": "Exists"}]}
    # Each fan node is selected by exactly one fan DaemonSet, which requests its
    # devices and no other; none is privileged, none mounts /dev.
    labels = {n.name: node_labels(n) for n in spec.nodes}
    for node, device in FAN_NODES.items():
        chosen = [s for s in sets.values() if _selects(s, labels[node])]
        assert len(chosen) == 1, node
        pod = chosen[0]["spec"]["template"]["spec"]
        (fan,) = pod["containers"]
        wanted = set(device.split(".")) if device else set()
        limits = fan["resources"]["limits"]
        assert {k.removeprefix("squat.ai/") for k in limits if k.startswith("squat.ai/")} == wanted
        assert all(limits[f"squat.ai/{d}"] == 1 for d in wanted)
        assert fan["securityContext"]["privileged"] is False
        assert fan["securityContext"]["capabilities"] == {"drop": ["ALL"]}
        assert fan["securityContext"]["allowPrivilegeEscalation"] is False
        assert not any(p == "/dev" or p.startswith("/dev/") for p in _host_paths(pod))
        assert _host_paths(pod) == {"/sys": True, "/sys/devices/platform": False}
    for name, s in sets.items():
        assert any(_selects(s, labels[n]) for n in FAN_NODES), f"{name} selects no fan node"
    # Nodes without a fan get no fan DaemonSet and no device plugin.
    plugin_set = {"spec": {"template": {"spec": plugin}}}
    for node in spec.nodes:
        wanted = node.name in FAN_NODES
        assert any(_selects(s, labels[node.name]) for s in sets.values()) == wanted
        assert _selects(plugin_set, labels[node.name]) == bool(FAN_NODES.get(node.name))


@pytest.mark.parametrize(
    ("value", "fan", "needle"),
    [
        ("i2c-1.i2c-1", True, "names a device twice"),
        ("spidev0.0", True, "'spidev0'"),
        ("i2c-01", True, "'i2c-01'"),
        ("ttyS0", True, "expected i2c-N or gpiochipN"),
        ("i2c-1", False, "the node has no fan"),
        (".".join(f"i2c-{i}" for i in range(12)), True, "longer than a label's 63"),
    ],
)
def test_a_bad_fan_device_label_is_refused_naming_the_node(
    value: str, fan: bool, needle: str
) -> None:
    data = base()
    data["nodes"][0]["fan"] = fan
    data["nodes"][0].setdefault("labels", {})["microrack.io/fan-device"] = value
    spec = _spec(data)
    with pytest.raises(ConfigError) as err:
        render(spec)
    assert f"nodes.{spec.nodes[0].name}.labels.microrack.io/fan-device" in str(err.value)
    assert needle in str(err.value)


def test_kubernetes_validate_accepts_the_device_plugin_and_fan_sets(tmp_path: Path) -> None:
    exe = shutil.which("kubernetes-validate", path=str(VENV_BIN))
    if exe is None:
        missing("kubernetes-validate (PyPI)")
    target = tmp_path / "microrack-fan.yaml"
    target.write_bytes(render(_device_spec())["kubernetes/microrack-fan.yaml"])
    r = subprocess.run(
        [exe, "--strict", str(target)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    docs = len([d for d in yaml.safe_load_all(target.read_text()) if d])
    assert (r.stdout + r.stderr).count("passed") == docs


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_kubernetes_validate_accepts_the_daemonsets(path: Path, tmp_path: Path) -> None:
    exe = shutil.which("kubernetes-validate", path=str(VENV_BIN))
    if exe is None:
        missing("kubernetes-validate (PyPI)")
    files = _files(path)
    paths = []
    for rel in ("kubernetes/microrack-agent.yaml", "kubernetes/microrack-fan.yaml"):
        if rel in files:
            target = tmp_path / Path(rel).name
            target.write_bytes(files[rel])
            paths.append(str(target))
    r = subprocess.run(
        [exe, "--strict", *paths],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    docs = sum(len(list(yaml.safe_load_all(Path(p).read_text()))) for p in paths)
    assert (r.stdout + r.stderr).count("passed") == docs


#: The fields each Talos document may carry here, and those it must (Talos' config.schema.json).
TALOS_FIELDS = {
    "HostnameConfig": ({"hostname"}, {"hostname", "auto"}),
    "LinkConfig": ({"name"}, {"name", "up", "mtu", "addresses", "routes", "multicast"}),
    "ResolverConfig": (set(), {"nameservers", "searchDomains", "hostDNS"}),
    "KubeNodeConfig": (set(), {"labels", "annotations", "taints", "nodeIP"}),
    "KernelModuleConfig": ({"name"}, {"name", "parameters"}),
}


def _talos(files: dict[str, bytes], node: str) -> dict[str, list[dict[str, Any]]]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for doc in yaml.safe_load_all(files[f"talos/{node}.yaml"]):
        assert doc["apiVersion"] == "v1alpha1"
        required, allowed = TALOS_FIELDS[doc["kind"]]
        fields = set(doc) - {"apiVersion", "kind"}
        assert required <= fields <= allowed, doc
        by_kind.setdefault(doc["kind"], []).append(doc)
    return by_kind


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_talos_patch_structure(path: Path) -> None:
    """Talos publishes its machine-config JSON schema only in its source tree (no
    installable package): the documents are checked against its field names here."""
    spec = load_spec(path)
    files = render(spec)
    for node in spec.nodes:
        docs = _talos(files, node.name)
        assert [d["hostname"] for d in docs["HostnameConfig"]] == [node.name]
        links = docs["LinkConfig"]
        assert [d["name"] for d in links] == [n.name for n in node.nics]
        for link, nic in zip(links, node.nics, strict=True):
            (addr,) = link["addresses"]
            assert set(addr) == {"address"} and addr["address"].split("/")[0] == str(nic.address)
            for route in link.get("routes", []):
                assert set(route) <= {"destination", "gateway"} and route["gateway"]
        for resolver in docs.get("ResolverConfig", []):
            assert all(set(ns) == {"address"} for ns in resolver["nameservers"])
        (kube,) = docs["KubeNodeConfig"]
        assert all(isinstance(v, str) for v in kube["labels"].values())
        modules = [d["name"] for d in docs.get("KernelModuleConfig", [])]
        assert modules == (["i2c-dev"] if node.fan else [])


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_playbook_passes_ansible_syntax_check(path: Path, tmp_path: Path) -> None:
    exe = shutil.which("ansible-playbook", path=str(VENV_BIN))
    if exe is None:
        missing("ansible-playbook (PyPI ansible-core)")
    out = tmp_path / "out"
    for rel, data in _files(path).items():
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(data)
    env = {**os.environ, "ANSIBLE_HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path)}
    r = subprocess.run(
        [
            exe,
            "--syntax-check",
            "-i",
            str(out / "ansible/inventory.yaml"),
            str(out / "ansible/playbook.yaml"),
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[WARNING]" not in r.stderr, r.stderr
    listed = subprocess.run(
        [
            exe,
            "--list-tasks",
            "-i",
            str(out / "ansible/inventory.yaml"),
            str(out / "ansible/playbook.yaml"),
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=300,
        env=env,
    )
    assert listed.returncode == 0, listed.stderr
    assert "the units are enabled and running" in listed.stdout


def test_render_json_lists_deploy_files(tmp_path: Path) -> None:
    from support import microrack_cmd

    data = base()
    data["nodes"][0]["fan"] = True
    spec = write(tmp_path, data)
    r = subprocess.run(
        microrack_cmd("spec", "render", str(spec), "--out", str(tmp_path / "o"), "--json"),
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    files = set(json.loads(r.stdout)["files"])
    assert {
        "ansible/playbook.yaml",
        "kubernetes/microrack-fan.yaml",
        f"talos/{data['nodes'][0]['name']}.yaml",
    } <= files


def test_build_refuses_to_overwrite_and_names_bad_flags(tmp_path: Path) -> None:
    from support import microrack_cmd

    out = tmp_path / "agent.pyz"
    out.write_text("a user's file")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            microrack_cmd("build", "agent", *args),
            capture_output=True,
            stdin=subprocess.DEVNULL,
            text=True,
            timeout=120,
        )

    r = run("--out", str(out))
    assert r.returncode == 2 and "--out" in r.stderr and "--force" in r.stderr
    assert out.read_text() == "a user's file"
    r = run("--out", str(tmp_path / "x.pyz"), "--arch", "sparc")
    assert r.returncode == 2 and "--arch" in r.stderr and "'sparc'" in r.stderr
    r = run("--out", str(tmp_path / "x.pyz"), "--python", "2.7")
    assert r.returncode == 2 and "--python" in r.stderr
    r = run("--out", str(tmp_path))
    assert r.returncode == 2 and "directory" in r.stderr
    assert not (tmp_path / "x.pyz").exists()


def test_the_playbook_lays_down_every_unit_rendered_for_a_node() -> None:
    """NFS mount units included: each file under systemd/<node>/ is one the playbook installs."""
    from microrack.spec import load_spec

    seen_mount = False
    examples = Path(__file__).resolve().parents[2] / "examples"
    for example in sorted(examples.glob("cluster-*.yaml")):
        files = render(load_spec(example))
        hosts = yaml.safe_load(files["ansible/inventory.yaml"])["all"]["hosts"]
        for name, host in hosts.items():
            rendered = sorted(
                p.rsplit("/", 1)[1] for p in files if p.startswith(f"systemd/{name}/")
            )
            assert sorted(host["microrack_units"]) == rendered, (example.name, name)
            seen_mount = seen_mount or any(u.endswith(".mount") for u in rendered)
    assert seen_mount, "no example renders an NFS mount unit"


def _pip_argv(tmp_path: Path, host_vars: dict[str, str]) -> list[str]:
    """The venv's pip command line as Ansible itself templates it for a host's variables."""
    exe = shutil.which("ansible", path=str(VENV_BIN))
    if exe is None:
        missing("ansible (PyPI ansible-core)")
    (play,) = yaml.safe_load(render(_spec(base()))["ansible/playbook.yaml"])
    (task,) = [t for t in play["tasks"] if t["name"] == "the wheel and its extras in the venv"]
    argv = task["ansible.builtin.command"]["argv"]
    env = {
        **os.environ,
        "ANSIBLE_HOME": str(tmp_path),
        "ANSIBLE_LOCAL_TEMP": str(tmp_path),
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "json",
        "ANSIBLE_NOCOLOR": "1",
    }
    extra = {"microrack_render": "/site/ansible/..", **host_vars}
    r = subprocess.run(
        [
            exe,
            "-i",
            "localhost,",
            "localhost",
            "-c",
            "local",
            "-m",
            "ansible.builtin.debug",
            "-a",
            json.dumps({"msg": argv}),
            "-e",
            json.dumps(extra),
        ],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    msg = json.loads(r.stdout.split("=>", 1)[1])["msg"]
    assert isinstance(msg, list) and all(isinstance(a, str) for a in msg), msg
    return msg


def test_the_venv_install_takes_a_hosts_extras_and_wheelhouse(tmp_path: Path) -> None:
    wheel = f"/opt/microrack-dist/microrack-{__version__}-py3-none-any.whl"
    head = [
        "/opt/microrack/bin/pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--force-reinstall",
    ]
    # Defaults: the hub's extras, from the index.
    assert _pip_argv(tmp_path, {}) == [*head, f"{wheel}[fan,hub]"]
    # A host's own variables win (they are not shadowed by play vars).
    offline = _pip_argv(tmp_path, {"microrack_extras": "", "microrack_wheelhouse": "/w"})
    assert offline == [*head, wheel, "--no-index", "--find-links", "/opt/microrack-dist/wheelhouse"]
    other = _pip_argv(
        tmp_path,
        {"microrack_extras": "config", "microrack_wheel": "/x/microrack-9-py3-none-any.whl"},
    )
    assert other == [*head, "/opt/microrack-dist/microrack-9-py3-none-any.whl[config]"]
    (play,) = yaml.safe_load(render(_spec(base()))["ansible/playbook.yaml"])
    assert set(play["vars"]) == {"microrack_render"}


def test_fan_daemonset_names_stay_distinct_and_valid_for_long_device_sets() -> None:
    data = base()
    long_sets = [
        "gpiochip10.gpiochip11.gpiochip12.i2c-100.i2c-101",
        "gpiochip10.gpiochip11.gpiochip12.i2c-100.i2c-102",
    ]
    for node, value in zip(data["nodes"][:2], long_sets, strict=True):
        node["fan"] = True
        node["labels"] = {"microrack.io/fan-device": value}
    names = [
        d["metadata"]["name"]
        for d in _fan_docs(_spec(data))
        if d["metadata"]["name"] != "microrack-device-plugin"
    ]
    assert len(names) == len(set(names)) == 2, names
    assert all(len(n) <= 63 and n[-1].isalnum() for n in names), names

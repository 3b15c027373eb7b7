"""The agent's unit when a node allows faults: exactly the rights each kind needs, checked by
systemd-analyze; the crash kind's polkit rule evaluated by a real JavaScript engine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from spec_cases import base, write

from microrack.spec import load_spec
from microrack.spec.render import render
from support import require_binary

VENV_BIN = Path(sys.executable).parent
TOKEN = "LoadCredential=chaos.token:/etc/microrack/chaos.token"
STATE = "StateDirectory=microrack-agent"
#: The lines every chaos unit gains, and those of each kind on top (n2 is the fan node).
COMMON = {TOKEN, STATE, "CapabilityBoundingSet="}
KINDS: dict[str, tuple[dict[str, Any], set[str]]] = {
    "partition": (
        {},
        {TOKEN, STATE, "AmbientCapabilities=CAP_NET_ADMIN", "CapabilityBoundingSet=CAP_NET_ADMIN"},
    ),
    "throttle": (
        {},
        {
            TOKEN,
            STATE,
            "AmbientCapabilities=CAP_DAC_OVERRIDE",
            "CapabilityBoundingSet=CAP_DAC_OVERRIDE",
            "ProtectKernelTunables=yes",
            "ReadWritePaths=/sys/devices/system/cpu",
        },
    ),
    "pressure": ({}, COMMON | {"Delegate=cpu memory"}),
    "crash": ({"units": ["etcd.service", "consul"]}, COMMON),
    "fan_stall": ({}, COMMON),
    "disk_fill": ({"fill_dir": "/srv/chaos"}, COMMON | {"ReadWritePaths=/srv/chaos"}),
}


def _render(tmp: Path, chaos: dict[str, Any] | None) -> dict[str, str]:
    data = base()
    data.setdefault("agent", {})["command"] = str(VENV_BIN / "microrack")
    if chaos is not None:
        data["nodes"][1]["chaos"] = chaos
    spec = load_spec(write(tmp, data))
    return {k: v.decode() for k, v in render(spec).items()}


def _service(unit: str) -> list[str]:
    body = unit.split("[Service]\n", 1)[1].split("\n[", 1)[0]
    return [line for line in body.splitlines() if line and not line.startswith("#")]


def _exec_start(unit: str) -> str:
    return next(x for x in _service(unit) if x.startswith("ExecStart="))


AGENT = "systemd/n2/microrack-agent.service"


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return _render(tmp_path_factory.mktemp("plain"), None)


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_adds_exactly_its_rights(
    kind: str, plain: dict[str, str], tmp_path: Path
) -> None:
    extra, expected = KINDS[kind]
    files = _render(tmp_path, {"allow": [kind], **extra})
    before = {x for x in _service(plain[AGENT]) if not x.startswith("ExecStart=")}
    after = {x for x in _service(files[AGENT]) if not x.startswith("ExecStart=")}
    assert before <= after  # nothing of the hardening is taken away
    assert after - before == expected
    argv = _exec_start(files[AGENT])
    assert f"--chaos-allow {kind} " in argv
    assert "--chaos-token ${CREDENTIALS_DIRECTORY}/chaos.token " in argv
    assert "--chaos-state /var/lib/microrack-agent/chaos-state.json" in argv
    # the other nodes' units do not change
    assert (
        files["systemd/n1/microrack-agent.service"] == plain["systemd/n1/microrack-agent.service"]
    )
    assert ("polkit/n2/50-microrack-chaos.rules" in files) == (kind == "crash")
    fan = _exec_start(files["systemd/n2/microrack-fan.service"])
    assert ("--chaos-override /var/lib/microrack-agent/fan-override.json" in fan) == (
        kind == "fan_stall"
    )
    _verify(tmp_path, files)


def test_every_kind_at_once_adds_the_union(tmp_path: Path, plain: dict[str, str]) -> None:
    chaos = {
        "allow": list(KINDS),
        "units": ["etcd.service", "docker:web", "podman:db"],
        "fill_dir": "/var/lib/microrack-fill",
        "max_lease_s": 600,
    }
    files = _render(tmp_path, chaos)
    added = set(_service(files[AGENT])) - set(_service(plain[AGENT]))
    caps = "CAP_NET_ADMIN CAP_DAC_OVERRIDE"
    assert {x for x in added if not x.startswith("ExecStart=")} == {
        TOKEN,
        "StateDirectory=microrack-agent microrack-fill",  # systemd creates it, owned by the agent
        f"AmbientCapabilities={caps}",
        f"CapabilityBoundingSet={caps}",
        "ProtectKernelTunables=yes",
        "ReadWritePaths=/sys/devices/system/cpu",
        "Delegate=cpu memory",
        "SupplementaryGroups=docker",
    }
    assert "--chaos-max-lease 600" in _exec_start(files[AGENT])
    _verify(tmp_path, files)


def test_a_fill_dir_in_tmp_is_bound_past_private_tmp(tmp_path: Path) -> None:
    for fill in ("/var/tmp/fill", "/tmp/f"):
        files = _render(tmp_path, {"allow": ["disk_fill"], "fill_dir": fill})
        assert f"BindPaths={fill}" in _service(files[AGENT])
        assert "PrivateTmp=yes" in _service(files[AGENT])
        _verify(tmp_path, files)


def test_a_fill_dir_with_spaces_and_specifiers_stays_one_literal_path(tmp_path: Path) -> None:
    files = _render(tmp_path, {"allow": ["disk_fill"], "fill_dir": "/var/lib/chaos fill/%h"})
    service = _service(files[AGENT])
    assert 'ReadWritePaths="/var/lib/chaos fill/%%h"' in service
    assert "StateDirectory=microrack-agent" in service  # not split into two directories
    assert "--chaos-fill-dir '/var/lib/chaos fill/%%h'" in _exec_start(files[AGENT])
    _verify(tmp_path, files)


def test_cache_and_log_fill_dirs_use_systemds_own_directories(tmp_path: Path) -> None:
    for fill, line in (
        ("/var/cache/fill", "CacheDirectory=fill"),
        ("/var/log/f", "LogsDirectory=f"),
    ):
        files = _render(tmp_path, {"allow": ["disk_fill"], "fill_dir": fill})
        assert line in _service(files[AGENT])
        assert not any(x.startswith("ReadWritePaths=") for x in _service(files[AGENT]))


def test_no_chaos_no_change(tmp_path: Path, plain: dict[str, str]) -> None:
    files = _render(tmp_path, {"allow": []})
    assert files[AGENT] == plain[AGENT]
    assert "--chaos" not in files[AGENT]
    assert not any(k.startswith("polkit/") for k in files)


def _verify(tmp: Path, files: dict[str, str]) -> None:
    tool = require_binary("systemd-analyze")
    d = tmp / "units"
    d.mkdir(exist_ok=True)
    paths = []
    for rel, text in files.items():
        if rel.startswith("systemd/n2/"):
            p = d / Path(rel).name
            p.write_text(text)
            paths.append(str(p))
    r = subprocess.run([tool, "verify", *paths], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "microrack" not in r.stderr, r.stderr  # no warning about our units


JUDGE = """
const fs = require("fs");
let rule = null;
global.polkit = {Result: {YES: "yes"}, addRule: (f) => { rule = f; }};
eval(fs.readFileSync(process.argv[1], "utf8"));  // node -e: argv[1] is the first
const out = JSON.parse(process.argv[2]).map(([id, user, verb, unit]) => {
    const action = {id, lookup: (k) => ({verb, unit})[k]};
    return rule(action, {user}) || "no";
});
console.log(JSON.stringify(out));
"""


def test_the_polkit_rule_allows_exactly_the_crash_units(tmp_path: Path) -> None:
    node = require_binary("node", "/usr/bin/nodejs")
    files = _render(tmp_path, {"allow": ["crash"], "units": ["etcd.service", "consul", "podman:x"]})
    rule = tmp_path / "50-microrack-chaos.rules"
    rule.write_text(files["polkit/n2/50-microrack-chaos.rules"])
    manage = "org.freedesktop.systemd1.manage-units"
    cases = [
        (manage, "microrack-agent", "stop", "etcd.service"),
        (manage, "microrack-agent", "start", "etcd.service"),
        (manage, "microrack-agent", "stop", "consul.service"),  # a plain name is a .service
        (manage, "microrack-agent", "restart", "etcd.service"),
        (manage, "microrack-agent", "stop", "sshd.service"),
        (manage, "microrack-agent", "stop", "x.service"),  # podman:x is not a systemd unit
        (manage, "someone", "stop", "etcd.service"),
        ("org.freedesktop.systemd1.manage-unit-files", "microrack-agent", "stop", "etcd.service"),
    ]
    r = subprocess.run(
        [node, "-e", JUDGE, str(rule), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(r.stdout) == ["yes", "yes", "yes", "no", "no", "no", "no", "no"]

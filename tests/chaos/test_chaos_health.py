"""The quorum groups' health checks: defaults per role, services.health, and each check's verdict.

etcd's check runs against a real etcd in test_chaos_quorum.py.  Consul, Vault
and a Ceph mgr are not packaged for this machine, so their checks are held
against a local HTTP server answering what their documented endpoints answer
(status codes and bodies from the Consul, Vault and Ceph manuals).
"""

from __future__ import annotations

import http.server
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml

from support import microrack_cmd

ROLES = ["etcd", "consul-server", "vault-server", "ceph-mon", "control-plane"]


def _doc(health: dict[str, Any] | None = None) -> dict[str, Any]:
    cidr = "198.18.98.0/24"
    nodes = []
    for i in range(3):
        addr = f"198.18.98.{i + 1}"
        nodes.append(
            {
                "name": f"m{i}",
                "board": "rpi-5",
                "ram_gb": 8,
                "nics": [
                    {
                        "name": "eth0",
                        "network": "lan",
                        "address": addr,
                        "mac": f"02:00:00:00:98:{i + 1:02x}",
                    }
                ],
                "roles": ROLES,
            }
        )
    doc: dict[str, Any] = {
        "cluster": {"name": "q", "domain": "q.test"},
        "networks": [{"name": "lan", "kind": "infrastructure", "cidr": cidr}],
        "nodes": nodes,
    }
    if health is not None:
        doc["services"] = {"health": health}
    return doc


def _probes(tmp: Path, doc: dict[str, Any]) -> dict[str, Any]:
    from microrack.chaos import group_probes
    from microrack.spec import parse_spec

    p = tmp / "cluster.yaml"
    p.write_text(yaml.safe_dump(doc))
    return {g.group: g for g in group_probes(parse_spec(p))}


def test_every_quorum_role_has_a_default_check_on_each_members_address(tmp_path: Path) -> None:
    from microrack.chaos import CEPH_MON_REASON

    g = _probes(tmp_path, _doc())
    assert set(g) == set(ROLES)
    urls = {k: [(m.node, m.check, m.url) for m in v.members] for k, v in g.items()}
    assert urls["etcd"] == [
        (f"m{i}", "etcd-put", f"http://198.18.98.{i + 1}:2379/v3/kv/put") for i in range(3)
    ]
    assert urls["consul-server"][1] == ("m1", "leader", "http://198.18.98.2:8500/v1/status/leader")
    assert urls["vault-server"][2] == (
        "m2",
        "vault-health",
        "http://198.18.98.3:8200/v1/sys/health",
    )
    assert urls["control-plane"][0] == ("m0", "http", "https://198.18.98.1:6443/readyz")
    assert g["ceph-mon"].members == () and g["ceph-mon"].skipped == CEPH_MON_REASON


def test_services_health_overrides_part_or_all_of_a_check(tmp_path: Path) -> None:
    g = _probes(
        tmp_path,
        _doc(
            {
                "etcd": {"scheme": "https", "port": 12379, "timeout_s": 0.5, "grace_s": 3},
                "consul-server": {"check": "none"},
                "vault-server": {"path": "/v1/sys/health?standbyok=true"},
                "ceph-mon": {"url": "http://mgr.q.test:9283/metrics", "check": "ceph-mgr"},
                "control-plane": {"url": "http://{address}:8080/n/{node}/ok"},
            },
        ),
    )
    e = g["etcd"].members[0]
    assert e.grace_s == 3.0 and g["vault-server"].members[0].grace_s == 0.0
    assert (e.check, e.url, e.timeout_s) == (
        "etcd-put",
        "https://198.18.98.1:12379/v3/kv/put",
        0.5,
    )
    assert g["consul-server"].members == () and "check: none" in (g["consul-server"].skipped or "")
    assert (
        g["vault-server"].members[0].url == "http://198.18.98.1:8200/v1/sys/health?standbyok=true"
    )
    assert [m.url for m in g["ceph-mon"].members] == ["http://mgr.q.test:9283/metrics"] * 3
    assert g["ceph-mon"].members[2].check == "ceph-mgr"
    assert g["control-plane"].members[1].url == "http://198.18.98.2:8080/n/m1/ok"


@pytest.mark.parametrize(
    ("health", "where"),
    [
        ({"worker": {"port": 1}}, "services.health: 'worker' is not a quorum role"),
        ({"etcd": {"port": 0}}, "services.health.etcd.port:"),
        ({"etcd": {"check": "ping"}}, "services.health.etcd.check:"),
        ({"etcd": {"path": "health"}}, "services.health.etcd.path:"),
        ({"etcd": {"url": "http://{address}:1/{secret}"}}, "unknown placeholder {secret}"),
        ({"etcd": {"timeout_s": -1}}, "services.health.etcd.timeout_s:"),
        ({"etcd": {"grace_s": -1}}, "services.health.etcd.grace_s:"),
        ({"etcd": {"prot": 2379}}, "services.health.etcd.prot:"),
    ],
)
def test_a_bad_health_field_is_one_error_naming_it(
    tmp_path: Path, health: dict[str, Any], where: str
) -> None:
    p = tmp_path / "cluster.yaml"
    p.write_text(yaml.safe_dump(_doc(health)))
    out = subprocess.run(
        microrack_cmd("spec", "validate", str(p)), capture_output=True, text=True, check=False
    )
    assert out.returncode != 0
    errors = [x for x in (out.stdout + out.stderr).splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and where in errors[0], out.stdout + out.stderr


class _Answers(http.server.BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str]]] = {}

    def do_GET(self) -> None:
        if self.path == "/drip":  # headers at once, then a byte now and then
            self.send_response(200)
            self.send_header("Content-Length", "40")
            self.end_headers()
            for _ in range(40):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.1)
            return
        status, body = self.routes.get(self.path, (404, "not found"))
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def answers() -> Iterator[tuple[str, dict[str, tuple[int, str]]]]:
    routes: ClassVar[dict[str, tuple[int, str]]] = {}
    handler = type("Handler", (_Answers,), {"routes": routes})
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}", routes
    finally:
        srv.shutdown()
        srv.server_close()


MGR = """# HELP ceph_mon_quorum_status Monitors in quorum
# TYPE ceph_mon_quorum_status gauge
ceph_mon_quorum_status{ceph_daemon="mon.m0"} 1.0
ceph_mon_quorum_status{ceph_daemon="mon.m1"} 0.0
ceph_mon_quorum_status{ceph_daemon="mon.m10"} 1.0
"""


def test_each_check_reads_its_protocols_answer(
    answers: tuple[str, dict[str, tuple[int, str]]],
) -> None:
    import httpx

    from microrack.chaos import MemberProbe
    from microrack.chaos._health import MAX_ANSWER, passes

    base, routes = answers
    routes.update(
        {
            "/leader": (200, '"198.18.98.1:8300"'),
            "/noleader": (200, '""'),
            "/down": (500, "rpc error"),
            "/v200": (200, "{}"),
            "/v429": (429, "{}"),
            "/v473": (473, "{}"),
            "/v503": (503, "{}"),
            "/v501": (501, "{}"),
            "/metrics": (200, MGR),
            "/ok": (204, ""),
        }
    )

    def ok(check: str, path: str, node: str = "m0") -> bool:
        with httpx.Client() as c:
            return passes(c, MemberProbe("g", node, check, base + path, 2.0))[0]

    assert ok("leader", "/leader") and not ok("leader", "/noleader") and not ok("leader", "/down")
    assert [ok("vault-health", f"/v{c}") for c in (200, 429, 473, 503, 501)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert ok("ceph-mgr", "/metrics", "m0") and not ok("ceph-mgr", "/metrics", "m1")
    assert not ok("ceph-mgr", "/metrics", "m2")  # absent: not in quorum (m10 is not m1)
    assert ok("http", "/ok") and not ok("http", "/down")
    assert not ok("http", "/missing")
    routes["/huge"] = (200, "x" * (MAX_ANSWER + 10))
    assert not ok("http", "/huge")
    with httpx.Client() as c:  # every read in time, the whole answer not: a failure
        drip = passes(c, MemberProbe("g", "m0", "http", base + "/drip", 1.0))
        assert drip == (False, "answer slower than the timeout")
    with httpx.Client() as c:  # nothing listening: a failed check, not an exception
        assert not passes(c, MemberProbe("g", "m0", "leader", "http://127.0.0.1:9/x", 0.5))[0]


def test_a_group_is_available_while_a_majority_serves_and_disagreement_is_reported() -> None:
    from microrack.chaos import MemberRecord, compare
    from microrack.chaos._health import group_timeline
    from microrack.chaos._run import RunRecord

    def rec(node: str, results: list[bool]) -> MemberRecord:
        return MemberRecord(
            "etcd",
            node,
            "etcd-put",
            f"http://{node}",
            [1.0 + k for k in range(len(results))],
            results,
        )

    a = rec("m0", [True, True, True, True])
    b = rec("m1", [True, False, False, True])
    c = rec("m2", [True, True, False, True])
    assert b.outages() == [(2.0, 4.0)] and b.as_dict()["recovered_s"] == 4.0
    assert rec("m9", [True, False]).outages() == [(2.0, None)]
    # a grace forgives short outages only, and never one still open at the end
    short = MemberRecord(
        "etcd",
        "m3",
        "etcd-put",
        "u",
        [1, 2, 3, 4, 5, 9, 10],
        [True, False, True, False, False, True, False],
        grace_s=1.0,
    )
    assert short.counted() == [True, True, True, False, False, True, False]
    assert short.serving is False and short.as_dict()["forgiven"] == 1
    short.grace_s = 6.0
    assert short.counted() == [True, True, True, True, True, True, False]
    short.times, short.results = short.times[:-1], short.results[:-1]
    assert short.serving is True and short.as_dict()["forgiven"] == 3
    timeline = group_timeline([a, b, c])
    assert [ok for _t, ok in timeline] == [
        True,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        True,
        True,
    ]
    assert not [ok for _t, ok in group_timeline([a, rec("m1", []), c])]  # never all checked

    class Twin:  # a SimResult's surface that compare reads
        nodes: ClassVar[list[Any]] = []

        def as_dict(self) -> dict[str, Any]:
            grp = {
                "group": "etcd",
                "tolerates": 1,
                "worst_lost": 1,
                "ok": True,
                "members": ["m0", "m1", "m2"],
                "cut_off": ["m1"],
            }
            return {
                "duration_s": 10.0,
                "nodes": [],
                "alerts": [],
                "faults": [{"at_s": 2.0, "duration_s": 3.0, "groups": [grp]}],
            }

    run = RunRecord("s", "r", 0.0, probes=[a, b, c])
    rep = compare(run, Twin(), None, None)
    (g,) = rep["groups"]
    assert g["measured_available"] is False and g["predicted_available"] is True
    assert g["agree"] is False and rep["agree"] is False
    m = {x["node"]: x for x in g["members"]}
    assert m["m1"]["agree"] is True and m["m1"]["predicted_out"] == [[2.0, 5.0]]
    assert m["m2"]["agree"] is False  # the twin kept m2 serving; it failed a write


def test_dry_run_lists_every_check_it_would_make(tmp_path: Path) -> None:
    import json

    doc = _doc({"vault-server": {"check": "none"}})
    for n in doc["nodes"]:
        n["chaos"] = {"allow": ["partition"]}
    spec = tmp_path / "cluster.yaml"
    spec.write_text(yaml.safe_dump(doc))
    sc = tmp_path / "split.yaml"
    sc.write_text("duration: 10\nfaults:\n  - {at: 1, kind: partition, groups: [[m0], [m1, m2]]}\n")
    argv = ["chaos", "run", str(sc), "--spec", str(spec), "--dry-run"]
    p = subprocess.run(
        microrack_cmd(*argv, "--json", "--probe", "web=http://198.18.98.9/h"),
        capture_output=True,
        text=True,
        check=False,
    )
    assert p.returncode == 0, p.stderr
    checks = json.loads(p.stdout)["checks"]
    assert [c["url"] for c in checks if c["group"] == "etcd"] == [
        f"http://198.18.98.{i}:2379/v3/kv/put" for i in (1, 2, 3)
    ]
    skipped = {c["group"]: c["skipped"] for c in checks if c["skipped"]}
    assert set(skipped) == {"ceph-mon", "vault-server"}
    assert {
        "group": "web",
        "node": None,
        "check": "http",
        "url": "http://198.18.98.9/h",
        "skipped": None,
    } in checks
    text = subprocess.run(microrack_cmd(*argv), capture_output=True, text=True, check=False)
    assert "check consul-server m2: leader http://198.18.98.3:8500/v1/status/leader" in text.stdout
    assert "check ceph-mon: not probed: Ceph monitors serve no HTTP" in text.stdout

"""The agent's signed fault endpoints on loopback, on a captured /sys tree (--root)."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from faults.chaos_support import agent_argv, call, copy_tree, poll, write_token
from faults.scrape import scrape
from support import Proc, free_port, http_get, microrack_cmd, started

pytestmark = pytest.mark.integration

CPU1 = "sys/devices/system/cpu/cpu1/cpufreq/scaling_max_freq"


class Node:
    def __init__(self, proc: Proc, port: int, secret: bytes, root: Path, state: Path) -> None:
        self.proc, self.port, self.secret, self.root, self.state = proc, port, secret, root, state

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        return call("127.0.0.1", self.port, self.secret, method, path, body, **kw)

    def post(self, body: Any, **kw: Any) -> tuple[int, Any]:
        return self.call("POST", "/api/v1/faults", body, **kw)

    def metrics(self) -> str:
        return http_get(f"http://127.0.0.1:{self.port}/metrics")[1].decode()


@contextmanager
def agent(
    tmp: Path,
    *extra: str,
    token: bool = True,
    state: Path | None = None,
    port: int | None = None,
    root: Path | None = None,
    name: str = "agent",
) -> Iterator[Node]:
    root = root or copy_tree("rpi4b", tmp / "root")
    tok = tmp / "token"
    secret = write_token(tok) if not tok.exists() else tok.read_bytes().strip()
    state = state or tmp / "state" / "chaos-state.json"
    port = port or free_port()
    argv = agent_argv(f"127.0.0.1:{port}", root, "n1", state, token=tok if token else None)
    with started([*argv, *extra], tmp / f"{name}.log", wait=("127.0.0.1", port)) as proc:
        yield Node(proc, port, secret, root, state)


def _fault(
    fid: str, kind: str, params: dict[str, Any], duration: float = 30, **kw: Any
) -> dict[str, Any]:
    return {"id": fid, "kind": kind, "duration_s": duration, "params": params, **kw}


def test_without_a_token_every_write_is_405(tmp_path: Path) -> None:
    with agent(tmp_path, token=False) as n:
        for method in ("POST", "DELETE", "PUT"):
            status, _ = n.call(method, "/api/v1/faults", {})
            assert status == 405
        assert n.call("POST", "/metrics", {})[0] == 405
        assert n.call("GET", "/api/v1/faults")[0] == 404


def test_chaos_flags_are_checked(tmp_path: Path) -> None:
    import subprocess

    def run(*flags: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            microrack_cmd("agent", "--listen", "127.0.0.1:0", *flags),
            capture_output=True,
            text=True,
            timeout=60,
        )

    done = run("--chaos-allow", "throttle")
    assert (
        done.returncode == 2 and "--chaos-allow: only meaningful with --chaos-token" in done.stderr
    )
    tok = tmp_path / "token"
    write_token(tok)
    state = ("--chaos-state", str(tmp_path / "state.json"))
    done = run("--chaos-token", str(tok), "--chaos-allow", "throttle,meteor", *state)
    assert done.returncode == 2 and "unknown fault kind 'meteor'" in done.stderr
    done = run("--chaos-token", str(tok), "--chaos-fill-dir", str(tmp_path / "nope"), *state)
    assert done.returncode == 2 and "--chaos-fill-dir" in done.stderr
    done = run("--chaos-token", str(tok), "--chaos-max-lease", "-1", *state)
    assert done.returncode == 2 and "--chaos-max-lease" in done.stderr
    tok.chmod(0o644)
    done = run("--chaos-token", str(tok), *state)
    assert done.returncode == 1 and "chmod 600" in done.stderr
    short = tmp_path / "short"
    short.write_text("abc")
    short.chmod(0o600)
    done = run("--chaos-token", str(short), *state)
    assert done.returncode == 1 and "at least 32 bytes" in done.stderr


def test_authentication_and_authorisation(tmp_path: Path) -> None:
    with agent(tmp_path, "--chaos-allow", "throttle,crash", "--chaos-unit", "podman:web") as n:
        body = _fault("t1", "throttle", {"max_pct": 50}, dry_run=True)
        # unsigned
        assert call("127.0.0.1", n.port, None, "POST", "/api/v1/faults", body)[0] == 401
        # signed with another secret
        assert call("127.0.0.1", n.port, b"x" * 64, "POST", "/api/v1/faults", body)[0] == 401
        # stale: 120 s off, either way
        assert n.post(body, now=time.time() - 120)[0] == 401
        assert n.post(body, now=time.time() + 120)[0] == 401
        # the signature covers the query string
        status, _ = call(
            "127.0.0.1",
            n.port,
            n.secret,
            "GET",
            "/api/v1/faults",
            headers={"X-Microrack-Signature": "0" * 64},
        )
        assert status == 401
        # replayed: the same signed request twice
        from microrack.faults import sign_headers

        data = json.dumps(body).encode()
        hdrs = sign_headers(n.secret, "POST", "/api/v1/faults", data)
        first = call("127.0.0.1", n.port, None, "POST", "/api/v1/faults", raw=data, headers=hdrs)
        again = call("127.0.0.1", n.port, None, "POST", "/api/v1/faults", raw=data, headers=hdrs)
        assert first[0] == 200 and again[0] == 401
        assert "already" in again[1]["error"]
        # a body signed for one path is refused on another
        hdrs = sign_headers(n.secret, "POST", "/api/v1/faults", data)
        assert (
            call("127.0.0.1", n.port, None, "POST", "/api/v1/faults?x=1", raw=data, headers=hdrs)[0]
            == 401
        )
        # kind not allowed, unit not listed
        status, obj = n.post(_fault("p1", "disk_fill", {"bytes": 10}))
        assert status == 403 and obj["field"] == "kind"
        status, obj = n.post(_fault("c1", "crash", {"target": "sshd"}))
        assert status == 403 and obj["field"] == "params.target"
        # malformed: 400 naming the field
        status, obj = n.post(_fault("t2", "throttle", {"max_pct": 500}))
        assert status == 400 and obj["field"] == "params.max_pct"
        status, obj = n.post(_fault("t2", "throttle", {"max_pct": 50}, duration=7200))
        assert status == 400 and obj["field"] == "duration_s"
        status, obj = n.call("POST", "/api/v1/faults", raw=b"{not json")
        assert status == 400 and obj["field"] == "body"
        # too large
        status, _ = n.call("POST", "/api/v1/faults", raw=b" " * (65 * 1024))
        assert status == 413
        # unknown fault
        assert n.call("DELETE", "/api/v1/faults/nope")[0] == 404
        text = n.metrics()
        assert 'microrack_agent_chaos_requests_total{kind="none",outcome="401"}' in text
        assert 'microrack_agent_chaos_requests_total{kind="disk_fill",outcome="403"}' in text
        assert 'microrack_agent_chaos_requests_total{kind="throttle",outcome="ok"} 1' in text
        log = n.proc.output()
        assert "node=n1 kind=crash id=c1 outcome=403" in log


def test_throttle_on_a_tree_reverts_at_its_deadline(tmp_path: Path) -> None:
    with agent(tmp_path, "--chaos-allow", "throttle") as n:
        f = n.root / CPU1
        before = f.read_text()
        top = int((f.parent / "cpuinfo_max_freq").read_text())
        status, dry = n.post(_fault("dry", "throttle", {"max_pct": 50}, dry_run=True))
        assert status == 200 and dry["commands"]
        assert any(str(top // 2) in c for c in dry["commands"])
        assert f.read_text() == before  # a dry run changes nothing
        assert n.call("GET", "/api/v1/faults")[1]["faults"] == []
        status, fault = n.post(_fault("th", "throttle", {"max_pct": 50}, duration=2))
        assert status == 201, fault
        assert fault["node"] == "n1" and fault["deadline_unix"] > fault["started_unix"]
        assert int(f.read_text()) == top // 2
        capped = 'node_cpu_scaling_frequency_max_hertz{cpu="1"}'
        poll(lambda: scrape(n.port).get(capped) == top // 2 * 1000, what="cap in /metrics")
        assert scrape(n.port)["microrack_agent_chaos_active_faults"] == 1
        assert n.post(_fault("th", "throttle", {"max_pct": 50}))[0] == 409
        listed = n.call("GET", "/api/v1/faults")[1]
        assert [x["id"] for x in listed["faults"]] == ["th"]
        saved = json.loads(n.state.read_text())["faults"]
        assert saved[0]["id"] == "th"
        poll(lambda: f.read_text() == before, what="throttle revert")
        poll(lambda: scrape(n.port).get(capped) == int(before) * 1000, what="cap gone")
        poll(lambda: n.call("GET", "/api/v1/faults")[1]["faults"] == [], what="lease end")
        assert json.loads(n.state.read_text())["faults"] == []


def test_delete_and_stop_revert_at_once(tmp_path: Path) -> None:
    fill = tmp_path / "fill"
    fill.mkdir()
    with agent(tmp_path, "--chaos-allow", "throttle,disk_fill", "--chaos-fill-dir", str(fill)) as n:
        f = n.root / CPU1
        before = f.read_text()
        assert n.post(_fault("a", "throttle", {"max_khz": 600000}, duration=600))[0] == 201
        assert n.post(_fault("b", "disk_fill", {"bytes": 1 << 20}, duration=600))[0] == 201
        files = list(fill.iterdir())
        assert len(files) == 1 and files[0].stat().st_size == 1 << 20
        status, gone = n.call("DELETE", "/api/v1/faults/a")
        assert status == 200 and gone["reverted_unix"] >= gone["started_unix"]
        assert f.read_text() == before
        status, obj = n.call("POST", "/api/v1/faults/stop", {})
        assert status == 200 and obj == {"reverted": ["b"]}
        assert list(fill.iterdir()) == []
        # refused: it would leave less than 5 % free
        st = os.statvfs(fill)
        status, obj = n.post(_fault("c", "disk_fill", {"bytes": st.f_bavail * st.f_frsize}))
        assert status == 422 and obj["field"] == "params.bytes"


def test_disk_fill_on_a_tree_shows_in_filesystem_metrics_until_its_deadline(
    tmp_path: Path,
) -> None:
    root = copy_tree("rpi4b", tmp_path / "root")
    fill = root / "srv"  # a mount point of the tree, on the test's own file system
    fill.mkdir()
    with (root / "proc" / "mounts").open("a") as f:
        f.write("/dev/sda1 /srv ext4 rw,relatime 0 0\n")
    free = 'node_filesystem_avail_bytes{device="/dev/sda1",fstype="ext4",mountpoint="/srv"}'
    size = 1 << 30
    with agent(
        tmp_path, "--chaos-allow", "disk_fill", "--chaos-fill-dir", str(fill), root=root
    ) as n:
        poll(lambda: free in scrape(n.port), what="the fill dir's file system in /metrics")
        before = scrape(n.port)[free]
        status, fault = n.post(_fault("df", "disk_fill", {"bytes": size}, duration=4))
        assert status == 201, fault
        assert fault["commands"][0] == f"write {fill}/microrack-chaos-df.fill: {size} bytes"
        # others may write to this file system meanwhile: most of the GiB is what counts
        poll(lambda: scrape(n.port)[free] < before - size * 0.9, what="a GiB less free")
        poll(lambda: list(fill.iterdir()) == [], what="fill file removed at the deadline")
        poll(lambda: scrape(n.port)[free] > before - size * 0.1, what="space back")
        assert n.call("GET", "/api/v1/faults")[1]["faults"] == []


def test_disk_fill_without_a_fill_dir_is_403(tmp_path: Path) -> None:
    with agent(tmp_path, "--chaos-allow", "disk_fill") as n:
        status, obj = n.post(_fault("d", "disk_fill", {"fill_pct": 1}))
        assert status == 403 and "--chaos-fill-dir" in obj["error"]


def test_sigkilled_agent_reverts_leftovers_on_start(tmp_path: Path) -> None:
    fill = tmp_path / "fill"
    fill.mkdir()
    flags = ("--chaos-allow", "throttle,disk_fill", "--chaos-fill-dir", str(fill))
    root = copy_tree("rpi4b", tmp_path / "root")
    before = (root / CPU1).read_text()
    with agent(tmp_path, *flags, root=root, name="first") as n:
        assert n.post(_fault("a", "throttle", {"max_pct": 30}, duration=600))[0] == 201
        assert n.post(_fault("b", "disk_fill", {"bytes": 4096}, duration=600))[0] == 201
        assert (root / CPU1).read_text() != before
        n.proc.stop(signal.SIGKILL)
    assert (root / CPU1).read_text() != before  # nobody reverted it yet
    assert len(list(fill.iterdir())) == 1
    with agent(tmp_path, *flags, root=root, name="second") as n:
        assert (root / CPU1).read_text() == before
        assert list(fill.iterdir()) == []
        assert n.call("GET", "/api/v1/faults")[1]["faults"] == []
        assert "reverted 2 fault(s) left by an earlier run" in n.proc.output()


def test_sigterm_reverts_everything(tmp_path: Path) -> None:
    with agent(tmp_path, "--chaos-allow", "throttle") as n:
        f = n.root / CPU1
        before = f.read_text()
        assert n.post(_fault("a", "throttle", {"max_pct": 30}, duration=600))[0] == 201
        assert n.proc.stop() == 0
        assert f.read_text() == before


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except OSError:
        return False


def test_pressure_burner_in_its_own_cgroup_ends_at_the_deadline(tmp_path: Path) -> None:
    from support import require_root

    require_root()
    with agent(tmp_path, "--chaos-allow", "pressure") as n:
        status, obj = n.post(_fault("pr", "pressure", {"cpu": 64.0}))
        assert status == 400 and obj["field"] == "params.cpu"
        status, fault = n.post(
            _fault("pr", "pressure", {"cpu": 0.5, "memory_bytes": 8 << 20}, duration=3)
        )
        if status == 422:
            pytest.fail(f"no cgroup controllers here: {fault}")
        assert status == 201, fault
        undo = json.loads(n.state.read_text())["faults"][0]["undo"]
        pid, groups = undo["pid"], [Path(g) for g in undo["groups"]]
        assert _pid_alive(pid)
        for g in groups:
            assert str(pid) in (g / "cgroup.procs").read_text().split()
        quota = [g / "cpu.max" for g in groups if (g / "cpu.max").exists()] or [
            g / "cpu.cfs_quota_us" for g in groups if (g / "cpu.cfs_quota_us").exists()
        ]
        assert quota and "50000" in quota[0].read_text()
        # on a tree the host's load is not in /metrics; the lease is
        assert scrape(n.port)["microrack_agent_chaos_active_faults"] == 1
        poll(lambda: not _pid_alive(pid), what="burner gone")
        poll(lambda: not any(g.exists() for g in groups), what="cgroups removed")
        assert n.call("GET", "/api/v1/faults")[1]["faults"] == []


def test_pressure_on_the_host_shows_its_cgroup_in_metrics_until_the_deadline(
    tmp_path: Path,
) -> None:
    """With --root / the agent's own cgroup collector sees the burner's group and its limits."""
    from support import require_root

    require_root()
    with agent(
        tmp_path,
        "--chaos-allow",
        "pressure",
        "--collector.cgroup.include",
        "microrack-chaos",
        root=Path("/"),
    ) as n:
        status, fault = n.post(
            _fault("hot", "pressure", {"cpu": 0.5, "memory_bytes": 16 << 20}, duration=6)
        )
        assert status == 201, fault

        def burner(name: str) -> list[float]:
            return [
                v
                for k, v in scrape(n.port).items()
                if k.startswith(name + "{") and "microrack-chaos-hot" in k
            ]

        poll(lambda: burner("container_spec_cpu_quota") == [50000.0], what="the burner's quota")
        # the burner runs into its quota, and its memory is charged to its own group
        poll(lambda: sum(burner("container_cpu_cfs_throttled_periods_total")) > 0, what="quota")
        poll(lambda: sum(burner("container_memory_rss")) >= 16 << 20, what="resident memory")
        assert burner("container_spec_memory_limit_bytes") == [float((16 << 20) + (32 << 20))]
        poll(
            lambda: burner("container_spec_cpu_quota") == [], what="the group gone at the deadline"
        )
        assert n.call("GET", "/api/v1/faults")[1]["faults"] == []


def test_simulated_agent_applies_every_node_kind_to_its_twin(tmp_path: Path) -> None:
    """Under --simulate nothing of this host is touched: no fill file, no burner, no cpufreq."""
    port = free_port()
    tok = tmp_path / "token"
    secret = write_token(tok)
    fill = tmp_path / "fill"
    fill.mkdir()
    argv = agent_argv(
        f"127.0.0.1:{port}",
        None,
        "twin",
        tmp_path / "state.json",
        token=tok,
        allow=("throttle", "pressure", "fan_stall", "disk_fill"),
        simulate="pi5",
        interval=0.5,
        extra=("--fan", "auto", "--chaos-fill-dir", str(fill)),
    )
    with started(argv, tmp_path / "sim.log", wait=("127.0.0.1", port)):

        def post(body: dict[str, Any]) -> tuple[int, Any]:
            return call("127.0.0.1", port, secret, "POST", "/api/v1/faults", body)

        # the twin's fan runs the same controller: fan_stall works through its override
        status, fault = post(_fault("fs", "fan_stall", {"limit_c": 90}, duration=30))
        assert status == 201, fault
        assert (tmp_path / "fan-override.json").exists()
        assert call("127.0.0.1", port, secret, "DELETE", "/api/v1/faults/fs")[0] == 200
        assert not (tmp_path / "fan-override.json").exists()
        # dry runs plan against the twin's own cpufreq and disk
        status, dry = post(_fault("th", "throttle", {"max_pct": 80}, dry_run=True))
        assert status == 200 and len(dry["commands"]) == 4
        assert all(c.endswith(": 1920000") for c in dry["commands"])
        status, dry = post(_fault("df", "disk_fill", {"fill_pct": 10}, dry_run=True))
        assert status == 200 and dry["commands"][0] == "twin file system /: +6400000000 bytes used"
        for kind, params in (
            ("throttle", {"max_pct": 80}),
            ("pressure", {"cpu": 1, "memory_bytes": 1 << 20}),
            ("disk_fill", {"bytes": 1 << 16}),
        ):
            status, obj = post(_fault(kind, kind, params))
            assert status == 201, obj
        # the host's fill directory stays empty: the fill is on the twin's disk
        assert list(fill.iterdir()) == []
        status, obj = call("127.0.0.1", port, secret, "POST", "/api/v1/faults/stop", {})
        assert status == 200 and sorted(obj["reverted"]) == ["disk_fill", "pressure", "throttle"]
        assert call("127.0.0.1", port, secret, "GET", "/api/v1/faults")[1]["faults"] == []


def test_hostile_requests(tmp_path: Path) -> None:
    with agent(tmp_path, "--chaos-allow", "throttle") as n:
        status, obj = n.call("POST", "/api/v1/faults", raw=b"[" * 30000 + b"]" * 30000)
        assert status == 400 and obj["field"] == "body"
        status, obj = n.call("POST", "/api/v1/faults", raw=b"\xff\xfe")
        assert status == 400 and obj["field"] == "body"
        status, obj = n.post(["a list"])
        assert status == 400 and obj["field"] == "body"
        status, obj = n.post(_fault("é", "throttle", {"max_pct": 5}))
        assert status == 400 and obj["field"] == "id"
        assert n.call("DELETE", "/api/v1/faults/../metrics")[0] in (404, 405)
        assert n.call("DELETE", "/api/v1/faults/a/b")[0] == 404
        status, obj = n.call("POST", "/api/v1/faults/stop", {"all": True})
        assert status == 400
        # a huge declared length is refused before anything is read
        status, _ = n.call(
            "POST", "/api/v1/faults", raw=b"{}", headers={"Content-Length": str(1 << 30)}
        )
        assert status == 413
        # the agent still serves
        assert n.call("GET", "/api/v1/faults")[0] == 200
        assert http_get(f"http://127.0.0.1:{n.port}/metrics")[0] == 200

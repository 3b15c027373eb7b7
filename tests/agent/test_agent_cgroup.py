"""The cgroup collector over hand-built v2, v1 and hybrid trees, series by series."""

from __future__ import annotations

import time
from pathlib import Path

import cgroup_trees as T
import pytest

from microrack.agent._collectors.cgroup import CGROUP_HELP, CgroupCollector, CgroupOptions
from microrack.agent._families import PointSink
from microrack.sensors import LocalFS
from microrack.sensors.cgroup import detect_layout, read_pressure
from microrack.sensors.containers import identify

MiB = 1 << 20


def collect(root: Path, **opts: object) -> dict[tuple, float]:
    sink = PointSink({})
    col = CgroupCollector(LocalFS(str(root)), CgroupOptions(**opts), clock=lambda: 1700000000.0)
    col.collect(sink)
    out: dict[tuple, float] = {}
    for p in sink.points:
        ident = (p.key.name, p.key.labels)
        assert ident not in out, f"duplicate series {ident}"
        out[ident] = p.value
    return out


def series(values: dict[tuple, float], metric: str, /, **match: str) -> dict[tuple, float]:
    return {
        labels: v
        for (n, labels), v in values.items()
        if n == metric and all(dict(labels).get(k) == val for k, val in match.items())
    }


def one(values: dict[tuple, float], metric: str, /, **match: str) -> tuple[dict[str, str], float]:
    found = series(values, metric, **match)
    assert len(found) == 1, f"{metric}{match}: {found}"
    labels, v = next(iter(found.items()))
    return dict(labels), v


WEB_V2 = (
    f"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod"
    f"{T.UID_BURST.replace('-', '_')}.slice/cri-containerd-{T.CID_WEB}.scope"
)


def test_k3s_systemd_v2_series_by_series(tmp_path: Path) -> None:
    T.k3s_systemd_v2(tmp_path)
    v = collect(tmp_path)
    labels, usage = one(v, "container_cpu_usage_seconds_total", id=WEB_V2)
    assert usage == pytest.approx(7.0)
    assert labels == {
        "id": WEB_V2,
        "cpu": "total",
        "container_id": T.CID_WEB,
        "pod_uid": T.UID_BURST,
        "qos_class": "burstable",
        "name": "web",
        "image": "docker.io/library/nginx:1.25",
        "namespace": "shop",
        "pod": "web-7d9f",
        "container": "web",
    }
    assert one(v, "container_cpu_user_seconds_total", id=WEB_V2)[1] == pytest.approx(5.0)
    assert one(v, "container_cpu_system_seconds_total", id=WEB_V2)[1] == pytest.approx(2.0)
    assert one(v, "container_cpu_cfs_periods_total", id=WEB_V2)[1] == 1000
    assert one(v, "container_cpu_cfs_throttled_periods_total", id=WEB_V2)[1] == 300
    assert one(v, "container_cpu_cfs_throttled_seconds_total", id=WEB_V2)[1] == pytest.approx(1.5)
    assert one(v, "container_spec_cpu_quota", id=WEB_V2)[1] == 50_000
    assert one(v, "container_spec_cpu_period", id=WEB_V2)[1] == 100_000
    # cAdvisor (and the KEP 2254 mapping): shares = 2 + (weight - 1) * 262142 // 9999.
    assert one(v, "container_spec_cpu_shares", id=WEB_V2)[1] == 2597  # cpu.weight 100
    usage_b = T.WEB.usage
    assert one(v, "container_memory_usage_bytes", id=WEB_V2)[1] == usage_b
    # cAdvisor's working set: usage minus inactive file.
    assert one(v, "container_memory_working_set_bytes", id=WEB_V2)[1] == usage_b - 20 * MiB
    assert one(v, "container_memory_rss", id=WEB_V2)[1] == 50 * MiB
    assert one(v, "container_memory_cache", id=WEB_V2)[1] == 30 * MiB
    assert one(v, "container_memory_swap", id=WEB_V2)[1] == 0
    assert one(v, "container_spec_memory_limit_bytes", id=WEB_V2)[1] == 256 * MiB
    assert one(v, "container_oom_events_total", id=WEB_V2)[1] == 2
    labels, rb = one(v, "container_fs_reads_bytes_total", id=WEB_V2)
    assert (labels["device"], rb) == ("/dev/nvme0n1", 4096)
    assert one(v, "container_fs_writes_bytes_total", id=WEB_V2)[1] == 8192
    assert one(v, "container_fs_reads_total", id=WEB_V2)[1] == 1
    assert one(v, "container_fs_writes_total", id=WEB_V2)[1] == 2
    assert one(v, "container_pressure_cpu_waiting_seconds_total", id=WEB_V2)[1] == 1.5
    assert one(v, "container_pressure_cpu_stalled_seconds_total", id=WEB_V2)[1] == 0.5
    assert one(v, "container_pressure_memory_stalled_seconds_total", id=WEB_V2)[1] == 0.125
    assert one(v, "container_pressure_io_waiting_seconds_total", id=WEB_V2)[1] == 3.0
    assert one(v, "container_processes", id=WEB_V2)[1] == 1
    assert one(v, "container_last_seen", id=WEB_V2)[1] == 1700000000.0

    # Pod sandboxes ("pause") hold no workload: left out unless asked for, and counted.
    assert not series(v, "container_memory_usage_bytes", container_id=T.CID_WEB_PAUSE)
    assert one(v, "microrack_cgroups", kind="sandbox")[1] == 1
    sandbox = one(
        collect(tmp_path, sandboxes=True),
        "container_memory_usage_bytes",
        container_id=T.CID_WEB_PAUSE,
    )[0]
    assert sandbox["container"] == "POD" and sandbox["pod"] == "web-7d9f"
    # The guaranteed pod's container has no state file: only what its path says.
    db = one(v, "container_memory_usage_bytes", container_id=T.CID_DB)[0]
    assert db["qos_class"] == "guaranteed" and db["pod_uid"] == T.UID_GUAR
    assert "name" not in db and "image" not in db
    # No limit: cAdvisor's 0; no quota: no quota series.
    assert one(v, "container_spec_memory_limit_bytes", container_id=T.CID_BATCH)[1] == 0
    assert not series(v, "container_spec_cpu_quota", container_id=T.CID_BATCH)
    # A systemd service is named by its unit; the root is id "/".
    assert (
        one(v, "container_cpu_usage_seconds_total", id="/system.slice/k3s.service")[0]["name"]
        == "k3s.service"
    )
    assert one(v, "container_cpu_usage_seconds_total", id="/")[1] == 90.0

    # Orchestration without an API server.
    assert one(v, "microrack_kube_pods", qos_class="burstable")[1] == 1
    assert one(v, "microrack_kube_pods", qos_class="besteffort")[1] == 1
    assert one(v, "microrack_kube_pods", qos_class="guaranteed")[1] == 1
    # The sandbox is not counted as a container.
    assert one(v, "microrack_kube_containers", qos_class="burstable")[1] == 1
    assert one(v, "microrack_containers", runtime="containerd")[1] == 3
    assert one(v, "microrack_containers_oom_killed")[1] == 1
    assert one(v, "microrack_cgroup_info")[0] == {"version": "v2"}
    for name, _labels in v:
        assert name in CGROUP_HELP, name


def test_pod_throttled_share_over_the_interval(tmp_path: Path) -> None:
    T.k3s_systemd_v2(tmp_path)
    fs = LocalFS(str(tmp_path))
    col = CgroupCollector(fs)
    first = PointSink({})
    col.collect(first)
    assert not [p for p in first.points if p.key.name == "microrack_pod_cpu_throttled_ratio"]
    pod = tmp_path / "sys/fs/cgroup" / WEB_V2.strip("/").rsplit("/", 1)[0]
    text = (pod / "cpu.stat").read_text()
    text = text.replace("nr_periods 1000", "nr_periods 1100").replace(
        "nr_throttled 300", "nr_throttled 325"
    )
    (pod / "cpu.stat").write_text(text)
    second = PointSink({})
    col.collect(second)
    ratios = {
        p.key.label("pod_uid"): p
        for p in second.points
        if p.key.name == "microrack_pod_cpu_throttled_ratio"
    }
    assert ratios[T.UID_BURST].value == pytest.approx(0.25)
    assert ratios[T.UID_BURST].key.label("pod") == "web-7d9f"
    # The other pods ran no CFS period in between: nothing throttled.
    assert ratios[T.UID_BEST].value == 0.0 and ratios[T.UID_GUAR].value == 0.0


def test_k3s_cgroupfs_v1_series_by_series(tmp_path: Path) -> None:
    T.k3s_cgroupfs_v1(tmp_path)
    v = collect(tmp_path)
    web = f"/kubepods/burstable/pod{T.UID_BURST}/{T.CID_WEB}"
    labels, usage = one(v, "container_cpu_usage_seconds_total", id=web)
    assert usage == pytest.approx(7.0)
    assert labels["qos_class"] == "burstable" and labels["pod"] == "web-7d9f"
    assert labels["container_id"] == T.CID_WEB and labels["image"].endswith("nginx:1.25")
    # cpuacct.stat counts USER_HZ ticks.
    assert one(v, "container_cpu_user_seconds_total", id=web)[1] == pytest.approx(5.0)
    assert one(v, "container_cpu_system_seconds_total", id=web)[1] == pytest.approx(2.0)
    assert one(v, "container_cpu_cfs_throttled_seconds_total", id=web)[1] == pytest.approx(1.5)
    assert one(v, "container_spec_cpu_quota", id=web)[1] == 50_000
    assert one(v, "container_spec_cpu_shares", id=web)[1] == 1024
    assert one(v, "container_memory_working_set_bytes", id=web)[1] == T.WEB.usage - 20 * MiB
    assert one(v, "container_memory_rss", id=web)[1] == 50 * MiB
    assert one(v, "container_oom_events_total", id=web)[1] == 2
    assert one(v, "container_fs_reads_bytes_total", id=web) == (
        {**{k: x for k, x in labels.items() if k != "cpu"}, "device": "/dev/sda"},
        4096,
    )
    assert one(v, "container_fs_writes_total", id=web)[1] == 2
    db = f"/kubepods/pod{T.UID_GUAR}/{T.CID_DB}"
    assert one(v, "container_memory_swap", id=db)[1] == 4 * MiB
    assert one(v, "container_memory_usage_bytes", id=db)[0]["qos_class"] == "guaranteed"
    # The kernel's "no limit" (a page-rounded 2^63) is cAdvisor's 0.
    assert one(v, "container_spec_memory_limit_bytes", id="/")[1] == 0
    assert not series(v, "container_pressure_cpu_waiting_seconds_total")  # v1 has no PSI
    assert one(v, "microrack_cgroup_info")[0] == {"version": "v1"}
    assert one(v, "microrack_kube_pods", qos_class="besteffort")[1] == 1


def test_docker_host(tmp_path: Path) -> None:
    T.docker_v2(tmp_path)
    v = collect(tmp_path)
    labels, usage = one(v, "container_memory_usage_bytes", container_id=T.CID_DOCKER)
    assert labels["name"] == "postgres" and labels["image"] == "postgres:16"
    assert "pod" not in labels and "qos_class" not in labels
    assert usage == T.DB.usage
    assert one(v, "microrack_containers", runtime="docker")[1] == 1
    assert not series(v, "microrack_kube_pods")
    # No PSI files for that cgroup: no pressure series, the rest still there.
    assert not series(v, "container_pressure_cpu_waiting_seconds_total", name="postgres")


def test_podman_host(tmp_path: Path) -> None:
    T.podman_v2(tmp_path)
    v = collect(tmp_path)
    labels, _ = one(v, "container_cpu_usage_seconds_total", container_id=T.CID_PODMAN)
    assert labels["name"] == "grafana"
    assert labels["image"] == "docker.io/grafana/grafana:10.4.0"
    assert one(v, "microrack_containers", runtime="podman")[1] == 1
    conmon = f"/machine.slice/libpod-conmon-{T.CID_PODMAN}.scope"
    assert "container_id" not in one(v, "container_processes", id=conmon)[0]


def test_hybrid_reads_v1_and_pressure_from_unified(tmp_path: Path) -> None:
    T.hybrid(tmp_path)
    layout = detect_layout(LocalFS(str(tmp_path)))
    assert layout.version == "hybrid"
    assert layout.unified == "/sys/fs/cgroup/unified"
    v = collect(tmp_path)
    ssh = "/system.slice/ssh.service"
    assert one(v, "container_cpu_usage_seconds_total", id=ssh)[1] == pytest.approx(1.0)
    assert one(v, "container_pressure_cpu_waiting_seconds_total", id=ssh)[1] == 4.0
    assert one(v, "container_pressure_cpu_stalled_seconds_total", id=ssh)[1] == 1.0
    assert one(v, "microrack_cgroup_info")[0] == {"version": "hybrid"}


def test_selection_depth_include_exclude_and_containers_only(tmp_path: Path) -> None:
    T.k3s_systemd_v2(tmp_path)
    ids = {
        dict(lab)["id"] for (n, lab) in collect(tmp_path, max_depth=1) if n == "container_processes"
    }
    assert ids == {"/", "/system.slice", "/kubepods.slice"}
    only = {
        dict(lab)["id"]
        for (n, lab) in collect(tmp_path, containers_only=True)
        if n == "container_processes"
    }
    assert "/" in only and "/system.slice/k3s.service" not in only
    assert WEB_V2 in only and "/kubepods.slice" not in only
    no_kube = {
        dict(lab)["id"]
        for (n, lab) in collect(tmp_path, exclude=r"^/kubepods")
        if n == "container_processes"
    }
    assert not any(i.startswith("/kubepods") for i in no_kube)
    inc = {
        dict(lab)["id"]
        for (n, lab) in collect(tmp_path, include=r"^/system\.slice")
        if n == "container_processes"
    }
    assert inc == {"/", "/system.slice", "/system.slice/k3s.service"}


def test_garbage_files_cost_only_their_fields(tmp_path: Path) -> None:
    T.k3s_systemd_v2(tmp_path)
    d = tmp_path / "sys/fs/cgroup" / WEB_V2.strip("/")
    (d / "cpu.stat").write_text("usage_usec twelve\nnr_periods\n\x00\x01")
    (d / "memory.current").write_text("")
    (d / "io.stat").write_text("259:0 rbytes=x wbytes=1\nnonsense\n")
    (d / "cpu.pressure").write_text("some avg10=1\n")
    (d / "memory.events").unlink()
    v = collect(tmp_path)
    assert not series(v, "container_cpu_usage_seconds_total", id=WEB_V2)
    assert not series(v, "container_memory_usage_bytes", id=WEB_V2)
    assert not series(v, "container_memory_working_set_bytes", id=WEB_V2)
    assert not series(v, "container_oom_events_total", id=WEB_V2)
    assert not series(v, "container_fs_reads_bytes_total", id=WEB_V2)
    assert one(v, "container_memory_rss", id=WEB_V2)[1] == 50 * MiB
    assert series(v, "container_cpu_usage_seconds_total", container_id=T.CID_BATCH)


def test_no_cgroup_mount_is_no_data(tmp_path: Path) -> None:
    from microrack.agent._registry import NoData

    with pytest.raises(NoData):
        collect(tmp_path)


@pytest.mark.parametrize(
    ("path", "kind", "runtime", "qos"),
    [
        ("/system.slice/containerd.service", "service", "", ""),
        (f"/system.slice/crio-{T.CID_DB}.scope", "container", "cri-o", ""),
        (f"/machine.slice/libpod-conmon-{T.CID_DB}.scope", "raw", "", ""),
        (f"/libpod_parent/{T.CID_DB}", "container", "podman", ""),
        (f"/docker/{T.CID_DB}", "container", "docker", ""),
        (f"/kubepods/besteffort/pod{T.UID_BEST}/{T.CID_DB}", "container", "", "besteffort"),
        (f"/kubepods/pod{T.UID_GUAR}", "pod", "", "guaranteed"),
        ("/kubepods.slice/kubepods-besteffort.slice", "qos", "", "besteffort"),
        ("/user.slice/user-1000.slice/session-3.scope", "raw", "", ""),
        (f"/not-docker/{T.CID_DB}", "raw", "", ""),
    ],
)
def test_identify_paths(path: str, kind: str, runtime: str, qos: str) -> None:
    ident = identify(path)
    assert (ident.kind, ident.runtime, ident.qos_class) == (kind, runtime, qos)


def test_pressure_parser_edge_cases(tmp_path: Path) -> None:
    fs = LocalFS(str(tmp_path))
    (tmp_path / "p").write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n")
    assert read_pressure(fs, "/p") == (7e-6, None)  # cpu.pressure before 5.13 has no "full"
    (tmp_path / "q").write_text("garbage\n")
    assert read_pressure(fs, "/q") is None
    assert read_pressure(fs, "/missing") is None


def test_container_throttling_and_a_new_oom_kill(tmp_path: Path) -> None:
    T.k3s_systemd_v2(tmp_path)
    now = [1000.0]
    col = CgroupCollector(LocalFS(str(tmp_path)), clock=lambda: now[0])

    def points() -> dict[str, float]:
        sink = PointSink({})
        col.collect(sink)
        return {p.key.name: p.value for p in sink.points if p.key.label("id") == WEB_V2}

    first = points()
    # Counts seen at start say nothing about when: no age, no ratio yet.
    assert "microrack_container_oom_kill_age_seconds" not in first
    assert "microrack_container_cpu_throttled_ratio" not in first
    d = tmp_path / "sys/fs/cgroup" / WEB_V2.strip("/")
    stat = (d / "cpu.stat").read_text()
    (d / "cpu.stat").write_text(
        stat.replace("nr_periods 1000", "nr_periods 1200").replace(
            "nr_throttled 300", "nr_throttled 380"
        )
    )
    (d / "memory.events").write_text(
        (d / "memory.events").read_text().replace("oom_kill 2", "oom_kill 3")
    )
    now[0] = 1005.0
    second = points()
    assert second["microrack_container_cpu_throttled_ratio"] == pytest.approx(0.4)
    assert second["microrack_container_oom_kill_age_seconds"] == 0.0
    now[0] = 1065.0
    third = points()
    assert third["microrack_container_oom_kill_age_seconds"] == 60.0
    assert third["microrack_container_cpu_throttled_ratio"] == 0.0


def test_limits_are_reread_every_few_collections_and_at_once_for_new_cgroups(
    tmp_path: Path,
) -> None:
    from microrack.agent._collectors.cgroup import SPEC_EVERY

    T.k3s_systemd_v2(tmp_path)
    col = CgroupCollector(LocalFS(str(tmp_path)))

    def limits() -> dict[str, float]:
        sink = PointSink({})
        col.collect(sink)
        return {
            str(p.key.label("id")): p.value
            for p in sink.points
            if p.key.name == "container_spec_memory_limit_bytes"
        }

    assert limits()[WEB_V2] == 256 * MiB
    d = tmp_path / "sys/fs/cgroup" / WEB_V2.strip("/")
    (d / "memory.max").write_text(f"{128 * MiB}\n")
    new = "/system.slice/new.service"
    T.v2_cgroup(tmp_path, new, T.Usage(limit=64 * MiB))
    second = limits()
    assert second[WEB_V2] == 256 * MiB  # not reread yet
    assert second[new] == 64 * MiB  # a new cgroup's limits are read at once
    for _ in range(SPEC_EVERY - 2):
        limits()
    assert limits()[WEB_V2] == 128 * MiB


@pytest.mark.parametrize("build", [T.k3s_systemd_v2, T.k3s_cgroupfs_v1, T.hybrid])
def test_one_cgroup_read_by_path_is_the_walks_read_of_it(tmp_path: Path, build) -> None:
    from microrack.sensors.cgroup import read_cgroup, read_cgroups

    build(tmp_path)
    fs = LocalFS(str(tmp_path))
    layout = detect_layout(fs)
    walked = read_cgroups(fs, layout)
    assert len(walked) >= 3
    for st in walked:
        assert read_cgroup(fs, layout, st.path) == st
    assert read_cgroup(fs, layout, "/system.slice/gone.service") is None


def test_a_cgroup_that_goes_away_during_the_walk_is_skipped(tmp_path: Path) -> None:
    import shutil

    from microrack.sensors.cgroup import read_cgroups

    T.k3s_systemd_v2(tmp_path)
    fs = LocalFS(str(tmp_path))
    gone = "/system.slice/k3s.service"
    assert gone in {st.path for st in read_cgroups(fs)}

    def keep(path: str) -> bool:
        if path == gone:  # listed by the walk, removed before its files are read
            shutil.rmtree(tmp_path / "sys/fs/cgroup" / gone.strip("/"))
        return True

    paths = {st.path for st in read_cgroups(fs, keep=keep)}
    assert gone not in paths and "/" in paths and WEB_V2 in paths


def test_unchanged_values_are_the_same_points_and_changed_ones_are_new(tmp_path: Path) -> None:
    T.k3s_systemd_v2(tmp_path)
    col = CgroupCollector(LocalFS(str(tmp_path)), clock=lambda: 1700000000.0)

    def points() -> dict[tuple, object]:
        sink = PointSink({})
        col.collect(sink)
        return {(p.key.name, p.key.labels): p for p in sink.points}

    first = points()
    d = tmp_path / "sys/fs/cgroup" / WEB_V2.strip("/")
    (d / "memory.current").write_text(f"{999 * MiB}\n")
    (d / "cpu.pressure").write_text("some avg10=0.00 avg60=0.00 avg300=0.00 total=nan\n")
    second = points()
    assert first.keys() - second.keys() == {
        k
        for k in first
        if k[0] == "container_pressure_cpu_waiting_seconds_total" and dict(k[1])["id"] == WEB_V2
    } | {
        k
        for k in first
        if k[0] == "container_pressure_cpu_stalled_seconds_total" and dict(k[1])["id"] == WEB_V2
    }
    usage = next(
        k for k in second if k[0] == "container_memory_usage_bytes" and dict(k[1])["id"] == WEB_V2
    )
    assert second[usage].value == 999 * MiB and second[usage] is not first[usage]
    same = [
        k
        for k in second
        if k in first and second[k].value == first[k].value and k[0].startswith("container_")
    ]  # the per-cgroup families
    assert len(same) > 100 and all(second[k] is first[k] for k in same)
    # a series' labels are the cgroup's own, shared between its families
    web = [
        p.key.labels
        for k, p in second.items()
        if dict(k[1]).get("id") == WEB_V2 and len(k[1]) == len(second[usage].key.labels)
    ]
    assert all(labels is second[usage].key.labels for labels in web)


def test_ring_filter_keeps_the_hubs_container_series_only() -> None:
    from microrack.agent import RingBuffer
    from microrack.agent._collectors.cgroup import ring_keeps
    from microrack.sample import Point, Sample, SeriesKey

    cid = {"id": WEB_V2, "container_id": T.CID_WEB}
    keep = [
        SeriesKey.of("node_load1"),
        SeriesKey.of("container_cpu_usage_seconds_total", "counter", cpu="total", **cid),
        SeriesKey.of("container_memory_working_set_bytes", **cid),
        SeriesKey.of("microrack_container_cpu_throttled_ratio", **cid),
        SeriesKey.of("container_memory_working_set_bytes", id="/system.slice/k3s.service"),
        SeriesKey.of("microrack_kube_pods", qos_class="burstable"),
    ]
    drop = [
        SeriesKey.of("container_memory_rss", **cid),
        SeriesKey.of("container_fs_reads_bytes_total", "counter", device="/dev/sda", **cid),
        SeriesKey.of("container_memory_working_set_bytes", id="/kubepods.slice"),
        SeriesKey.of("microrack_pod_cpu_throttled_ratio", id="/kubepods.slice/p", pod_uid="u"),
    ]
    assert all(ring_keeps(k) for k in keep)
    assert not any(ring_keeps(k) for k in drop)
    ring = RingBuffer(4, keep=ring_keeps)
    keys = [*keep[:3], *drop, *keep[3:]]
    for seq in (1, 2):
        ring.append(Sample(seq, 100.0 + seq, tuple(Point(k, i + seq) for i, k in enumerate(keys))))
    got = ring.since(0)
    assert [p.key for p in got[1].points] == keep
    assert [p.value for p in got[1].points] == [2, 3, 4, 9, 10, 11]


def test_agent_serves_every_cgroup_series_and_rings_the_hubs_few(tmp_path: Path) -> None:
    import json

    from microrack.agent import Agent, AgentConfig
    from microrack.sample import decode_batch
    from support import http_get

    T.k3s_systemd_v2(tmp_path)
    cfg = AgentConfig(host="127.0.0.1", port=0, interval=0.2, node="k3s-a", board=None, buffer=5)
    agent = Agent(cfg, LocalFS(str(tmp_path)))
    agent.start()
    try:
        deadline = time.monotonic() + 30
        while agent.ring.last_seq < 2:
            assert time.monotonic() < deadline, "the agent stopped collecting"
            time.sleep(0.05)
        host, port = agent.address
        text = http_get(f"http://{host}:{port}/metrics")[1].decode()
        assert f'container_memory_rss{{container="web",container_id="{T.CID_WEB}"' in text
        assert 'node_scrape_collector_success{collector="cgroup"} 1' in text
        batch = decode_batch(
            json.loads(http_get(f"http://{host}:{port}/api/v1/samples?since=0")[1])
        )
        names = {p.key.name for s in batch.samples for p in s.points}
        assert "container_cpu_usage_seconds_total" in names
        assert "container_memory_rss" not in names
    finally:
        agent.stop()


def _plain_render(points: list, help_text: dict[str, str]) -> str:
    """The exposition written the obvious way, the reference for the cached renderer."""
    from microrack.exposition import escape_help, escape_label, format_value

    fams: dict[str, list[str]] = {}
    types: dict[str, str] = {}
    for p in points:
        k = p.key
        types.setdefault(k.name, k.type)
        inner = ",".join(f'{n}="{escape_label(v)}"' for n, v in k.labels)
        fams.setdefault(k.name, []).append(
            f"{k.name}{{{inner}}} {format_value(p.value)}"
            if k.labels
            else f"{k.name} {format_value(p.value)}"
        )
    out = []
    for name, lines in fams.items():
        text = help_text.get(name, name.replace("_", " ")).strip()
        out.append(f"# HELP {name} {escape_help(text)}")
        out.append(f"# TYPE {name} {types[name]}")
        out.extend(lines)
    return "\n".join([*out, ""])


def test_cached_label_rendering_matches_plain_rendering_under_churn(tmp_path: Path) -> None:
    """A k3s node's series, hostile label values and odd numbers: byte for byte the same text,
    also after the label cache was dropped for growing past its bound."""
    import microrack.exposition as X
    from microrack.sample import Point, SeriesKey

    T.k3s_systemd_v2(tmp_path)
    sink = PointSink({})
    CgroupCollector(LocalFS(tmp_path)).collect(sink)
    odd = [
        Point(SeriesKey.of("odd", "gauge", a='q"\\\nz\u00e9', b="", c="}{,="), v)
        for v in (
            float("nan"),
            float("inf"),
            -float("inf"),
            -0.0,
            1e15,
            1e15 - 1,
            -1e15,
            0.1,
            1e300,
            5e-324,
            2.5,
        )
    ]
    points = [*sink.points, *odd]
    assert X.render(points, CGROUP_HELP) == _plain_render(points, CGROUP_HELP)
    # the same pair text served from the cache on the next scrape
    assert X.render(points, CGROUP_HELP) == _plain_render(points, CGROUP_HELP)
    churn = [
        Point(SeriesKey.of("churn", "gauge", id=f"/pod{i}"), 1.0) for i in range(X._PAIRS_MAX + 10)
    ]
    X.render(churn, {})
    assert len(X._PAIRS) > X._PAIRS_MAX
    assert X.render(points, CGROUP_HELP) == _plain_render(points, CGROUP_HELP)
    assert len(X._PAIRS) <= len({lab for p in points for lab in p.key.labels})


def test_render_bytes_is_the_rendered_text_and_raw_families_encoded(tmp_path: Path) -> None:
    import microrack.exposition as X
    from microrack.sample import Point, SeriesKey

    T.k3s_systemd_v2(tmp_path)
    sink = PointSink({})
    CgroupCollector(LocalFS(tmp_path)).collect(sink)
    points = [*sink.points, Point(SeriesKey.of("odd", "gauge", a='\u00e9\\"\n'), float("nan"))]
    raw = ['# HELP h x\n# TYPE h histogram\nh_bucket{le="+Inf"} 1\n', "# TYPE \u00e9 gauge\n"]
    body = X.render_bytes(points, CGROUP_HELP, raw)
    assert body == (X.render(points, CGROUP_HELP) + "".join(raw)).encode()
    assert X.render_bytes([], {}) == b""
    assert X.render_bytes([], {}, raw) == "".join(raw).encode()

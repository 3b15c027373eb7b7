"""Hand-built cgroup trees in the kernel's and the runtimes' real file formats.

Each builder writes under a root directory what a host of that kind has:
the cgroup files (cgroup v2 ``cpu.stat``/``memory.stat``/``io.stat``/PSI, or
v1 ``cpuacct.*``/``memory.*``/``blkio.*``) and the runtime's state files
(containerd's OCI ``config.json`` with CRI annotations, Docker's
``config.v2.json``, podman's ``containers.json``), with values chosen so that
every derived series can be checked by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

UID_BURST = "0d1b5e3c-7a7e-4c55-9d4f-1f5f0a3b2c11"
UID_BEST = "a6f0c1d2-3b4e-4f50-8a9b-0c1d2e3f4a5b"
UID_GUAR = "f00dbabe-0000-4000-8000-000000000001"
CID_WEB = "1" * 63 + "a"
CID_WEB_PAUSE = "2" * 63 + "b"
CID_BATCH = "3" * 63 + "c"
CID_DB = "4" * 63 + "d"
CID_DOCKER = "5" * 63 + "e"
CID_PODMAN = "6" * 63 + "f"

MEMORY_STAT_V2 = """anon {anon}
file {file}
kernel 1048576
kernel_stack 65536
pagetables 131072
sec_pagetables 0
percpu 8192
sock 0
vmalloc 0
shmem 0
zswap 0
zswapped 0
file_mapped 4194304
file_dirty 0
file_writeback 0
swapcached 0
anon_thp 0
file_thp 0
shmem_thp 0
inactive_anon {anon}
active_anon 0
inactive_file {inactive_file}
active_file {active_file}
unevictable 0
slab_reclaimable 262144
slab_unreclaimable 131072
slab 393216
workingset_refault_anon 0
workingset_refault_file 12
pgfault 40960
pgmajfault 7
"""

MEMORY_STAT_V1 = """cache {file}
rss {anon}
rss_huge 0
shmem 0
mapped_file 4194304
dirty 0
writeback 0
swap {swap}
pgpgin 12345
pgpgout 2345
pgfault 40960
pgmajfault 7
inactive_anon {anon}
active_anon 0
inactive_file {inactive_file}
active_file {active_file}
unevictable 0
hierarchical_memory_limit 9223372036854771712
hierarchical_memsw_limit 9223372036854771712
total_cache {file}
total_rss {anon}
total_rss_huge 0
total_shmem 0
total_mapped_file 4194304
total_dirty 0
total_writeback 0
total_swap {swap}
total_pgpgin 12345
total_pgpgout 2345
total_pgfault 40960
total_pgmajfault 7
total_inactive_anon {anon}
total_active_anon 0
total_inactive_file {inactive_file}
total_active_file {active_file}
total_unevictable 0
"""


@dataclass(frozen=True)
class Usage:
    """The figures one cgroup is built with (and the expected series)."""

    cpu_usec: int = 2_500_000
    user_usec: int = 2_000_000
    system_usec: int = 500_000
    periods: int = 0
    throttled: int = 0
    throttled_usec: int = 0
    quota: int | None = None  # microseconds per 100 ms period; None: no limit
    weight: int = 100
    anon: int = 50 << 20
    file: int = 30 << 20
    inactive_file: int = 20 << 20
    swap: int = 0
    limit: int | None = None
    oom_kill: int = 0
    rbytes: int = 4096
    wbytes: int = 8192
    rios: int = 1
    wios: int = 2
    procs: tuple[int, ...] = (100,)

    @property
    def usage(self) -> int:
        return self.anon + self.file + (1 << 20)  # + kernel memory, as memory.current counts it

    @property
    def active_file(self) -> int:
        return self.file - self.inactive_file


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def v2_cgroup(root: Path, rel: str, u: Usage, *, psi: bool = True) -> Path:
    d = root / "sys/fs/cgroup" / rel.strip("/") if rel != "/" else root / "sys/fs/cgroup"
    d.mkdir(parents=True, exist_ok=True)
    _write(d / "cgroup.procs", "".join(f"{p}\n" for p in u.procs))
    _write(d / "cgroup.type", "domain\n")
    _write(d / "cgroup.events", "populated 1\nfrozen 0\n")
    _write(
        d / "cpu.stat",
        f"usage_usec {u.cpu_usec}\nuser_usec {u.user_usec}\nsystem_usec {u.system_usec}\n"
        f"core_sched.force_idle_usec 0\nnr_periods {u.periods}\nnr_throttled {u.throttled}\n"
        f"throttled_usec {u.throttled_usec}\nnr_bursts 0\nburst_usec 0\n",
    )
    _write(d / "cpu.max", f"{'max' if u.quota is None else u.quota} 100000\n")
    _write(d / "cpu.weight", f"{u.weight}\n")
    _write(d / "memory.current", f"{u.usage}\n")
    _write(
        d / "memory.stat",
        MEMORY_STAT_V2.format(
            anon=u.anon, file=u.file, inactive_file=u.inactive_file, active_file=u.active_file
        ),
    )
    _write(d / "memory.max", "max\n" if u.limit is None else f"{u.limit}\n")
    _write(d / "memory.swap.current", f"{u.swap}\n")
    _write(
        d / "memory.events",
        f"low 0\nhigh 0\nmax {u.oom_kill * 3}\noom {u.oom_kill}\noom_kill {u.oom_kill}\n"
        "oom_group_kill 0\n",
    )
    _write(
        d / "io.stat",
        f"259:0 rbytes={u.rbytes} wbytes={u.wbytes} rios={u.rios} wios={u.wios} dbytes=0 dios=0\n",
    )
    if psi:
        _write(
            d / "cpu.pressure",
            "some avg10=0.00 avg60=0.10 avg300=0.05 total=1500000\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=500000\n",
        )
        _write(
            d / "memory.pressure",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=250000\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=125000\n",
        )
        _write(
            d / "io.pressure",
            "some avg10=0.00 avg60=0.00 avg300=0.00 total=3000000\n"
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=2000000\n",
        )
    return d


def v1_cgroup(root: Path, rel: str, u: Usage, *, cpu_dir: str = "cpu,cpuacct") -> None:
    base = root / "sys/fs/cgroup"
    sub = "" if rel == "/" else rel.strip("/")
    cpu = base / cpu_dir / sub
    cpu.mkdir(parents=True, exist_ok=True)
    procs = "".join(f"{p}\n" for p in u.procs)
    for d in (cpu, base / "memory" / sub, base / "blkio" / sub, base / "pids" / sub):
        _write(d / "cgroup.procs", procs)
        _write(d / "tasks", procs)
        _write(d / "notify_on_release", "0\n")
    _write(cpu / "cpuacct.usage", f"{u.cpu_usec * 1000}\n")
    _write(
        cpu / "cpuacct.stat", f"user {u.user_usec // 10_000}\nsystem {u.system_usec // 10_000}\n"
    )
    _write(
        cpu / "cpu.stat",
        f"nr_periods {u.periods}\nnr_throttled {u.throttled}\n"
        f"throttled_time {u.throttled_usec * 1000}\n",
    )
    _write(cpu / "cpu.cfs_quota_us", f"{-1 if u.quota is None else u.quota}\n")
    _write(cpu / "cpu.cfs_period_us", "100000\n")
    _write(cpu / "cpu.shares", f"{1024 * u.weight // 100}\n")
    mem = base / "memory" / sub
    _write(mem / "memory.usage_in_bytes", f"{u.usage}\n")
    _write(
        mem / "memory.stat",
        MEMORY_STAT_V1.format(
            anon=u.anon,
            file=u.file,
            inactive_file=u.inactive_file,
            active_file=u.active_file,
            swap=u.swap,
        ),
    )
    _write(
        mem / "memory.limit_in_bytes",
        f"{9223372036854771712 if u.limit is None else u.limit}\n",
    )
    _write(mem / "memory.oom_control", f"oom_kill_disable 0\nunder_oom 0\noom_kill {u.oom_kill}\n")
    blk = base / "blkio" / sub
    _write(
        blk / "blkio.throttle.io_service_bytes",
        f"8:0 Read {u.rbytes}\n8:0 Write {u.wbytes}\n8:0 Sync 0\n8:0 Async {u.rbytes + u.wbytes}\n"
        f"8:0 Discard 0\n8:0 Total {u.rbytes + u.wbytes}\nTotal {u.rbytes + u.wbytes}\n",
    )
    _write(
        blk / "blkio.throttle.io_serviced",
        f"8:0 Read {u.rios}\n8:0 Write {u.wios}\n8:0 Sync 0\n8:0 Async {u.rios + u.wios}\n"
        f"8:0 Discard 0\n8:0 Total {u.rios + u.wios}\nTotal {u.rios + u.wios}\n",
    )


def block_device(root: Path, majmin: str, name: str) -> None:
    """``/sys/dev/block/MAJ:MIN`` -> ``../../block/NAME`` as sysfs links it."""
    target = root / "sys/devices/virtual/block" / name
    target.mkdir(parents=True, exist_ok=True)
    link = root / "sys/dev/block" / majmin
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(Path("../../devices/virtual/block") / name)


def containerd_state(
    root: Path, cid: str, annotations: dict[str, str], *, k3s: bool = True
) -> None:
    base = "run/k3s/containerd" if k3s else "run/containerd"
    path = root / base / "io.containerd.runtime.v2.task/k8s.io" / cid / "config.json"
    doc = {"ociVersion": "1.1.0", "process": {"args": ["/pause"]}, "annotations": annotations}
    _write(path, json.dumps(doc))


def cri_annotations(pod: str, namespace: str, uid: str, container: str, image: str) -> dict:
    return {
        "io.kubernetes.cri.container-type": "container",
        "io.kubernetes.cri.container-name": container,
        "io.kubernetes.cri.image-name": image,
        "io.kubernetes.cri.sandbox-name": pod,
        "io.kubernetes.cri.sandbox-namespace": namespace,
        "io.kubernetes.cri.sandbox-uid": uid,
    }


def sandbox_annotations(pod: str, namespace: str, uid: str) -> dict:
    return {
        "io.kubernetes.cri.container-type": "sandbox",
        "io.kubernetes.cri.sandbox-name": pod,
        "io.kubernetes.cri.sandbox-namespace": namespace,
        "io.kubernetes.cri.sandbox-uid": uid,
    }


WEB = Usage(
    cpu_usec=7_000_000,
    user_usec=5_000_000,
    system_usec=2_000_000,
    periods=1000,
    throttled=300,
    throttled_usec=1_500_000,
    quota=50_000,
    limit=256 << 20,
    oom_kill=2,
)
BATCH = Usage(
    cpu_usec=1_000_000,
    user_usec=900_000,
    system_usec=100_000,
    anon=10 << 20,
    file=5 << 20,
    inactive_file=5 << 20,
)
DB = Usage(
    cpu_usec=3_000_000,
    periods=500,
    throttled=0,
    quota=100_000,
    limit=512 << 20,
    anon=200 << 20,
    file=100 << 20,
    inactive_file=60 << 20,
    swap=4 << 20,
)


def k3s_systemd_v2(root: Path) -> None:
    """A k3s node, cgroup v2, systemd driver: one pod of each QoS class."""
    (root / "sys/fs/cgroup").mkdir(parents=True, exist_ok=True)
    _write(
        root / "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory hugetlb pids rdma misc\n"
    )
    v2_cgroup(root, "/", Usage(cpu_usec=90_000_000, procs=(1,)))
    v2_cgroup(root, "/system.slice", Usage(procs=()))
    v2_cgroup(root, "/system.slice/k3s.service", Usage(cpu_usec=20_000_000, procs=(812,)))
    v2_cgroup(root, "/kubepods.slice", Usage(procs=()))
    burst = "/kubepods.slice/kubepods-burstable.slice"
    v2_cgroup(root, burst, Usage(procs=()))
    pod = f"{burst}/kubepods-burstable-pod{UID_BURST.replace('-', '_')}.slice"
    v2_cgroup(root, pod, replace(WEB, procs=()))
    v2_cgroup(root, f"{pod}/cri-containerd-{CID_WEB}.scope", WEB)
    v2_cgroup(root, f"{pod}/cri-containerd-{CID_WEB_PAUSE}.scope", Usage(procs=(200,)))
    best = "/kubepods.slice/kubepods-besteffort.slice"
    v2_cgroup(root, best, Usage(procs=()))
    bpod = f"{best}/kubepods-besteffort-pod{UID_BEST.replace('-', '_')}.slice"
    v2_cgroup(root, bpod, Usage(procs=()))
    v2_cgroup(root, f"{bpod}/cri-containerd-{CID_BATCH}.scope", BATCH)
    gpod = f"/kubepods.slice/kubepods-pod{UID_GUAR.replace('-', '_')}.slice"
    v2_cgroup(root, gpod, Usage(procs=()))
    v2_cgroup(root, f"{gpod}/cri-containerd-{CID_DB}.scope", DB)
    containerd_state(
        root,
        CID_WEB,
        cri_annotations("web-7d9f", "shop", UID_BURST, "web", "docker.io/library/nginx:1.25"),
    )
    containerd_state(root, CID_WEB_PAUSE, sandbox_annotations("web-7d9f", "shop", UID_BURST))
    containerd_state(
        root,
        CID_BATCH,
        cri_annotations("batch-x1", "jobs", UID_BEST, "worker", "ghcr.io/example/worker:2"),
    )
    # The guaranteed pod's container has no state file: labels from the path only.
    block_device(root, "259:0", "nvme0n1")


def k3s_cgroupfs_v1(root: Path) -> None:
    """A k3s node, cgroup v1 (cpu,cpuacct joint mount), cgroupfs driver."""
    base = root / "sys/fs/cgroup"
    for d in ("cpu,cpuacct", "memory", "blkio", "pids", "systemd"):
        (base / d).mkdir(parents=True, exist_ok=True)
    (base / "cpu").symlink_to("cpu,cpuacct")
    (base / "cpuacct").symlink_to("cpu,cpuacct")
    v1_cgroup(root, "/", Usage(cpu_usec=90_000_000, procs=(1,)))
    v1_cgroup(root, "/kubepods", Usage(procs=()))
    v1_cgroup(root, "/kubepods/burstable", Usage(procs=()))
    v1_cgroup(root, f"/kubepods/burstable/pod{UID_BURST}", Usage(procs=()))
    v1_cgroup(root, f"/kubepods/burstable/pod{UID_BURST}/{CID_WEB}", WEB)
    v1_cgroup(root, "/kubepods/besteffort", Usage(procs=()))
    v1_cgroup(root, f"/kubepods/besteffort/pod{UID_BEST}", Usage(procs=()))
    v1_cgroup(root, f"/kubepods/besteffort/pod{UID_BEST}/{CID_BATCH}", BATCH)
    v1_cgroup(root, f"/kubepods/pod{UID_GUAR}", Usage(procs=()))
    v1_cgroup(root, f"/kubepods/pod{UID_GUAR}/{CID_DB}", DB)
    containerd_state(
        root,
        CID_WEB,
        cri_annotations("web-7d9f", "shop", UID_BURST, "web", "docker.io/library/nginx:1.25"),
    )
    block_device(root, "8:0", "sda")


def docker_v2(root: Path) -> None:
    """A Docker host on cgroup v2 (systemd driver)."""
    _write(root / "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
    v2_cgroup(root, "/", Usage(procs=(1,)))
    v2_cgroup(root, "/system.slice", Usage(procs=()))
    v2_cgroup(root, "/system.slice/docker.service", Usage(procs=(640,)))
    v2_cgroup(root, f"/system.slice/docker-{CID_DOCKER}.scope", DB, psi=False)
    doc = {
        "ID": CID_DOCKER,
        "Name": "/postgres",
        "Config": {"Image": "postgres:16", "Labels": {"com.docker.compose.service": "db"}},
        "State": {"Running": True, "Pid": 4242},
    }
    _write(root / f"var/lib/docker/containers/{CID_DOCKER}/config.v2.json", json.dumps(doc))
    block_device(root, "259:0", "nvme0n1")


def podman_v2(root: Path) -> None:
    """A podman host on cgroup v2: the container scope and its conmon scope."""
    _write(root / "sys/fs/cgroup/cgroup.controllers", "cpuset cpu io memory pids\n")
    v2_cgroup(root, "/", Usage(procs=(1,)))
    v2_cgroup(root, "/machine.slice", Usage(procs=()))
    v2_cgroup(root, f"/machine.slice/libpod-{CID_PODMAN}.scope", BATCH)
    v2_cgroup(root, f"/machine.slice/libpod-conmon-{CID_PODMAN}.scope", Usage(procs=(77,)))
    entries = [
        {
            "id": CID_PODMAN,
            "names": ["grafana"],
            "image": "9" * 64,
            "layer": "8" * 64,
            "metadata": json.dumps(
                {"image-name": "docker.io/grafana/grafana:10.4.0", "name": "grafana"}
            ),
        }
    ]
    _write(
        root / "var/lib/containers/storage/overlay-containers/containers.json", json.dumps(entries)
    )
    block_device(root, "259:0", "nvme0n1")


def hybrid(root: Path) -> None:
    """systemd's hybrid layout: v1 controllers, v2 at /sys/fs/cgroup/unified (PSI only)."""
    base = root / "sys/fs/cgroup"
    for d in ("cpu,cpuacct", "memory", "blkio", "pids"):
        (base / d).mkdir(parents=True, exist_ok=True)
    v1_cgroup(root, "/", Usage(procs=(1,)))
    v1_cgroup(root, "/system.slice", Usage(procs=()))
    v1_cgroup(root, "/system.slice/ssh.service", BATCH)
    uni = base / "unified"
    _write(uni / "cgroup.controllers", "\n")
    _write(uni / "cgroup.procs", "1\n")
    _write(uni / "system.slice/cgroup.procs", "")
    _write(uni / "system.slice/ssh.service/cgroup.procs", "100\n")
    _write(
        uni / "system.slice/ssh.service/cpu.pressure",
        "some avg10=0.00 avg60=0.00 avg300=0.00 total=4000000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=1000000\n",
    )
    block_device(root, "8:0", "sda")

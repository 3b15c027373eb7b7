"""Who a cgroup is: a systemd service, a container (Docker, containerd, CRI-O, podman), a pod.

:func:`identify` reads only the cgroup's path, as the kubelet and the
runtimes lay it out (systemd driver: ``kubepods.slice/kubepods-burstable.slice/
kubepods-burstable-pod<UID>.slice/cri-containerd-<ID>.scope``; cgroupfs
driver: ``/kubepods/burstable/pod<UID>/<ID>``).  :class:`RuntimeMetadata`
adds names, image, pod and namespace from the runtimes' own state files when
they are there — Docker's ``config.v2.json``, the OCI ``config.json`` that
containerd and CRI-O keep per running container (with the CRI annotations
the kubelet sets), podman's ``containers.json`` — each source optional.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from microrack.sensors._fs import HostFS
from microrack.sensors._util import list_opt, read_opt

__all__ = ["ContainerIdentity", "RuntimeMetadata", "identify"]

_ID = r"[0-9a-f]{64}"
# systemd driver: docker-<ID>.scope; cgroupfs driver: libpod-<ID> under /libpod_parent.
_SCOPE = re.compile(rf"^(docker|cri-containerd|crio|libpod)-({_ID})(?:\.scope)?$")
_CONMON = re.compile(rf"^(crio|libpod)-conmon-{_ID}(?:\.scope)?$")
_BARE_ID = re.compile(rf"^({_ID})$")
_POD_SLICE = re.compile(r"^kubepods(?:-(besteffort|burstable))?-pod([0-9a-f_]{36})\.slice$")
_POD_DIR = re.compile(r"^pod([0-9a-f-]{36})$")
_QOS = {"besteffort", "burstable"}
_RUNTIME = {"docker": "docker", "cri-containerd": "containerd", "crio": "cri-o", "libpod": "podman"}


class ContainerIdentity(NamedTuple):
    """What a cgroup path says about itself; empty strings where it says nothing."""

    kind: str
    """``container``, ``pod``, ``qos`` (a kubepods QoS level), ``service``, ``slice`` or ``raw``."""
    runtime: str = ""
    container_id: str = ""
    pod_uid: str = ""
    qos_class: str = ""
    name: str = ""


def identify(path: str) -> ContainerIdentity:
    """Read a cgroup path (``/system.slice/docker-<ID>.scope``) as the runtimes write it."""
    parts = [p for p in path.split("/") if p]
    if not parts:
        return ContainerIdentity("raw")
    in_kube = parts[0] in ("kubepods", "kubepods.slice")
    pod_uid = qos = ""
    if in_kube:
        qos = "guaranteed"
        for p in parts[1:]:
            m = _POD_SLICE.match(p)
            if m:
                qos = m.group(1) or "guaranteed"
                pod_uid = m.group(2).replace("_", "-")
                continue
            m = _POD_DIR.match(p)
            if m:
                pod_uid = m.group(1)
                continue
            if p in _QOS or p in ("kubepods-besteffort.slice", "kubepods-burstable.slice"):
                qos = p.removeprefix("kubepods-").removesuffix(".slice")
    last = parts[-1]
    m = _SCOPE.match(last)
    if m:
        return ContainerIdentity(
            "container", _RUNTIME[m.group(1)], m.group(2), pod_uid, qos if in_kube else ""
        )
    if _CONMON.match(last):
        return ContainerIdentity("raw", name=last)
    m = _BARE_ID.match(last)
    if m and len(parts) >= 2:
        # cgroupfs driver: /docker/<ID>, /kubepods/<qos>/pod<UID>/<ID>, /libpod_parent/libpod-<ID>.
        runtime = {"docker": "docker", "libpod_parent": "podman"}.get(parts[-2], "")
        if in_kube or runtime:
            return ContainerIdentity(
                "container", runtime, m.group(1), pod_uid, qos if in_kube else ""
            )
    if in_kube:
        if pod_uid:
            if _POD_SLICE.match(last) or _POD_DIR.match(last):
                return ContainerIdentity("pod", pod_uid=pod_uid, qos_class=qos)
            return ContainerIdentity("raw", pod_uid=pod_uid, qos_class=qos)
        return ContainerIdentity("qos", qos_class=qos if len(parts) > 1 else "")
    if last.endswith(".service"):
        return ContainerIdentity("service", name=last)
    if last.endswith(".slice"):
        return ContainerIdentity("slice", name=last)
    return ContainerIdentity("raw")


class Metadata(NamedTuple):
    """What a runtime's state file says about one container."""

    name: str = ""
    image: str = ""
    pod: str = ""
    namespace: str = ""
    container: str = ""
    pod_uid: str = ""
    sandbox: bool = False


# Where runtimes keep per-container state (host paths); k3s runs its own containerd.
DOCKER_DIRS = ("/var/lib/docker/containers",)
CONTAINERD_TASK_DIRS = (
    "/run/containerd/io.containerd.runtime.v2.task",
    "/run/k3s/containerd/io.containerd.runtime.v2.task",
)
CONTAINERS_STORAGE = ("/var/lib/containers/storage", "/run/containers/storage")


def _json(fs: HostFS, path: str) -> object:
    text = read_opt(fs, path)
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _dict(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _s(value: object) -> str:
    return value if isinstance(value, str) else ""


def _from_annotations(ann: dict[str, object]) -> Metadata:
    """CRI annotations (containerd's ``io.kubernetes.cri.*``, CRI-O's ``io.kubernetes.*``)."""
    container = _s(ann.get("io.kubernetes.cri.container-name")) or _s(
        ann.get("io.kubernetes.container.name")
    )
    kind = _s(ann.get("io.kubernetes.cri.container-type")) or _s(
        ann.get("io.kubernetes.cri-o.ContainerType")
    )
    sandbox = kind == "sandbox"
    return Metadata(
        name=_s(ann.get("io.kubernetes.cri-o.Name")) or container,
        image=_s(ann.get("io.kubernetes.cri.image-name"))
        or _s(ann.get("io.kubernetes.cri-o.ImageName")),
        pod=_s(ann.get("io.kubernetes.cri.sandbox-name")) or _s(ann.get("io.kubernetes.pod.name")),
        namespace=_s(ann.get("io.kubernetes.cri.sandbox-namespace"))
        or _s(ann.get("io.kubernetes.pod.namespace")),
        container="POD" if sandbox else container,
        pod_uid=_s(ann.get("io.kubernetes.cri.sandbox-uid"))
        or _s(ann.get("io.kubernetes.pod.uid")),
        sandbox=sandbox,
    )


class RuntimeMetadata:
    """Looks up containers in the runtimes' state files; caches by container id."""

    def __init__(self, fs: HostFS) -> None:
        self.fs = fs
        self._cache: dict[str, Metadata] = {}
        self._podman: dict[str, Metadata] | None = None

    def lookup(self, ident: ContainerIdentity) -> Metadata:
        cid = ident.container_id
        if not cid:
            return Metadata()
        hit = self._cache.get(cid)
        if hit is not None:
            return hit
        found = self._find(ident.runtime, cid)
        # Remember misses too, but only containers: ids are never reused.
        self._cache[cid] = found
        return found

    def forget_except(self, live: set[str]) -> None:
        """Drop cached containers that no longer exist."""
        for cid in [c for c in self._cache if c not in live]:
            del self._cache[cid]
        self._podman = None

    def _find(self, runtime: str, cid: str) -> Metadata:
        order = {
            "docker": (self._docker, self._containerd),
            "containerd": (self._containerd,),
            "cri-o": (self._oci_storage,),
            "podman": (self._podman_lookup, self._oci_storage),
        }.get(runtime, (self._containerd, self._docker, self._oci_storage, self._podman_lookup))
        for source in order:
            meta = source(cid)
            if meta is not None:
                return meta
        return Metadata()

    def _docker(self, cid: str) -> Metadata | None:
        for base in DOCKER_DIRS:
            doc = _json(self.fs, f"{base}/{cid}/config.v2.json")
            if not isinstance(doc, dict):
                continue
            config = _dict(doc.get("Config"))
            kube = _from_annotations(_dict(config.get("Labels")))
            return kube._replace(
                name=_s(doc.get("Name")).lstrip("/"), image=_s(config.get("Image")) or kube.image
            )
        return None

    def _containerd(self, cid: str) -> Metadata | None:
        for base in CONTAINERD_TASK_DIRS:
            for namespace in list_opt(self.fs, base):
                doc = _json(self.fs, f"{base}/{namespace}/{cid}/config.json")
                if isinstance(doc, dict):
                    return _from_annotations(_dict(doc.get("annotations")))
        return None

    def _oci_storage(self, cid: str) -> Metadata | None:
        for base in CONTAINERS_STORAGE:
            for d in [d for d in list_opt(self.fs, base) if d.endswith("-containers")]:
                doc = _json(self.fs, f"{base}/{d}/{cid}/userdata/config.json")
                if not isinstance(doc, dict):
                    continue
                meta = _from_annotations(_dict(doc.get("annotations")))
                if not meta.name:
                    podman = self._podman_lookup(cid)
                    if podman is not None:
                        return podman
                return meta
        return None

    def _podman_lookup(self, cid: str) -> Metadata | None:
        if self._podman is None:
            self._podman = {}
            for base in CONTAINERS_STORAGE:
                # One containers.json per storage driver: overlay-containers, vfs-containers...
                docs = [
                    _json(self.fs, f"{base}/{d}/containers.json")
                    for d in list_opt(self.fs, base)
                    if d.endswith("-containers")
                ]
                entries = [e for doc in docs if isinstance(doc, list) for e in doc]
                for entry in entries:
                    if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                        continue
                    names = entry.get("names")
                    name = _s(names[0]) if isinstance(names, list) and names else ""
                    image = ""
                    raw = entry.get("metadata")
                    if isinstance(raw, str):
                        try:
                            md = json.loads(raw)
                        except ValueError:
                            md = {}
                        if isinstance(md, dict):
                            image = _s(md.get("image-name"))
                            name = name or _s(md.get("name"))
                    self._podman[entry["id"]] = Metadata(name=name, image=image)
        return self._podman.get(cid)

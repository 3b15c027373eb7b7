"""A real podman container for agent tests: an image from a busybox rootfs the test builds.

No registry is reachable here, so the image is imported from a tarball; the
container runs with no network and explicit ulimits (podman's defaults read
the host's, which a CI runner may set oddly).  On the hybrid cgroup layout
podman is told to use runc, as crun refuses it.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from microrack.sensors import LocalFS
from microrack.sensors.cgroup import detect_layout
from support import missing, require_binary, require_root


def podman(
    *args: str, check: bool = True, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    argv = ["podman", "--cgroup-manager=cgroupfs"]
    if detect_layout(LocalFS("/")).version == "hybrid":
        argv += ["--runtime", "runc"]  # crun refuses the hybrid layout
    return subprocess.run(
        [*argv, *args], capture_output=True, text=True, check=check, timeout=timeout
    )


@contextmanager
def busybox_image(tmp_path: Path, tag: str, applets: tuple[str, ...]) -> Iterator[str]:
    """``localhost/TAG-PID:1`` holding busybox and ``applets``; removed afterwards."""
    require_root()
    require_binary("podman")
    busybox = require_binary("busybox", "/bin/busybox")
    if detect_layout(LocalFS("/")).version == "hybrid":
        require_binary("runc", "/usr/sbin/runc")
    root = tmp_path / "rootfs"
    (root / "bin").mkdir(parents=True)
    (root / "bin/busybox").write_bytes(Path(busybox).read_bytes())
    (root / "bin/busybox").chmod(0o755)
    for applet in applets:
        (root / "bin" / applet).symlink_to("busybox")
    tar = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-C", str(root), "-cf", str(tar), "."], check=True)
    image = f"localhost/{tag}-{os.getpid()}:1"
    podman("import", str(tar), image)
    try:
        yield image
    finally:
        podman("rmi", "-f", image, check=False)


def run_container(image: str, name: str, *command: str) -> str:
    """Starts ``command`` detached in container ``name``; its id.

    Fails (under CI) or skips when podman cannot run a container here.
    """
    run = podman(
        "run",
        "-d",
        "--name",
        name,
        "--network",
        "none",
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=4096:4096",
        image,
        *command,
        check=False,
    )
    if run.returncode != 0:
        podman("rm", "-f", "-t", "0", name, check=False)
        missing(f"podman able to run a container here: {run.stderr.strip()[-300:]}")
    return run.stdout.strip().splitlines()[-1]

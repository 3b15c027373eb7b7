"""The single-file agent and Debian root filesystems of the field's processors, built once.

Both are cached outside the checkout, keyed by their inputs: the root
filesystems by ``scripts/rootfs.sh`` (/var/cache/microrack/rootfs-...), the
wheels the single file carries in /var/cache/microrack/wheels.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from support import IN_CI, microrack_cmd, missing, require_root

REPO = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MICRORACK_CACHE", "/var/cache/microrack"))
#: Debian architecture -> what ``platform.machine()`` says there.
MACHINE = {"amd64": "x86_64", "arm64": "aarch64", "armhf": "armv7l", "riscv64": "riscv64"}


def build_pyz(out: Path, *archs: str) -> Path:
    r = subprocess.run(
        microrack_cmd(
            "build",
            "agent",
            "--out",
            str(out),
            "--python",
            "3.11",
            "--python",
            "3.13",  # trixie's, on riscv64
            *[a for arch in archs for a in ("--arch", arch)],
            "--wheels",
            str(CACHE / "wheels"),
            "--force",
        ),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert r.returncode == 0, r.stderr
    return out


def rootfs(arch: str) -> Path:
    """The cached Debian root filesystem of ``arch`` (built on first use)."""
    require_root()
    for tool in ("mmdebstrap", "qemu-aarch64-static", "unshare"):
        if shutil.which(tool) is None:
            missing(f"program {tool!r} (Debian: mmdebstrap, qemu-user-static, util-linux)")
    r = subprocess.run(
        ["bash", str(REPO / "scripts/rootfs.sh"), arch],
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if r.returncode != 0:
        detail = r.stderr.strip()[-2000:]
        if IN_CI:
            raise AssertionError(f"rootfs.sh {arch} failed: {detail}")
        missing(f"a Debian {arch} root filesystem: {detail}")
    return Path(r.stdout.strip().splitlines()[-1])


def in_rootfs(root: Path, shared: Path, argv: list[str], env: dict[str, str]) -> list[str]:
    """Run ``argv`` chrooted in ``root`` with the host's /proc and /sys, ``shared`` as /tmp.

    The mounts live in a private mount namespace that ends with the command, so
    the cached root filesystem is never changed.
    """
    exports = " ".join(f"{k}={v}" for k, v in env.items())
    script = (
        f"mount --bind /proc {root}/proc && mount --rbind /sys {root}/sys && "
        f'mount --bind {shared} {root}/tmp && exec env {exports} chroot {root} "$@"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", *argv]

"""The image: deploy/Containerfile built by scripts/image.sh for four platforms with buildah
and qemu-user-static, from a base made locally (no registry is reachable)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from pyz import CACHE, MACHINE, REPO, build_pyz

from microrack import __version__
from support import missing, require_root

pytestmark = [pytest.mark.timeout(5400), pytest.mark.integration]

PLATFORMS = {
    "arm64": "linux/arm64",
    "armhf": "linux/arm/v7",
    "riscv64": "linux/riscv64",
    "amd64": "linux/amd64",
}
NAME = "localhost/microrack:" + __version__.replace("+", "-")
BUILDAH = [
    "buildah",
    "--root",
    str(CACHE / "containers/storage"),
    "--runroot",
    str(CACHE / "containers/run"),
]
ENV = {**os.environ, "STORAGE_DRIVER": "vfs", "BUILDAH_ISOLATION": "chroot"}


def _buildah(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*BUILDAH, *args], capture_output=True, text=True, timeout=600, env=ENV)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    require_root()
    for tool in ("buildah", "mmdebstrap", "qemu-aarch64-static"):
        if shutil.which(tool) is None:
            missing(f"program {tool!r} (Debian: buildah, mmdebstrap, qemu-user-static)")
    pyz = build_pyz(tmp_path_factory.mktemp("image") / "microrack-agent.pyz", *MACHINE)
    r = subprocess.run(
        ["bash", str(REPO / "scripts/image.sh")],
        capture_output=True,
        text=True,
        timeout=5400,
        env={**os.environ, "PYTHON": sys.executable, "MICRORACK_PYZ": str(pyz)},
    )
    # If buildah cannot build on this machine, this says exactly why (and fails under CI).
    assert r.returncode == 0, f"scripts/image.sh failed:\n{r.stderr[-4000:]}"
    built = dict(line.split(" ", 1) for line in r.stdout.splitlines() if line.startswith("linux/"))
    assert f"manifest {NAME}" in r.stdout
    return built


def test_image_builds_for_the_four_platforms(image: dict[str, str]) -> None:
    assert set(image) == set(PLATFORMS.values())
    r = _buildah("manifest", "inspect", NAME)
    assert r.returncode == 0, r.stderr
    listed = {
        "/".join(
            filter(
                None,
                [m["platform"]["os"], m["platform"]["architecture"], m["platform"].get("variant")],
            )
        )
        for m in json.loads(r.stdout)["manifests"]
    }
    assert listed == set(PLATFORMS.values())


@pytest.mark.parametrize("arch", list(PLATFORMS))
def test_image_runs_as_nobody_and_names_its_architecture(arch: str, image: dict[str, str]) -> None:
    tag = f"{NAME}-{arch}"
    cfg = json.loads(_buildah("inspect", "--type", "image", tag).stdout)["OCIv1"]["config"]
    assert cfg["User"] == "65534:65534"
    assert cfg["Entrypoint"] == ["/usr/local/bin/microrack"] and cfg["Cmd"] == ["agent"]
    ctr = _buildah("from", "--quiet", tag).stdout.strip()
    assert ctr
    try:
        r = _buildah("run", ctr, "--", "/usr/local/bin/microrack", "--version")
        assert r.returncode == 0, r.stderr
        assert f"({MACHINE[arch]}, Python 3." in r.stdout, r.stdout
        uid = _buildah("run", ctr, "--", "python3", "-c", "import os; print(os.getuid())")
        assert uid.stdout.strip() == "65534"
        # Unpacked at build time: starting writes nothing (the DaemonSets' root is read-only).
        ro = _buildah(
            "run",
            ctr,
            "--",
            "python3",
            "-c",
            "import os; print(os.access('/opt/microrack', os.W_OK))",
        )
        assert ro.stdout.strip() == "False"
        # The fan entry point loads the catalog (pydantic's compiled core of this
        # architecture), then finds no sensor in a build container: one clear line.
        fan = _buildah(
            "run",
            ctr,
            "--",
            "/usr/local/bin/microrack",
            "fan",
            "--board",
            "pi4b",
            "--dry-run",
            "--once",
        )
        assert "no thermal zone" in fan.stderr and "Traceback" not in fan.stderr, fan.stderr
    finally:
        _buildah("rm", ctr)

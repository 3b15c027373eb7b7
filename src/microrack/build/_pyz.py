"""``microrack build agent``: one executable file with the agent, the fan controller and
their dependencies, for the board's own ``python3``.

The bundle is a zipapp (PEP 441): a ``#!/usr/bin/env python3`` line, then a zip
whose ``__main__.py`` unpacks ``lib/`` once and runs the CLI (see
``_launcher``).  ``lib/`` holds the microrack package and its pure-Python
dependencies as installed here (PyYAML without its C extension: it falls back
to its pure-Python parser), and pydantic's compiled core from the wheel of every
target architecture and Python version.  The wheels' extension modules carry
the ABI in their names (``_pydantic_core.cpython-311-aarch64-linux-gnu.so``),
so the architectures sit side by side and each interpreter loads its own.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from microrack import __version__
from microrack.build._launcher import LAUNCHER
from microrack.errors import ResourceError, UsageError

__all__ = ["ARCHITECTURES", "PYTHONS", "BuildResult", "build_agent"]

#: Debian architecture -> the wheel platform tags pip may pick for it (glibc 2.17..2.36,
#: Debian 12 and newer).
ARCHITECTURES: dict[str, tuple[str, ...]] = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64", "manylinux_2_31_aarch64"),
    "armhf": ("manylinux2014_armv7l", "manylinux_2_28_armv7l", "manylinux_2_31_armv7l"),
    "riscv64": ("manylinux_2_31_riscv64", "manylinux_2_35_riscv64", "manylinux_2_36_riscv64"),
    "amd64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64", "manylinux_2_31_x86_64"),
}
#: Debian architecture -> the machine name wheels (and ``platform.machine()``) use.
MACHINES = {"arm64": "aarch64", "armhf": "armv7l", "riscv64": "riscv64", "amd64": "x86_64"}
#: The Pythons of Debian 12/13, Ubuntu 24.04 and Raspberry Pi OS.
PYTHONS = ("3.11", "3.12", "3.13")

#: Pure-Python distributions the agent and the fan controller import.
PURE = ("PyYAML", "pydantic", "annotated-types", "typing_extensions", "typing-inspection", "smbus2")
NATIVE = "pydantic_core"

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed zip timestamps: the same inputs give the same bytes


@dataclass(frozen=True, slots=True)
class BuildResult:
    path: Path
    size: int
    sha256: str
    architectures: tuple[str, ...]
    pythons: tuple[str, ...]
    files: int


def _package_files() -> Iterable[tuple[str, Path]]:
    """``(lib/ path, source)`` of the microrack package, without caches."""
    import microrack

    root = Path(microrack.__file__).resolve().parent
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc",):
            yield "lib/microrack/" + path.relative_to(root).as_posix(), path


def _dist_files(name: str) -> Iterable[tuple[str, Path]]:
    try:
        dist = md.distribution(name)
    except md.PackageNotFoundError:
        raise ResourceError(
            f"{name} is not installed here; install microrack[fan] to build the single file"
        ) from None
    for f in sorted(dist.files or [], key=str):
        rel = f.as_posix()
        if rel.startswith(("..", "/")) or "__pycache__" in rel or rel.endswith((".pyc", ".so")):
            continue  # scripts, caches, and this machine's compiled extensions
        if rel.endswith("RECORD"):
            continue  # lists files (the .so) that are not in the bundle
        yield "lib/" + rel, Path(str(dist.locate_file(f)))


def _metadata() -> bytes:
    return f"Metadata-Version: 2.1\nName: microrack\nVersion: {__version__}\n".encode()


def fetch_wheels(
    cache: Path,
    architectures: Sequence[str],
    pythons: Sequence[str],
    progress: Callable[[str], None] | None = None,
) -> list[Path]:
    """pydantic's core for every (architecture, Python), downloaded once into ``cache``."""
    version = md.version(NATIVE)
    cache.mkdir(parents=True, exist_ok=True)
    wheels: list[Path] = []
    for arch in architectures:
        for py in pythons:
            tag = f"cp{py.replace('.', '')}"
            pattern = f"{NATIVE}-{version}-{tag}-{tag}-*_{MACHINES[arch]}.whl"
            have = sorted(cache.glob(pattern))
            if not have:
                if progress:
                    progress(f"downloading {NATIVE} {version} for {arch}, Python {py}")
                argv = [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--quiet",
                    "--no-deps",
                    "--only-binary=:all:",
                    "--implementation",
                    "cp",
                    "--python-version",
                    py,
                    "--abi",
                    tag,
                    "--dest",
                    str(cache),
                ]
                for t in ARCHITECTURES[arch]:
                    argv += ["--platform", t]
                r = subprocess.run(
                    [*argv, f"{NATIVE}=={version}"], capture_output=True, text=True, timeout=600
                )
                if r.returncode != 0:
                    last = (r.stderr.strip().splitlines() or ["no output"])[-1]
                    raise ResourceError(
                        f"no {NATIVE} {version} wheel for {arch} and Python {py}: {last}"
                    )
                have = sorted(cache.glob(pattern))
            if not have:
                raise ResourceError(f"pip gave no {NATIVE} wheel for {arch}, Python {py}")
            wheels.append(have[-1])
    return wheels


def _wheel_members(wheel: Path) -> Iterable[tuple[str, bytes]]:
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if not info.is_dir() and not info.filename.endswith("RECORD"):
                yield "lib/" + info.filename, zf.read(info)


def _add(zf: zipfile.ZipFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = zipfile.ZipInfo(name, _EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | mode) << 16
    zf.writestr(info, data)


def build_agent(
    out: str | Path,
    *,
    architectures: Sequence[str] = tuple(ARCHITECTURES),
    pythons: Sequence[str] = PYTHONS,
    wheel_cache: str | Path | None = None,
    force: bool = False,
    progress: Callable[[str], None] | None = None,
) -> BuildResult:
    """Write the single-file agent to ``out``; refuse to replace a file unless ``force``."""
    out = Path(out)
    for arch in architectures:
        if arch not in ARCHITECTURES:
            raise UsageError("--arch", f"{arch!r} is not one of {', '.join(ARCHITECTURES)}")
    for py in pythons:
        if py not in {"3.11", "3.12", "3.13", "3.14"}:
            raise UsageError("--python", f"{py!r} is not 3.11, 3.12, 3.13 or 3.14")
    if out.is_dir():
        raise UsageError("--out", f"{out} is a directory")
    if out.exists() and not force:
        raise UsageError("--out", f"{out} exists; use --force to replace it")
    cache = Path(wheel_cache) if wheel_cache else _default_cache()
    wheels = fetch_wheels(cache, architectures, pythons, progress)

    members: dict[str, bytes] = {}
    for name, path in _package_files():
        members[name] = path.read_bytes()
    for dist in PURE:
        for name, path in _dist_files(dist):
            members[name] = path.read_bytes()
    members[f"lib/microrack-{__version__}.dist-info/METADATA"] = _metadata()
    for wheel in wheels:
        for name, data in _wheel_members(wheel):
            members[name] = data
    digest = hashlib.sha256()
    for name in sorted(members):
        digest.update(name.encode() + b"\0" + hashlib.sha256(members[name]).digest())
    build = digest.hexdigest()[:16]

    buf = io.BytesIO()
    buf.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buf, "w") as zf:
        _add(zf, "__main__.py", LAUNCHER.replace("{build!r}", repr(build)).encode())
        for name in sorted(members):
            _add(zf, name, members[name])
    data = buf.getvalue()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ResourceError(f"{out}: cannot write ({exc.strerror or exc})") from None
    return BuildResult(
        out,
        len(data),
        hashlib.sha256(data).hexdigest(),
        tuple(architectures),
        tuple(pythons),
        len(members) + 1,
    )


def _default_cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "microrack" / "wheels"

"""Writing rendered files without losing anything.

A manifest (``.microrack-render.json``) records the SHA-256 of every file the
last render wrote.  A file whose content no longer matches is one the user
edited; it is only replaced with ``force``.  A file that is present but was not
written by microrack is treated the same way.  Everything is rendered in memory
and checked before the first byte is written, and each file is replaced
atomically (written beside it, then renamed), so a failed run leaves the
directory as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from microrack.errors import MicrorackError, ResourceError, UsageError
from microrack.spec._model import ClusterSpec

MANIFEST = ".microrack-render.json"


class EditedFiles(MicrorackError):
    """Files in the output directory were edited since the last render."""

    def __init__(self, out: Path, paths: list[str]) -> None:
        self.paths = paths
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(
            f"{out}: {len(paths)} file(s) changed since the last render: {shown}; "
            "nothing was written (use --force to overwrite them)"
        )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(out: Path) -> dict[str, str]:
    try:
        data = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        files = data.get("files", {})
        return {str(k): str(v) for k, v in files.items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, AttributeError) as exc:
        raise ResourceError(f"{out / MANIFEST}: unreadable render manifest: {exc}") from None


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _prune_empty(out: Path, directory: Path) -> None:
    """Remove directories emptied by a stale file, up to (not including) ``out``."""
    while directory != out and directory.is_relative_to(out) and not any(directory.iterdir()):
        directory.rmdir()
        directory = directory.parent


def _check_writable(out: Path) -> None:
    """Before the first file: ``out`` exists (or is created) and takes a file."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".microrack-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise UsageError("--out", f"{out} is not writable ({exc.strerror or exc})") from None


def render_to(spec: ClusterSpec, out: str | Path, *, force: bool = False) -> list[str]:
    """Write the rendered files of ``spec`` under ``out``; return the paths written."""
    from microrack.spec.render import render

    out = Path(out)
    files = render(spec)
    if out.exists() and not out.is_dir():
        raise ResourceError(f"{out}: exists and is not a directory")
    _check_writable(out)
    previous = _read_manifest(out)
    edited = []
    for rel, data in files.items():
        target = out / rel
        if not target.exists():
            continue
        current = _sha(target.read_bytes())
        if current != _sha(data) and current != previous.get(rel):
            edited.append(rel)
    # Files the last render wrote but this one does not: remove them unless edited.
    stale = [rel for rel in previous if rel not in files and (out / rel).exists()]
    for rel in stale:
        if _sha((out / rel).read_bytes()) != previous[rel]:
            edited.append(rel)
    if edited and not force:
        raise EditedFiles(out, sorted(edited))
    written: list[str] = []
    for rel, data in files.items():
        target = out / rel
        if target.exists() and target.read_bytes() == data:
            continue
        try:
            _atomic_write(target, data)
        except OSError as exc:
            raise ResourceError(
                f"{target}: cannot write ({exc.strerror or exc}); "
                f"{len(written)} file(s) were written before it"
            ) from None
        written.append(rel)
    for rel in stale:
        if force or rel not in edited:
            (out / rel).unlink()
            _prune_empty(out, (out / rel).parent)
    manifest = {"cluster": spec.cluster.name, "files": {rel: _sha(d) for rel, d in files.items()}}
    _atomic_write(out / MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return written

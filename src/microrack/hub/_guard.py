"""What a hub takes for itself before it starts: its store (one hub per file) and its port."""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO

from microrack.errors import ResourceError

__all__ = ["check_port_free", "lock_path", "lock_store"]


def lock_path(db: Path) -> Path:
    """The lock file of a store: beside the *resolved* file, so a symlink or another
    spelling of the same path finds the same lock."""
    real = Path(os.path.realpath(db))
    return real.with_name(real.name + ".lock")


def lock_store(db: Path) -> IO[bytes]:
    """One hub per store: a second one would pull the same agents and store every sample twice.

    The returned handle holds the lock until it is closed or the process ends, however it ends.
    """
    path = lock_path(db)
    try:
        handle = open(path, "ab")  # noqa: SIM115 - kept open for the life of the hub
    except OSError as exc:
        raise ResourceError(f"--db {db}: cannot create {path}: {exc.strerror or exc}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise ResourceError(f"--db {db} is in use by another running hub") from None
    return handle


def check_port_free(host: str, port: int) -> None:
    """Raise :class:`ResourceError` naming ``--listen`` if ``host:port`` cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ResourceError(f"--listen {host}:{port}: {exc.strerror or exc}") from None

"""The serve loop shared by the stand-in agents (``_standin``, ``_hostile``).

Each stand-in is a ``socketserver`` server answering from a daemon thread, so
one test process runs hundreds of them; ``main()`` of each module blocks here
until interrupted.
"""

from __future__ import annotations

import socketserver
import threading
import time
from collections.abc import Iterable

__all__ = ["ServerThread", "block_until_interrupted"]


class ServerThread:
    """``server`` answering from a daemon thread until :meth:`close`."""

    def __init__(self, server: socketserver.BaseServer) -> None:
        self.server = server
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop answering and free the port (also when never started)."""
        if self._thread is not None:
            self.server.shutdown()
            self._thread = None
        self.server.server_close()


def block_until_interrupted(threads: Iterable[ServerThread]) -> int:
    """Sleep until Ctrl-C, then close every server; the exit status for ``main()``."""
    held = list(threads)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        for t in held:
            t.close()

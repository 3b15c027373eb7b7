"""The agent process's heap: one multi-megabyte answer freed and built again each collection.

glibc's malloc serves a large block (128 KiB and up) from its own mapping and
returns it to the kernel when it is freed; but after such a free it raises
that threshold to the freed block's size, so the next scrape's answer (a few
MiB on a node with hundreds of containers) is carved from the heap instead,
where it fragments what the collector allocates around it and stays resident.
The answer text then costs its size twice or three times over in RSS, and
which it is depends on timing: 38-45 MB peak for the same 200-pod node.
Pinning the threshold, and keeping one arena for the collect and HTTP
threads (each thread's arena would otherwise hold its own freed memory),
keeps the peak at the size of what is live.  This is what setting
``MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=1`` in the environment does,
done from inside so that every way of starting the agent gets it.
"""

from __future__ import annotations

import ctypes
import logging

__all__ = ["steady_heap"]

log = logging.getLogger(__name__)

_M_MMAP_THRESHOLD = -3  # <malloc.h>
_M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024  # glibc's own starting value, kept fixed


def steady_heap() -> bool:
    """Fix glibc's mmap threshold and use one malloc arena; False where libc has no mallopt.

    On another C library (musl, on Alpine) there is nothing to tune and nothing is changed.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        log.debug("no mallopt in this C library: heap left as it is")
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    ok = mallopt(_M_ARENA_MAX, 1) == 1 and ok
    return ok

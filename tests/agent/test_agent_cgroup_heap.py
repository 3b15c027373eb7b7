"""The agent's heap settings: a large answer, freed, does not move the next one onto the heap."""

from __future__ import annotations

import subprocess
import sys

import pytest

# glibc marks a block it serves from a mapping of its own with bit 1 (IS_MMAPPED) of the size
# word just before the block; a bytearray's buffer is such a block when it is large enough.
PROBE = """
import ctypes, sys
from microrack.agent import steady_heap
if sys.argv[1] == "tuned":
    assert steady_heap()
def mapped(buf):
    addr = ctypes.addressof((ctypes.c_char * len(buf)).from_buffer(buf))
    return bool(ctypes.c_size_t.from_address(addr - ctypes.sizeof(ctypes.c_size_t)).value & 2)
first = bytearray(4 << 20)
print(int(mapped(first)))
del first  # without the fixed threshold, glibc now serves blocks below 4 MiB from the heap
print(int(mapped(bytearray(1 << 20))))
"""


def _probe(mode: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def _glibc() -> bool:
    import platform

    return platform.libc_ver()[0] == "glibc"


@pytest.mark.skipif(not _glibc(), reason="the setting is glibc's; elsewhere it is a no-op")
def test_steady_heap_keeps_large_answers_in_their_own_mappings() -> None:
    # the probe itself is sound: glibc alone moves the second block onto the heap
    assert _probe("plain") == ["1", "0"]
    assert _probe("tuned") == ["1", "1"]

"""The agent's own process_* metrics, as Prometheus' client libraries export them.

Always read from this machine's ``/proc/self`` (not the host tree or the twin):
they describe the running agent.
"""

from __future__ import annotations

import contextlib
import os
import resource

from microrack.agent._families import PointSink

__all__ = ["ProcessMetrics"]

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _boot_time() -> float:
    with open("/proc/stat", "rb") as f:
        for line in f:
            if line.startswith(b"btime "):
                return float(line.split()[1])
    raise OSError("no btime in /proc/stat")


class ProcessMetrics:
    """process_cpu_seconds_total, process_resident_memory_bytes, process_open_fds, ..."""

    def __init__(self) -> None:
        self._start: float | None = None
        self._stat_fd: int | None = None  # /proc/self/stat, kept open: re-read in place

    def _stat(self) -> str:
        if self._stat_fd is None:
            self._stat_fd = os.open("/proc/self/stat", os.O_RDONLY | os.O_CLOEXEC)
        return os.pread(self._stat_fd, 4096, 0).decode()

    def __del__(self) -> None:
        if self._stat_fd is not None:
            with contextlib.suppress(Exception):  # interpreter shutdown: os may be gone
                os.close(self._stat_fd)

    def collect(self, out: PointSink) -> None:
        stat = self._stat()
        # the command name may hold spaces and parentheses: split after the last ')'
        fields = stat[stat.rindex(")") + 2 :].split()
        utime, stime = int(fields[11]), int(fields[12])
        if self._start is None:
            self._start = _boot_time() + int(fields[19]) / _CLK_TCK
        soft_fds, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        soft_as, _ = resource.getrlimit(resource.RLIMIT_AS)
        h = out.add_help
        h(
            "process_cpu_seconds_total",
            (utime + stime) / _CLK_TCK,
            "counter",
            "Total user and system CPU time spent in seconds.",
        )
        h(
            "process_open_fds",
            len(os.listdir("/proc/self/fd")),
            "gauge",
            "Number of open file descriptors.",
        )
        h("process_max_fds", soft_fds, "gauge", "Maximum number of open file descriptors.")
        h("process_virtual_memory_bytes", int(fields[20]), "gauge", "Virtual memory size in bytes.")
        h(
            "process_virtual_memory_max_bytes",
            float(2**64 - 1) if soft_as == resource.RLIM_INFINITY else soft_as,
            "gauge",
            "Maximum amount of virtual memory available in bytes.",
        )
        h(
            "process_resident_memory_bytes",
            int(fields[21]) * _PAGE,
            "gauge",
            "Resident memory size in bytes.",
        )
        h(
            "process_start_time_seconds",
            self._start,
            "gauge",
            "Start time of the process since unix epoch in seconds.",
        )

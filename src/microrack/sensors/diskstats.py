"""Block devices from ``/proc/diskstats``, and per-interval rates between two readings."""

from __future__ import annotations

import re
from typing import NamedTuple

from microrack.sensors._fs import HostFS
from microrack.sensors._util import read_opt

__all__ = ["DiskRates", "DiskStats", "disk_rates", "read_diskstats"]

# node_exporter's default since 1.6: partitions, ram and zram disks, loop and floppy
# devices are left out (1.5 still exported zram, which Raspberry Pi OS swaps on).
EXCLUDED_DEVICES = re.compile(r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$")
SECTOR_BYTES = 512.0


class DiskStats(NamedTuple):
    """One device's counters in base units (bytes, seconds)."""

    device: str
    reads_completed: float
    reads_merged: float
    read_bytes: float
    read_time_s: float
    writes_completed: float
    writes_merged: float
    written_bytes: float
    write_time_s: float
    io_now: float
    io_time_s: float
    io_time_weighted_s: float
    discards_completed: float | None = None
    discards_merged: float | None = None
    discarded_sectors: float | None = None
    discard_time_s: float | None = None
    flush_requests: float | None = None
    flush_time_s: float | None = None
    major: int = 0
    minor: int = 0


class DiskRates(NamedTuple):
    """What happened on one device between two readings, per second."""

    device: str
    read_iops: float
    write_iops: float
    read_bytes_per_s: float
    write_bytes_per_s: float
    read_latency_s: float | None
    write_latency_s: float | None
    busy_ratio: float
    queue_depth: float


def read_diskstats(
    fs: HostFS,
    exclude: re.Pattern[str] | None = EXCLUDED_DEVICES,
    include: re.Pattern[str] | None = None,
) -> list[DiskStats]:
    """Devices of ``/proc/diskstats`` not matched by ``exclude`` (and matched by ``include``)."""
    text = read_opt(fs, "/proc/diskstats")
    if text is None:
        return []
    out: list[DiskStats] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 14:
            continue
        if exclude is not None and exclude.search(parts[2]):
            continue
        if include is not None and not include.search(parts[2]):
            continue
        try:
            v = [float(x) for x in parts[3:]]
            major, minor = int(parts[0]), int(parts[1])
        except ValueError:
            continue
        extra: list[float | None] = [None] * 6
        if len(v) >= 15:
            extra[0:4] = [v[11], v[12], v[13], v[14] * 0.001]
        if len(v) >= 17:
            extra[4:6] = [v[15], v[16] * 0.001]
        out.append(
            DiskStats(
                parts[2],
                v[0],
                v[1],
                v[2] * SECTOR_BYTES,
                v[3] * 0.001,
                v[4],
                v[5],
                v[6] * SECTOR_BYTES,
                v[7] * 0.001,
                v[8],
                v[9] * 0.001,
                v[10] * 0.001,
                extra[0],
                extra[1],
                extra[2],
                extra[3],
                extra[4],
                extra[5],
                major,
                minor,
            )
        )
    return out


def disk_rates(before: DiskStats, after: DiskStats, seconds: float) -> DiskRates | None:
    """Per-second IOPS, throughput and mean latency per completed read and write."""
    if seconds <= 0:
        return None
    reads = after.reads_completed - before.reads_completed
    writes = after.writes_completed - before.writes_completed
    if reads < 0 or writes < 0:
        return None  # counters wrapped or the device was replaced
    rt = after.read_time_s - before.read_time_s
    wt = after.write_time_s - before.write_time_s
    return DiskRates(
        device=after.device,
        read_iops=reads / seconds,
        write_iops=writes / seconds,
        read_bytes_per_s=(after.read_bytes - before.read_bytes) / seconds,
        write_bytes_per_s=(after.written_bytes - before.written_bytes) / seconds,
        read_latency_s=rt / reads if reads else None,
        write_latency_s=wt / writes if writes else None,
        busy_ratio=min(1.0, max(0.0, (after.io_time_s - before.io_time_s) / seconds)),
        queue_depth=(after.io_time_weighted_s - before.io_time_weighted_s) / seconds,
    )

"""filesystem and diskstats collectors (with node_disk_info from udev's database)."""

from __future__ import annotations

from typing import ClassVar

from microrack.agent._families import PointSink
from microrack.agent._registry import CollectorOptions, NoData
from microrack.sensors import (
    DiskRates,
    DiskStats,
    HostFS,
    disk_rates,
    read_diskstats,
    read_filesystems,
)

__all__ = ["DiskstatsCollector", "FilesystemCollector", "read_udev"]

UDEV_DATA = "/run/udev/data"


class FilesystemCollector:
    name: ClassVar[str] = "filesystem"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        mp, ft = (
            options.regex("filesystem_mount_points_exclude"),
            options.regex("filesystem_fs_types_exclude"),
        )
        assert mp is not None and ft is not None
        self.mount_points_exclude, self.fs_types_exclude = mp, ft

    def collect(self, out: PointSink) -> None:
        if not (self.fs.exists("/proc/1/mounts") or self.fs.exists("/proc/mounts")):
            raise NoData("neither /proc/1/mounts nor /proc/mounts exists")
        for f in read_filesystems(self.fs, self.mount_points_exclude, self.fs_types_exclude):
            m = f.mount
            lab = {"device": m.device, "fstype": m.fstype, "mountpoint": m.mountpoint}
            out.add("node_filesystem_device_error", 0 if f.usage else 1, **lab)
            if f.usage is None:
                continue
            out.add("node_filesystem_size_bytes", f.usage.size_bytes, **lab)
            out.add("node_filesystem_free_bytes", f.usage.free_bytes, **lab)
            out.add("node_filesystem_avail_bytes", f.usage.avail_bytes, **lab)
            out.add("node_filesystem_files", f.usage.files, **lab)
            out.add("node_filesystem_files_free", f.usage.files_free, **lab)
            out.add("node_filesystem_readonly", 1 if f.mount.readonly else 0, **lab)


def read_udev(fs: HostFS, major: int, minor: int, base: str = UDEV_DATA) -> dict[str, str]:
    """Properties (``E:KEY=value`` lines) udev recorded for block device ``major:minor``."""
    try:
        text = fs.read_text(f"{base}/b{major}:{minor}")
    except OSError:
        return {}
    info: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("E:"):
            key, sep, value = line[2:].partition("=")
            if sep:
                info[key] = value
    return info


_COUNTERS = (
    ("node_disk_reads_completed_total", "reads_completed"),
    ("node_disk_reads_merged_total", "reads_merged"),
    ("node_disk_read_bytes_total", "read_bytes"),
    ("node_disk_read_time_seconds_total", "read_time_s"),
    ("node_disk_writes_completed_total", "writes_completed"),
    ("node_disk_writes_merged_total", "writes_merged"),
    ("node_disk_written_bytes_total", "written_bytes"),
    ("node_disk_write_time_seconds_total", "write_time_s"),
    ("node_disk_io_now", "io_now"),
    ("node_disk_io_time_seconds_total", "io_time_s"),
    ("node_disk_io_time_weighted_seconds_total", "io_time_weighted_s"),
    ("node_disk_discards_completed_total", "discards_completed"),
    ("node_disk_discards_merged_total", "discards_merged"),
    ("node_disk_discarded_sectors_total", "discarded_sectors"),
    ("node_disk_discard_time_seconds_total", "discard_time_s"),
    ("node_disk_flush_requests_total", "flush_requests"),
    ("node_disk_flush_requests_time_seconds_total", "flush_time_s"),
)


class DiskstatsCollector:
    """``/proc/diskstats`` counters, udev's info labels, and per-interval rates for the hub."""

    name: ClassVar[str] = "diskstats"
    default: ClassVar[bool] = True

    def __init__(self, fs: HostFS, options: CollectorOptions) -> None:
        self.fs = fs
        self.exclude = options.regex("diskstats_device_exclude")
        self.include = options.regex("diskstats_device_include")
        if self.include is not None:
            self.exclude = None  # mutually exclusive, as in node_exporter
        self.udev = options.extra.get("udev_data", UDEV_DATA)
        self.rates: tuple[DiskRates, ...] = ()
        self.interval_s: float | None = None  # set by the agent before each collection
        self._prev: dict[str, DiskStats] = {}

    def collect(self, out: PointSink) -> None:
        try:
            self.fs.read_text("/proc/diskstats")
        except FileNotFoundError as exc:
            raise NoData("/proc/diskstats not found") from exc
        disks = read_diskstats(self.fs, self.exclude, self.include)
        for d in disks:
            info = read_udev(self.fs, d.major, d.minor, self.udev)
            out.add(
                "node_disk_info",
                1,
                device=d.device,
                major=str(d.major),
                minor=str(d.minor),
                path=info.get("ID_PATH", ""),
                wwn=info.get("ID_WWN", ""),
                model=info.get("ID_MODEL", ""),
                serial=info.get("ID_SERIAL_SHORT", ""),
                revision=info.get("ID_REVISION", ""),
            )
            for metric, attr in _COUNTERS:
                out.add(
                    metric,
                    getattr(d, attr),
                    "gauge" if attr == "io_now" else "counter",
                    device=d.device,
                )
            if info.get("ID_FS_TYPE"):
                out.add(
                    "node_disk_filesystem_info",
                    1,
                    device=d.device,
                    type=info["ID_FS_TYPE"],
                    usage=info.get("ID_FS_USAGE", ""),
                    uuid=info.get("ID_FS_UUID", ""),
                    version=info.get("ID_FS_VERSION", ""),
                )
            if info.get("DM_NAME"):
                out.add(
                    "node_disk_device_mapper_info",
                    1,
                    device=d.device,
                    name=info["DM_NAME"],
                    uuid=info.get("DM_UUID", ""),
                    vg_name=info.get("DM_VG_NAME", ""),
                    lv_name=info.get("DM_LV_NAME", ""),
                    lv_layer=info.get("DM_LV_LAYER", ""),
                )
        self._rates(disks)

    def _rates(self, disks: list[DiskStats]) -> None:
        dt = self.interval_s
        rates = []
        if dt is not None and dt > 0:
            for d in disks:
                before = self._prev.get(d.device)
                r = disk_rates(before, d, dt) if before else None
                if r is not None:
                    rates.append(r)
        self._prev = {d.device: d for d in disks}
        self.rates = tuple(rates)

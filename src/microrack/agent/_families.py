"""From sensor readings to metric points, named as node_exporter names them.

Where node_exporter exports a quantity this module uses its exact name,
labels, unit and type (checked against node_exporter 1.5 over the same
trees by the agent's integration tests); everything else is ``microrack_*``
in base units.  ``HELP`` holds the help text of each family.
"""

from __future__ import annotations

from collections.abc import Iterable

from microrack.sample import MetricType, Point, SeriesKey
from microrack.sensors import (
    CoolingDevice,
    DiskRates,
    HwmonChip,
    ThermalZone,
    Throttled,
    clean_name,
)

__all__ = ["HELP", "PointSink", "new_point"]

HELP: dict[str, str] = {
    "node_cpu_seconds_total": "Seconds the CPUs spent in each mode.",
    "node_cpu_guest_seconds_total": "Seconds the CPUs spent in guests (VMs) for each mode.",
    "node_boot_time_seconds": "Node boot time, in unixtime.",
    "node_context_switches_total": "Total number of context switches.",
    "node_forks_total": "Total number of forks.",
    "node_intr_total": "Total number of interrupts serviced.",
    "node_procs_running": "Number of processes in runnable state.",
    "node_procs_blocked": "Number of processes blocked waiting for I/O to complete.",
    "node_load1": "1m load average.",
    "node_time_seconds": "System time in seconds since epoch (1970).",
    "node_uname_info": "Labeled system information as provided by the uname system call.",
    "node_filefd_allocated": "File descriptor statistics: allocated.",
    "node_filefd_maximum": "File descriptor statistics: maximum.",
    "node_load5": "5m load average.",
    "node_load15": "15m load average.",
    "node_cpu_frequency_hertz": "Current cpu thread frequency in hertz.",
    "node_cpu_frequency_max_hertz": "Maximum cpu thread frequency in hertz.",
    "node_cpu_frequency_min_hertz": "Minimum cpu thread frequency in hertz.",
    "node_cpu_scaling_frequency_hertz": "Current scaled CPU thread frequency in hertz.",
    "node_cpu_scaling_frequency_max_hertz": "Maximum scaled CPU thread frequency in hertz.",
    "node_cpu_scaling_frequency_min_hertz": "Minimum scaled CPU thread frequency in hertz.",
    "node_filesystem_avail_bytes": "Filesystem space available to non-root users in bytes.",
    "node_filesystem_free_bytes": "Filesystem free space in bytes.",
    "node_filesystem_size_bytes": "Filesystem size in bytes.",
    "node_filesystem_files": "Filesystem total file nodes.",
    "node_filesystem_files_free": "Filesystem total free file nodes.",
    "node_filesystem_readonly": "Filesystem read-only status.",
    "node_filesystem_device_error": (
        "Whether an error occurred while getting statistics for the given device."
    ),
    "node_network_mtu_bytes": "Network device property: mtu_bytes",
    "node_network_speed_bytes": "Network device property: speed_bytes",
    "node_network_carrier": "Network device property: carrier",
    "node_disk_reads_completed_total": "The total number of reads completed successfully.",
    "node_disk_reads_merged_total": "The total number of reads merged.",
    "node_disk_read_bytes_total": "The total number of bytes read successfully.",
    "node_disk_read_time_seconds_total": "The total number of seconds spent by all reads.",
    "node_disk_writes_completed_total": "The total number of writes completed successfully.",
    "node_disk_writes_merged_total": "The number of writes merged.",
    "node_disk_written_bytes_total": "The total number of bytes written successfully.",
    "node_disk_write_time_seconds_total": (
        "This is the total number of seconds spent by all writes."
    ),
    "node_disk_io_now": "The number of I/Os currently in progress.",
    "node_disk_io_time_seconds_total": "Total seconds spent doing I/Os.",
    "node_disk_io_time_weighted_seconds_total": "The weighted # of seconds spent doing I/Os.",
    "node_disk_discards_completed_total": "The total number of discards completed successfully.",
    "node_disk_discards_merged_total": "The total number of discards merged.",
    "node_disk_discarded_sectors_total": "The total number of sectors discarded successfully.",
    "node_disk_discard_time_seconds_total": (
        "This is the total number of seconds spent by all discards."
    ),
    "node_disk_flush_requests_total": "The total number of flush requests completed successfully",
    "node_disk_flush_requests_time_seconds_total": (
        "This is the total number of seconds spent by all flush requests."
    ),
    "node_thermal_zone_temp": "Zone temperature in Celsius",
    "node_cooling_device_cur_state": "Current throttle state of the cooling device",
    "node_cooling_device_max_state": "Maximum throttle state of the cooling device",
    "node_hwmon_chip_names": "Annotation metric for human-readable chip names",
    "node_hwmon_sensor_label": "Label for given chip and sensor",
    "node_disk_device_mapper_info": "Info about disk device mapper.",
    "node_disk_filesystem_info": "Info about disk filesystem.",
    "node_disk_info": "Info of /sys/block/<block_device>.",
    "node_entropy_available_bits": "Bits of available entropy.",
    "node_entropy_pool_size_bits": "Bits of entropy pool.",
    "node_network_info": "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
    "node_network_up": "Value is 1 if operstate is 'up', 0 otherwise.",
    "node_os_info": (
        "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, "
        "image_version, name, pretty_name, variant, variant_id, version, version_codename, "
        "version_id."
    ),
    "node_os_version": "Metric containing the major.minor part of the OS version.",
    "node_scrape_collector_duration_seconds": "node_exporter: Duration of a collector scrape.",
    "node_scrape_collector_success": "node_exporter: Whether a collector succeeded.",
    "node_time_clocksource_available_info": (
        "Available clocksources read from '/sys/devices/system/clocksource'."
    ),
    "node_time_clocksource_current_info": (
        "Current clocksource read from '/sys/devices/system/clocksource'."
    ),
    "node_time_zone_offset_seconds": "System time zone offset in seconds.",
    "node_timex_estimated_error_seconds": "Estimated error in seconds.",
    "node_timex_frequency_adjustment_ratio": "Local clock frequency adjustment.",
    "node_timex_loop_time_constant": "Phase-locked loop time constant.",
    "node_timex_maxerror_seconds": "Maximum error in seconds.",
    "node_timex_offset_seconds": "Time offset in between local system and reference clock.",
    "node_timex_pps_calibration_total": "Pulse per second count of calibration intervals.",
    "node_timex_pps_error_total": "Pulse per second count of calibration errors.",
    "node_timex_pps_frequency_hertz": "Pulse per second frequency.",
    "node_timex_pps_jitter_seconds": "Pulse per second jitter.",
    "node_timex_pps_jitter_total": "Pulse per second count of jitter limit exceeded events.",
    "node_timex_pps_shift_seconds": "Pulse per second interval duration.",
    "node_timex_pps_stability_exceeded_total": (
        "Pulse per second count of stability limit exceeded events."
    ),
    "node_timex_pps_stability_hertz": (
        "Pulse per second stability, average of recent frequency changes."
    ),
    "node_timex_status": "Value of the status array bits.",
    "node_timex_sync_status": ("Is clock synchronized to a reliable server (1 = yes, 0 = no)."),
    "node_timex_tai_offset_seconds": "International Atomic Time (TAI) offset.",
    "node_timex_tick_seconds": "Seconds between clock ticks.",
    "microrack_node_info": "Who this node is: name, board, agent boot id and version; always 1.",
    "microrack_cpu_busy_ratio": (
        "Share of CPU time not idle over the last collection interval (0..1)."
    ),
    "microrack_memory_used_ratio": "1 - MemAvailable/MemTotal (0..1).",
    "microrack_power_watts": (
        "Board power; source=hwmon is measured, source=estimate is from the "
        "board catalog and CPU load."
    ),
    "microrack_throttled": (
        "Raspberry Pi firmware throttling flags (get_throttled), now and since boot."
    ),
    "microrack_throttle_limit_celsius": (
        "The board's soft and hard thermal throttling limits from the catalog."
    ),
    "microrack_disk_reads_per_second": (
        "Reads completed per second over the last collection interval."
    ),
    "microrack_disk_writes_per_second": (
        "Writes completed per second over the last collection interval."
    ),
    "microrack_disk_read_bytes_per_second": (
        "Bytes read per second over the last collection interval."
    ),
    "microrack_disk_written_bytes_per_second": (
        "Bytes written per second over the last collection interval."
    ),
    "microrack_disk_read_latency_seconds": (
        "Mean time per completed read over the last collection interval."
    ),
    "microrack_disk_write_latency_seconds": (
        "Mean time per completed write over the last collection interval."
    ),
    "microrack_disk_busy_ratio": (
        "Share of the last collection interval the device had I/O in flight (0..1)."
    ),
    "microrack_disk_queue_depth": (
        "Mean number of I/Os in flight over the last collection interval."
    ),
    "microrack_collection_duration_seconds": "Wall time the last collection took.",
}

# Point(key, value) without the frozen dataclass's __init__, which sets each field through
# object.__setattr__: the same object for half the cost, ~400 times a collection
_new_object = object.__new__
_set_key = Point.__dict__["key"].__set__
_set_value = Point.__dict__["value"].__set__


def new_point(key: SeriesKey, value: float) -> Point:
    """``Point(key, value)``, built faster (``value`` must already be a float)."""
    p: Point = _new_object(Point)
    _set_key(p, key)
    _set_value(p, value)
    return p


class PointSink:
    """Collects points, reusing one :class:`SeriesKey` per series across collections."""

    __slots__ = ("_keys", "help", "points", "raw")

    def __init__(self, keys: dict[tuple, SeriesKey]) -> None:
        self._keys = keys
        self.points: list[Point] = []
        self.help: dict[str, str] = {}  # HELP of families whose text depends on the data
        self.raw: list[str] = []  # whole families in text format (textfile histograms)

    def child(self) -> PointSink:
        """An empty sink sharing this one's series keys (one per collector)."""
        return PointSink(self._keys)

    def add_help(
        self, metric: str, value: float | None, mtype: MetricType, help_text: str, /, **labels: str
    ) -> None:
        """A point of a family whose HELP is built from the data (vmstat, netstat ...)."""
        if value is None:
            return
        if metric not in self.help:
            self.help[metric] = help_text
        ident = (metric, mtype, *labels.items())  # add()'s body: ~300 points a collection
        key = self._keys.get(ident)
        if key is None:
            key = self._keys[ident] = SeriesKey(metric, tuple(sorted(labels.items())), mtype)
        self.points.append(new_point(key, float(value)))

    def add(
        self, metric: str, value: float | None, mtype: MetricType = "gauge", /, **labels: str
    ) -> None:
        """One point; ``None`` (not measured this cycle) adds nothing."""
        if value is None:
            return
        ident = (metric, mtype, *labels.items())
        key = self._keys.get(ident)
        if key is None:
            key = self._keys[ident] = SeriesKey(metric, tuple(sorted(labels.items())), mtype)
        self.points.append(new_point(key, float(value)))

    def key(self, metric: str, mtype: MetricType = "gauge", /, **labels: str) -> SeriesKey:
        """The one :class:`SeriesKey` of a series, for collectors that keep their own by index."""
        ident = (metric, mtype, *labels.items())
        key = self._keys.get(ident)
        if key is None:
            key = self._keys[ident] = SeriesKey(metric, tuple(sorted(labels.items())), mtype)
        return key

    def append(self, key: SeriesKey, value: float, help_text: str | None = None) -> None:
        """A point of a series whose key the collector already holds (see :meth:`key`)."""
        if help_text is not None and key.name not in self.help:
            self.help[key.name] = help_text
        self.points.append(new_point(key, float(value)))

    # --- families several collectors share the shape of -----------------------------

    def thermal(self, zones: Iterable[ThermalZone], cooling: Iterable[CoolingDevice]) -> None:
        for z in zones:
            self.add("node_thermal_zone_temp", z.temp_celsius, type=z.type, zone=z.zone)
        for c in cooling:
            self.add("node_cooling_device_cur_state", c.cur_state, name=c.name, type=c.type)
            self.add("node_cooling_device_max_state", c.max_state, name=c.name, type=c.type)

    def hwmon(self, chips: Iterable[HwmonChip]) -> None:
        for chip in chips:
            if chip.chip_name:
                self.add("node_hwmon_chip_names", 1, chip=chip.chip, chip_name=chip.chip_name)
            for sensor, label in chip.labels.items():
                self.add("node_hwmon_sensor_label", 1, chip=chip.chip, label=label, sensor=sensor)
            bare = {v.sensor for v in chip.values if v.prop == ""}
            for v in chip.values:
                if v.type == "freq" and v.prop == "input":
                    # current node_exporter: a GPU clock, labelled by its cleaned label
                    freq_label = chip.labels.get(v.sensor)
                    if freq_label is not None:
                        self.add_help(
                            "node_hwmon_freq_freq_mhz",
                            v.raw / 1e6,
                            "gauge",
                            "Hardware monitor for GPU frequency in MHz",
                            chip=chip.chip,
                            sensor=clean_name(freq_label),
                        )
                    continue
                named = _hwmon_metric(v.type, v.prop, v.sensor in bare, v.raw)
                if named is not None:
                    self.add_help(
                        named[0], named[1], named[2], named[3], chip=chip.chip, sensor=v.sensor
                    )

    # --- microrack families -------------------------------------------------------

    def throttled(self, t: Throttled) -> None:
        for flag, on in t.now.items():
            self.add("microrack_throttled", 1 if on else 0, flag=flag, when="now")
        for flag, on in t.since_boot.items():
            self.add("microrack_throttled", 1 if on else 0, flag=flag, when="since_boot")

    def disk_rates(self, rates: Iterable[DiskRates]) -> None:
        for r in rates:
            dev = r.device
            self.add("microrack_disk_reads_per_second", r.read_iops, device=dev)
            self.add("microrack_disk_writes_per_second", r.write_iops, device=dev)
            self.add("microrack_disk_read_bytes_per_second", r.read_bytes_per_s, device=dev)
            self.add("microrack_disk_written_bytes_per_second", r.write_bytes_per_s, device=dev)
            self.add("microrack_disk_read_latency_seconds", r.read_latency_s, device=dev)
            self.add("microrack_disk_write_latency_seconds", r.write_latency_s, device=dev)
            self.add("microrack_disk_busy_ratio", r.busy_ratio, device=dev)
            self.add("microrack_disk_queue_depth", r.queue_depth, device=dev)


def _hwmon_metric(
    stype: str, prop: str, has_bare: bool, raw: float
) -> tuple[str, float, MetricType, str] | None:
    """node_exporter's hwmon naming, scaling and HELP rules for one sensor file."""
    if stype == "beep_enable":
        return "node_hwmon_beep_enabled", 1.0 if raw == 1 else 0.0, "gauge", "Hardware beep enabled"
    if stype == "vrm":
        return "node_hwmon_voltage_regulator_version", raw, "gauge", "Hardware voltage regulator"
    if stype == "update_interval":
        return (
            "node_hwmon_update_interval_seconds",
            raw * 0.001,
            "gauge",
            "Hardware monitor update interval",
        )
    name = f"node_hwmon_{stype}"
    if prop == "input":
        if has_bare:
            name += "_input"
    elif prop:
        name += "_" + prop
    el = prop
    if prop in ("fault", "alarm"):
        return name, raw, "gauge", f"Hardware sensor {el} status ({stype})"
    if prop == "beep":
        return name + "_enabled", raw, "gauge", "Hardware monitor sensor has beeping enabled"
    if stype in ("in", "cpu"):
        return name + "_volts", raw * 0.001, "gauge", f"Hardware monitor for voltage ({el})"
    if stype == "temp" and prop != "type":
        return (name + "_celsius", raw * 0.001, "gauge", f"Hardware monitor for temperature ({el})")
    if stype == "curr":
        return name + "_amps", raw * 0.001, "gauge", f"Hardware monitor for current ({el})"
    if stype == "energy":
        return (
            name + "_joule_total",
            raw / 1e6,
            "counter",
            f"Hardware monitor for joules used so far ({el})",
        )
    if stype == "power":
        if prop == "accuracy":
            return name, raw / 1e6, "gauge", "Hardware monitor power meter accuracy, as a ratio"
        if prop in ("average_interval", "average_interval_min", "average_interval_max"):
            return (
                name + "_seconds",
                raw * 0.001,
                "gauge",
                f"Hardware monitor power usage update interval ({el})",
            )
        return (
            name + "_watt",
            raw / 1e6,
            "gauge",
            f"Hardware monitor for power usage in watts ({el})",
        )
    if stype == "humidity":
        return (
            name,
            raw / 1e6,
            "gauge",
            "Hardware monitor for humidity, as a ratio (multiply "
            f"with 100.0 to get the humidity as a percentage) ({el})",
        )
    if stype == "fan" and prop in ("input", "min", "max", "target"):
        return (
            name + "_rpm",
            raw,
            "gauge",
            f"Hardware monitor for fan revolutions per minute ({el})",
        )
    return name, raw, "gauge", f"Hardware monitor {stype} element {el}"

"""Conformance on this host: Prometheus scrapes Debian's node_exporter and the agent side by side.

The families below are what Grafana's "Node Exporter Full" dashboard and
node_exporter's mixin read (names only).  Every one of them that
node_exporter exports on this host, the agent must export with the same
label names; and the headline expressions a dashboard opens with must agree
within 5 % over the same minute.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from pathlib import Path

import pytest

from microrack.sensors import EXCLUDED_DEVICES
from support import free_port, http_get, microrack_cmd, require_binary, started, wait_http_ok

pytestmark = pytest.mark.integration

# Every node_* / process_* name in the panel queries of
# github.com/rfmoz/grafana-dashboards prometheus/node-exporter-full.json (commit 4b1729d).
NODE_EXPORTER_FULL = frozenset(
    {
        "node_arp_entries",
        "node_boot_time_seconds",
        "node_context_switches_total",
        "node_cooling_device_cur_state",
        "node_cooling_device_max_state",
        "node_cpu_guest_seconds_total",
        "node_cpu_scaling_frequency_hertz",
        "node_cpu_scaling_frequency_max_hertz",
        "node_cpu_scaling_frequency_min_hertz",
        "node_cpu_seconds_total",
        "node_disk_discard_time_seconds_total",
        "node_disk_discarded_sectors_total",
        "node_disk_discards_completed_total",
        "node_disk_discards_merged_total",
        "node_disk_flush_requests_time_seconds_total",
        "node_disk_flush_requests_total",
        "node_disk_io_now",
        "node_disk_io_time_seconds_total",
        "node_disk_io_time_weighted_seconds_total",
        "node_disk_read_bytes_total",
        "node_disk_read_time_seconds_total",
        "node_disk_reads_completed_total",
        "node_disk_reads_merged_total",
        "node_disk_write_time_seconds_total",
        "node_disk_writes_completed_total",
        "node_disk_writes_merged_total",
        "node_disk_written_bytes_total",
        "node_entropy_available_bits",
        "node_entropy_pool_size_bits",
        "node_filefd_allocated",
        "node_filefd_maximum",
        "node_filesystem_avail_bytes",
        "node_filesystem_device_error",
        "node_filesystem_files",
        "node_filesystem_files_free",
        "node_filesystem_free_bytes",
        "node_filesystem_readonly",
        "node_filesystem_size_bytes",
        "node_forks_total",
        "node_hwmon_chip_names",
        "node_hwmon_fan_min_rpm",
        "node_hwmon_fan_rpm",
        "node_hwmon_temp_celsius",
        "node_hwmon_temp_crit_alarm_celsius",
        "node_hwmon_temp_crit_celsius",
        "node_hwmon_temp_crit_hyst_celsius",
        "node_hwmon_temp_max_celsius",
        "node_interrupts_total",
        "node_intr_total",
        "node_kernel_hung_tasks",
        "node_load1",
        "node_load15",
        "node_load5",
        "node_memory_Active_anon_bytes",
        "node_memory_Active_bytes",
        "node_memory_Active_file_bytes",
        "node_memory_AnonHugePages_bytes",
        "node_memory_AnonPages_bytes",
        "node_memory_Buffers_bytes",
        "node_memory_Cached_bytes",
        "node_memory_CommitLimit_bytes",
        "node_memory_Committed_AS_bytes",
        "node_memory_DirectMap1G_bytes",
        "node_memory_DirectMap2M_bytes",
        "node_memory_DirectMap4k_bytes",
        "node_memory_Dirty_bytes",
        "node_memory_HardwareCorrupted_bytes",
        "node_memory_HugePages_Free",
        "node_memory_HugePages_Rsvd",
        "node_memory_HugePages_Surp",
        "node_memory_HugePages_Total",
        "node_memory_Hugepagesize_bytes",
        "node_memory_Inactive_anon_bytes",
        "node_memory_Inactive_bytes",
        "node_memory_Inactive_file_bytes",
        "node_memory_KernelStack_bytes",
        "node_memory_Mapped_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemFree_bytes",
        "node_memory_MemTotal_bytes",
        "node_memory_Mlocked_bytes",
        "node_memory_NFS_Unstable_bytes",
        "node_memory_PageTables_bytes",
        "node_memory_Percpu_bytes",
        "node_memory_SReclaimable_bytes",
        "node_memory_SUnreclaim_bytes",
        "node_memory_ShmemHugePages_bytes",
        "node_memory_ShmemPmdMapped_bytes",
        "node_memory_Shmem_bytes",
        "node_memory_Slab_bytes",
        "node_memory_SwapCached_bytes",
        "node_memory_SwapFree_bytes",
        "node_memory_SwapTotal_bytes",
        "node_memory_Unevictable_bytes",
        "node_memory_VmallocChunk_bytes",
        "node_memory_VmallocTotal_bytes",
        "node_memory_VmallocUsed_bytes",
        "node_memory_WritebackTmp_bytes",
        "node_memory_Writeback_bytes",
        "node_memory_Zswap_bytes",
        "node_memory_Zswapped_bytes",
        "node_netstat_Icmp_InErrors",
        "node_netstat_Icmp_InMsgs",
        "node_netstat_Icmp_OutMsgs",
        "node_netstat_IpExt_InOctets",
        "node_netstat_IpExt_OutOctets",
        "node_netstat_TcpExt_ListenDrops",
        "node_netstat_TcpExt_ListenOverflows",
        "node_netstat_TcpExt_SyncookiesFailed",
        "node_netstat_TcpExt_SyncookiesRecv",
        "node_netstat_TcpExt_SyncookiesSent",
        "node_netstat_TcpExt_TCPOFOQueue",
        "node_netstat_TcpExt_TCPRcvQDrop",
        "node_netstat_TcpExt_TCPSynRetrans",
        "node_netstat_TcpExt_TCPTimeouts",
        "node_netstat_Tcp_ActiveOpens",
        "node_netstat_Tcp_CurrEstab",
        "node_netstat_Tcp_InErrs",
        "node_netstat_Tcp_InSegs",
        "node_netstat_Tcp_MaxConn",
        "node_netstat_Tcp_OutRsts",
        "node_netstat_Tcp_OutSegs",
        "node_netstat_Tcp_PassiveOpens",
        "node_netstat_Tcp_RetransSegs",
        "node_netstat_UdpLite_InErrors",
        "node_netstat_Udp_InDatagrams",
        "node_netstat_Udp_InErrors",
        "node_netstat_Udp_NoPorts",
        "node_netstat_Udp_OutDatagrams",
        "node_netstat_Udp_RcvbufErrors",
        "node_netstat_Udp_SndbufErrors",
        "node_network_carrier",
        "node_network_mtu_bytes",
        "node_network_receive_bytes_total",
        "node_network_receive_compressed_total",
        "node_network_receive_drop_total",
        "node_network_receive_errs_total",
        "node_network_receive_fifo_total",
        "node_network_receive_frame_total",
        "node_network_receive_multicast_total",
        "node_network_receive_nohandler_total",
        "node_network_receive_packets_total",
        "node_network_speed_bytes",
        "node_network_transmit_bytes_total",
        "node_network_transmit_carrier_total",
        "node_network_transmit_colls_total",
        "node_network_transmit_compressed_total",
        "node_network_transmit_drop_total",
        "node_network_transmit_errs_total",
        "node_network_transmit_fifo_total",
        "node_network_transmit_packets_total",
        "node_network_up",
        "node_nf_conntrack_entries",
        "node_nf_conntrack_entries_limit",
        "node_power_supply_online",
        "node_pressure_cpu_waiting_seconds_total",
        "node_pressure_io_stalled_seconds_total",
        "node_pressure_io_waiting_seconds_total",
        "node_pressure_irq_stalled_seconds_total",
        "node_pressure_memory_stalled_seconds_total",
        "node_pressure_memory_waiting_seconds_total",
        "node_processes_max_processes",
        "node_processes_max_threads",
        "node_processes_pids",
        "node_processes_state",
        "node_processes_threads",
        "node_procs_blocked",
        "node_procs_running",
        "node_schedstat_running_seconds_total",
        "node_schedstat_timeslices_total",
        "node_schedstat_waiting_seconds_total",
        "node_scrape_collector_duration_seconds",
        "node_scrape_collector_success",
        "node_sockstat_FRAG_inuse",
        "node_sockstat_FRAG_memory",
        "node_sockstat_RAW_inuse",
        "node_sockstat_TCP_alloc",
        "node_sockstat_TCP_inuse",
        "node_sockstat_TCP_mem",
        "node_sockstat_TCP_mem_bytes",
        "node_sockstat_TCP_orphan",
        "node_sockstat_TCP_tw",
        "node_sockstat_UDPLITE_inuse",
        "node_sockstat_UDP_inuse",
        "node_sockstat_UDP_mem",
        "node_sockstat_UDP_mem_bytes",
        "node_sockstat_sockets_used",
        "node_softnet_dropped_total",
        "node_softnet_flow_limit_count_total",
        "node_softnet_processed_total",
        "node_softnet_received_rps_total",
        "node_softnet_times_squeezed_total",
        "node_systemd_socket_accepted_connections_total",
        "node_systemd_socket_current_connections",
        "node_systemd_socket_refused_connections_total",
        "node_systemd_units",
        "node_tcp_connection_states",
        "node_textfile_scrape_error",
        "node_time_seconds",
        "node_timex_estimated_error_seconds",
        "node_timex_frequency_adjustment_ratio",
        "node_timex_loop_time_constant",
        "node_timex_maxerror_seconds",
        "node_timex_offset_seconds",
        "node_timex_pps_calibration_total",
        "node_timex_pps_error_total",
        "node_timex_pps_frequency_hertz",
        "node_timex_pps_jitter_seconds",
        "node_timex_pps_jitter_total",
        "node_timex_pps_shift_seconds",
        "node_timex_pps_stability_exceeded_total",
        "node_timex_pps_stability_hertz",
        "node_timex_sync_status",
        "node_timex_tai_offset_seconds",
        "node_timex_tick_seconds",
        "node_udp_queues",
        "node_uname_info",
        "node_vmstat_oom_kill",
        "node_vmstat_pgfault",
        "node_vmstat_pgmajfault",
        "node_vmstat_pgpgin",
        "node_vmstat_pgpgout",
        "node_vmstat_pswpin",
        "node_vmstat_pswpout",
        "process_cpu_seconds_total",
        "process_max_fds",
        "process_open_fds",
        "process_virtual_memory_bytes",
        "process_virtual_memory_max_bytes",
    }
)
# Every metric the alerts and recording rules of github.com/prometheus/node_exporter
# docs/node-mixin (alerts/alerts.libsonnet, rules/rules.libsonnet, commit a7dcc3a0) read;
# the rules' own outputs (instance:node_cpu_utilisation:rate5m ...) left out.
NODE_MIXIN = frozenset(
    {
        "node_bonding_active",
        "node_bonding_slaves",
        "node_cpu_seconds_total",
        "node_disk_io_time_seconds_total",
        "node_disk_io_time_weighted_seconds_total",
        "node_filefd_allocated",
        "node_filefd_maximum",
        "node_filesystem_avail_bytes",
        "node_filesystem_files",
        "node_filesystem_files_free",
        "node_filesystem_readonly",
        "node_filesystem_size_bytes",
        "node_load1",
        "node_md_disks",
        "node_md_disks_required",
        "node_memory_Buffers_bytes",
        "node_memory_Cached_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemFree_bytes",
        "node_memory_MemTotal_bytes",
        "node_memory_Slab_bytes",
        "node_network_receive_bytes_total",
        "node_network_receive_drop_total",
        "node_network_receive_errs_total",
        "node_network_receive_packets_total",
        "node_network_transmit_bytes_total",
        "node_network_transmit_drop_total",
        "node_network_transmit_errs_total",
        "node_network_transmit_packets_total",
        "node_nf_conntrack_entries",
        "node_nf_conntrack_entries_limit",
        "node_systemd_service_restart_total",
        "node_systemd_unit_state",
        "node_textfile_scrape_error",
        "node_timex_maxerror_seconds",
        "node_timex_offset_seconds",
        "node_timex_sync_status",
        "node_vmstat_pgmajfault",
    }
)

# (expression, absolute floor below which 5 % of a near-zero rate is noise)
HEADLINES = {
    "cpu busy %": ('100 * (1 - avg(rate(node_cpu_seconds_total{mode="idle",job="J"}[1m])))', 1.0),
    "memory used %": (
        '100 * (1 - node_memory_MemAvailable_bytes{job="J"} / node_memory_MemTotal_bytes{job="J"})',
        0.5,
    ),
    "root filesystem used %": (
        '100 - 100 * node_filesystem_avail_bytes{mountpoint="/",job="J"} '
        '/ node_filesystem_size_bytes{mountpoint="/",job="J"}',
        0.5,
    ),
    "disk read bytes/s": ('sum(rate(node_disk_read_bytes_total{job="J"}[1m]))', 64e3),
    "disk written bytes/s": ('sum(rate(node_disk_written_bytes_total{job="J"}[1m]))', 64e3),
    "network received bytes/s": (
        'sum(rate(node_network_receive_bytes_total{device!="lo",job="J"}[1m]))',
        16e3,
    ),
    "network sent bytes/s": (
        'sum(rate(node_network_transmit_bytes_total{device!="lo",job="J"}[1m]))',
        16e3,
    ),
    "context switches/s": ('rate(node_context_switches_total{job="J"}[1m])', 500.0),
}


def test_agent_conforms_to_node_exporter_under_prometheus(tmp_path: Path, artifacts_dir: Path):
    prometheus = require_binary("prometheus", "/usr/bin/prometheus")
    exporter = require_binary("prometheus-node-exporter", "/usr/bin/prometheus-node-exporter")
    ne_port, ag_port, prom_port = free_port(), free_port(), free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: node, static_configs: [{{targets: ['127.0.0.1:{ne_port}']}}]}}\n"
        f"  - {{job_name: agent, static_configs: [{{targets: ['127.0.0.1:{ag_port}']}}]}}\n"
    )
    # Debian's defaults, but for zram, which the agent leaves out as current upstream does
    ne = [
        exporter,
        f"--web.listen-address=127.0.0.1:{ne_port}",
        f"--collector.diskstats.device-exclude={EXCLUDED_DEVICES.pattern}",
    ]
    # the agent serves its latest collection: at 0.5 s its counters lag a scrape by at most
    # that, under 1 % of a one-minute rate
    agent = microrack_cmd("agent", "--listen", f"127.0.0.1:{ag_port}", "--interval", "0.5")
    prom = [
        prometheus,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    logs = artifacts_dir / "agent-conformance"
    api = f"http://127.0.0.1:{prom_port}/api/v1"

    def get(path: str, **params: str) -> list:
        status, body = http_get(f"{api}/{path}?{urllib.parse.urlencode(params)}")
        assert status == 200, body[:300]
        return json.loads(body)["data"]

    with (
        started(ne, logs / "node-exporter.log", wait=("127.0.0.1", ne_port)),
        started(agent, logs / "agent.log", wait=("127.0.0.1", ag_port)),
        started(prom, logs / "prometheus.log", wait=("127.0.0.1", prom_port)),
    ):
        wait_http_ok(f"http://127.0.0.1:{prom_port}/-/ready")
        deadline = time.monotonic() + 120
        while len(get("query", query="up == 1")["result"]) < 2:
            assert time.monotonic() < deadline, "Prometheus never scraped both targets"
            time.sleep(1)
        start = time.time()
        # names and labels do not need the minute of data the rates need
        wanted = NODE_EXPORTER_FULL | NODE_MIXIN
        by_job: dict[str, dict[str, set[frozenset[str]]]] = {}
        for job in ("node", "agent"):
            series = get(
                "series",
                **{
                    "match[]": f'{{job="{job}",__name__=~"node_.+|process_.+"}}',
                    "start": str(start - 5),
                },
            )
            fams: dict[str, set[frozenset[str]]] = {}
            for s in series:
                labels = frozenset(k for k in s if k not in ("__name__", "job", "instance"))
                fams.setdefault(s["__name__"], set()).add(labels)
            by_job[job] = fams
        exported = sorted(n for n in wanted if n in by_job["node"])
        (logs / "families.json").write_text(
            json.dumps(
                {
                    "wanted": len(wanted),
                    "node_exporter_exports": exported,
                    "agent_lacks": [n for n in exported if n not in by_job["agent"]],
                },
                indent=1,
            )
        )
        assert len(exported) > 150, exported
        lacking = [n for n in exported if n not in by_job["agent"]]
        assert not lacking, f"families node_exporter exports here and the agent lacks: {lacking}"
        for name in exported:
            assert by_job["agent"][name] == by_job["node"][name], (
                name,
                by_job["agent"][name],
                by_job["node"][name],
            )

        # the headline expressions, once both have a minute of samples in the same window
        time.sleep(max(0.0, start + 65 - time.time()))
        disagree = {}
        at = str(time.time() - 2)  # one instant for both, with both scrapes in
        seen = {}
        for what, (expr, floor) in HEADLINES.items():
            values = {}
            for job in ("node", "agent"):
                q = expr.replace('job="J"', f'job="{job}"')
                result = get("query", query=q, time=at)["result"]
                assert len(result) == 1, (what, job, result)
                values[job] = float(result[0]["value"][1])
            ne_v, ag_v = values["node"], values["agent"]
            seen[what] = {"node_exporter": ne_v, "agent": ag_v}
            if abs(ag_v - ne_v) > max(0.05 * abs(ne_v), floor):
                disagree[what] = (ag_v, ne_v)
        (logs / "headlines.json").write_text(json.dumps(seen, indent=1))
        assert not disagree, f"agent vs node_exporter over the same minute: {disagree}"

"""Collectors against faked file contents on an in-memory HostFS (psutil's test_linux style).

Each test feeds one kernel quirk (a missing field, an older layout, IPv6 off, a
truncated or garbled file, a file only root may read) and checks what the
collector exports and whether node_scrape_collector_success says it worked.
"""

from __future__ import annotations

import errno

import pytest

from microrack.agent import Collector, CollectorOptions, NoData, PointSink, Registry
from microrack.agent._collectors.memory import PressureCollector, VmstatCollector
from microrack.agent._collectors.network import (
    ArpCollector,
    ConntrackCollector,
    NetclassCollector,
    NetdevCollector,
    NetstatCollector,
    SockstatCollector,
    SoftnetCollector,
    UdpQueuesCollector,
)
from microrack.agent._collectors.system import (
    EntropyCollector,
    OsCollector,
    TimexCollector,
    parse_os_release,
)
from microrack.sensors import LocalFS, MemoryFS, read_hwmon
from support import missing

OPTS = CollectorOptions()


def run(collector) -> dict[tuple, float]:
    out = PointSink({})
    collector.collect(out)
    return {(p.key.name, *p.key.labels): p.value for p in out.points}


def success(fs: MemoryFS, **kw) -> dict[str, float]:
    col = Collector(
        fs, node="n", board=None, boot_id="b", version="v", allow_vcgencmd=False, **kw
    ).collect()
    return {
        dict(p.key.labels)["collector"]: p.value
        for p in col.sample.points
        if p.key.name == "node_scrape_collector_success"
    }


# --- vmstat -----------------------------------------------------------------------------


def test_vmstat_default_fields_only():
    fs = MemoryFS(
        {
            "/proc/vmstat": "nr_free_pages 10\npgfault 5\npgmajfault 2\npswpin 1\n"
            "oom_kill 3\npgpgin 7\nworkingset_refault 9\n"
        }
    )
    v = run(VmstatCollector(fs, OPTS))
    assert v == {
        ("node_vmstat_pgfault",): 5,
        ("node_vmstat_pgmajfault",): 2,
        ("node_vmstat_pswpin",): 1,
        ("node_vmstat_oom_kill",): 3,
        ("node_vmstat_pgpgin",): 7,
    }


def test_vmstat_older_kernel_without_oom_kill_and_custom_fields():
    fs = MemoryFS({"/proc/vmstat": "pgfault 5\nnr_dirty 4\n"})
    assert run(VmstatCollector(fs, CollectorOptions(vmstat_fields="^nr_"))) == {
        ("node_vmstat_nr_dirty",): 4
    }


def test_vmstat_garbage_fails_the_collector_only():
    fs = MemoryFS({"/proc/vmstat": "pgfault five\n", "/proc/loadavg": "0.5 0.4 0.3 1/100 42\n"})
    ok = success(fs)
    assert ok["vmstat"] == 0 and ok["loadavg"] == 1


# --- netstat ----------------------------------------------------------------------------

SNMP = (
    "Ip: Forwarding DefaultTTL\nIp: 1 64\n"
    "Tcp: ActiveOpens CurrEstab InErrs\nTcp: 3 9 2\n"
    "Udp: InDatagrams NoPorts\nUdp: 10 1\n"
)
NETSTAT = "TcpExt: ListenDrops TCPTimeouts PruneCalled\nTcpExt: 7 8 9\n"


def test_netstat_with_ipv6_off_has_no_snmp6():
    fs = MemoryFS({"/proc/net/snmp": SNMP, "/proc/net/netstat": NETSTAT})
    v = run(NetstatCollector(fs, OPTS))
    assert v == {
        ("node_netstat_Ip_Forwarding",): 1,
        ("node_netstat_Tcp_ActiveOpens",): 3,
        ("node_netstat_Tcp_CurrEstab",): 9,
        ("node_netstat_Tcp_InErrs",): 2,
        ("node_netstat_Udp_InDatagrams",): 10,
        ("node_netstat_Udp_NoPorts",): 1,
        ("node_netstat_TcpExt_ListenDrops",): 7,
        ("node_netstat_TcpExt_TCPTimeouts",): 8,
    }


def test_netstat_snmp6_protocol_ends_at_the_six():
    fs = MemoryFS(
        {
            "/proc/net/snmp": SNMP,
            "/proc/net/netstat": NETSTAT,
            "/proc/net/snmp6": "Ip6InOctets 100\nUdpLite6InErrors 2\nIcmp6InMsgs 3\n",
        }
    )
    v = run(NetstatCollector(fs, OPTS))
    assert v[("node_netstat_Ip6_InOctets",)] == 100
    assert v[("node_netstat_UdpLite6_InErrors",)] == 2
    assert v[("node_netstat_Icmp6_InMsgs",)] == 3


def test_netstat_truncated_file_fails():
    fs = MemoryFS({"/proc/net/snmp": "Ip: Forwarding DefaultTTL\n", "/proc/net/netstat": NETSTAT})
    with pytest.raises(ValueError, match="odd number"):
        run(NetstatCollector(fs, OPTS))
    fs = MemoryFS(
        {"/proc/net/snmp": "Ip: Forwarding DefaultTTL\nIp: 1\n", "/proc/net/netstat": NETSTAT}
    )
    with pytest.raises(ValueError, match="field count"):
        run(NetstatCollector(fs, OPTS))


def test_netstat_layout_is_planned_again_when_the_files_change():
    """The plan of which field goes where is per layout: a new field set, IPv6 coming and
    going, a garbled value after a good collection, each is read as a fresh collector would."""
    fs = MemoryFS({"/proc/net/snmp": SNMP, "/proc/net/netstat": NETSTAT})
    c = NetstatCollector(fs, OPTS)
    assert run(c) == run(NetstatCollector(fs, OPTS))
    fs.files["/proc/net/snmp6"] = "Ip6InOctets 100\nIcmp6InMsgs 3\n"
    assert run(c)[("node_netstat_Ip6_InOctets",)] == 100
    # another kernel's header: a field added in front moves every value behind it
    fs.files["/proc/net/snmp"] = SNMP.replace(
        "Tcp: ActiveOpens", "Tcp: RtoAlgorithm ActiveOpens"
    ).replace("Tcp: 3 9 2", "Tcp: 1 3 9 2")
    assert run(c) == run(NetstatCollector(fs, OPTS))
    assert run(c)[("node_netstat_Tcp_CurrEstab",)] == 9
    del fs.files["/proc/net/snmp6"]
    assert ("node_netstat_Ip6_InOctets",) not in run(c)
    fs.files["/proc/net/snmp"] = SNMP.replace("Tcp: 3 9 2", "Tcp: 3 x 2")
    with pytest.raises(ValueError):
        run(c)


# --- sockstat ---------------------------------------------------------------------------


def test_sockstat_ipv4_only_and_mem_in_pages():
    fs = MemoryFS(
        {
            "/proc/net/sockstat": "sockets: used 7\nTCP: inuse 2 orphan 0 tw 1 alloc 3 "
            "mem 4\nUDP: inuse 1 mem 2\nFRAG: inuse 0 memory 0\n"
        }
    )
    c = SockstatCollector(fs, OPTS)
    v = run(c)
    assert v[("node_sockstat_sockets_used",)] == 7
    assert v[("node_sockstat_TCP_mem_bytes",)] == 4 * c.page_size
    assert v[("node_sockstat_FRAG_memory",)] == 0
    assert not any(k[0].startswith("node_sockstat_TCP6") for k in v)


def test_sockstat_ipv6_only():
    fs = MemoryFS({"/proc/net/sockstat6": "TCP6: inuse 3\nUDP6: inuse 1\n"})
    v = run(SockstatCollector(fs, OPTS))
    assert v == {("node_sockstat_TCP6_inuse",): 3, ("node_sockstat_UDP6_inuse",): 1}


def test_sockstat_odd_field_count_fails():
    fs = MemoryFS({"/proc/net/sockstat": "TCP: inuse 2 orphan\n"})
    with pytest.raises(ValueError):
        run(SockstatCollector(fs, OPTS))


# --- softnet, pressure, entropy, conntrack, arp, udp ---------------------------------------


def test_softnet_cpu_from_index_column_when_cpus_are_offline():
    # Linux 5.10+: cpu 1 offline, so the second line belongs to cpu 2
    lines = [
        "0000000a 00000001 00000002 0 0 0 0 0 00000003 00000004 00000000 00000000 00000000",
        "00000014 00000000 00000000 0 0 0 0 0 00000000 00000000 00000000 00000005 00000002",
    ]
    v = run(SoftnetCollector(MemoryFS({"/proc/net/softnet_stat": "\n".join(lines)}), OPTS))
    assert v[("node_softnet_processed_total", ("cpu", "0"))] == 10
    assert v[("node_softnet_processed_total", ("cpu", "2"))] == 20
    assert v[("node_softnet_backlog_len", ("cpu", "2"))] == 5
    assert ("node_softnet_processed_total", ("cpu", "1")) not in v


def test_softnet_old_kernel_numbers_lines():
    line = "0000000a 00000001 00000002 0 0 0 0 0 00000003"
    v = run(SoftnetCollector(MemoryFS({"/proc/net/softnet_stat": line + "\n" + line}), OPTS))
    assert v[("node_softnet_dropped_total", ("cpu", "1"))] == 1
    assert ("node_softnet_received_rps_total", ("cpu", "0")) not in v


def test_pressure_absent_disabled_and_partial():
    with pytest.raises(NoData):
        run(PressureCollector(MemoryFS({}), OPTS))
    off = OSError(errno.EOPNOTSUPP, "Operation not supported")
    with pytest.raises(NoData, match="psi=0"):
        run(PressureCollector(MemoryFS({"/proc/pressure/cpu": off}), OPTS))
    line = "some avg10=0.00 avg60=0.00 avg300=0.00 total=2000000\n"
    fs = MemoryFS(
        {
            "/proc/pressure/cpu": line,
            "/proc/pressure/io": line,
            "/proc/pressure/memory": line + line.replace("some", "full"),
        }
    )
    v = run(PressureCollector(fs, OPTS))
    assert v[("node_pressure_cpu_waiting_seconds_total",)] == 2.0
    assert v[("node_pressure_memory_stalled_seconds_total",)] == 2.0
    assert ("node_pressure_io_stalled_seconds_total",) not in v  # no full line: not exported


def test_entropy_unreadable_is_a_failure_not_a_crash():
    fs = MemoryFS(
        {
            "/proc/sys/kernel/random/entropy_avail": PermissionError(13, "denied"),
            "/proc/sys/kernel/random/poolsize": "256\n",
        }
    )
    with pytest.raises(PermissionError):
        run(EntropyCollector(fs, OPTS))
    assert success(fs)["entropy"] == 0


def test_conntrack_not_loaded_is_no_data():
    with pytest.raises(NoData):
        run(ConntrackCollector(MemoryFS({}), OPTS))


def test_conntrack_sums_per_cpu_statistics_by_header_name():
    hdr = (
        "entries  searched found new invalid ignore delete delete_list insert insert_failed "
        "drop early_drop icmp_error expect_new expect_create expect_delete search_restart"
    )
    row = " ".join(["0000000a"] * 17)
    fs = MemoryFS(
        {
            "/proc/sys/net/netfilter/nf_conntrack_count": "5\n",
            "/proc/sys/net/netfilter/nf_conntrack_max": "100\n",
            "/proc/net/stat/nf_conntrack": f"{hdr}\n{row}\n{row}\n",
        }
    )
    v = run(ConntrackCollector(fs, OPTS))
    assert v[("node_nf_conntrack_entries",)] == 5
    assert v[("node_nf_conntrack_stat_found",)] == 20
    assert v[("node_nf_conntrack_stat_search_restart",)] == 20


def test_arp_counts_per_device_and_filters():
    text = (
        "IP address HW type Flags HW address Mask Device\n"
        "198.18.0.1 0x1 0x2 aa:bb:cc:dd:ee:01 * eth0\n"
        "198.18.0.2 0x1 0x2 aa:bb:cc:dd:ee:02 * eth0\n"
        "198.18.1.1 0x1 0x2 aa:bb:cc:dd:ee:03 * wlan0\n"
    )
    v = run(ArpCollector(MemoryFS({"/proc/net/arp": text}), OPTS))
    assert v == {
        ("node_arp_entries", ("device", "eth0")): 2,
        ("node_arp_entries", ("device", "wlan0")): 1,
    }
    only = CollectorOptions(arp_device_include="^wlan")
    assert run(ArpCollector(MemoryFS({"/proc/net/arp": text}), only)) == {
        ("node_arp_entries", ("device", "wlan0")): 1
    }
    with pytest.raises(ValueError):
        run(ArpCollector(MemoryFS({"/proc/net/arp": text + "198.18.0.9 0x1\n"}), OPTS))


def test_udp_queues_v4_only():
    text = (
        "  sl local rem st tx_queue rx_queue\n"
        "   0: 00000000:0044 00000000:0000 07 00000010:00000020 00:0 0 0 0 1 2 0 0\n"
    )
    v = run(UdpQueuesCollector(MemoryFS({"/proc/net/udp": text}), OPTS))
    assert v == {
        ("node_udp_queues", ("ip", "v4"), ("queue", "tx")): 16,
        ("node_udp_queues", ("ip", "v4"), ("queue", "rx")): 32,
    }
    with pytest.raises(NoData):
        run(UdpQueuesCollector(MemoryFS({}), OPTS))


# --- netclass, netdev ---------------------------------------------------------------------


def test_netclass_attributes_a_virtual_link_refuses():
    einval = OSError(errno.EINVAL, "Invalid argument")
    fs = MemoryFS(
        {
            "/sys/class/net/wg0/operstate": "unknown\n",
            "/sys/class/net/wg0/mtu": "1420\n",
            "/sys/class/net/wg0/speed": einval,
            "/sys/class/net/wg0/carrier": einval,
            "/sys/class/net/wg0/flags": "0x91\n",
            "/sys/class/net/wg0/address": "",
            "/sys/class/net/bonding_masters": "\n",
        }
    )
    v = run(NetclassCollector(fs, OPTS))
    assert v[("node_network_up", ("device", "wg0"))] == 0
    assert v[("node_network_flags", ("device", "wg0"))] == 0x91
    assert v[("node_network_mtu_bytes", ("device", "wg0"))] == 1420
    assert ("node_network_speed_bytes", ("device", "wg0")) not in v
    info = [k for k in v if k[0] == "node_network_info"]
    assert info == [
        (
            "node_network_info",
            ("address", ""),
            ("broadcast", ""),
            ("device", "wg0"),
            ("duplex", ""),
            ("ifalias", ""),
            ("operstate", "unknown"),
        )
    ]


def test_netdev_loopback_left_out_by_default_and_include_overrides():
    text = (
        "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n"
        "    lo: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n  eth0: 5 6 0 0 0 0 0 0 7 8 0 0 0 0 0 0\n"
    )
    fs = MemoryFS({"/proc/net/dev": text})
    devices = {dict(k[1:])["device"] for k in run(NetdevCollector(fs, OPTS))}
    assert devices == {"eth0"}
    both = CollectorOptions(netdev_device_include=".")
    assert {dict(k[1:])["device"] for k in run(NetdevCollector(fs, both))} == {"lo", "eth0"}


# --- os, timex ------------------------------------------------------------------------------


def test_os_release_quoting_and_fallback_path():
    assert parse_os_release(
        'NAME="Debian \\"GNU\\"/Linux"\nID=debian\n# c\nVERSION_ID=\'12\'\n'
    ) == {"NAME": 'Debian "GNU"/Linux', "ID": "debian", "VERSION_ID": "12"}
    fs = MemoryFS({"/usr/lib/os-release": 'ID=alpine\nVERSION_ID=3.20.3\nNAME="Alpine Linux"\n'})
    v = run(OsCollector(fs, OPTS))
    assert (
        v[("node_os_version", ("id", "alpine"), ("id_like", ""), ("name", "Alpine Linux"))] == 3.20
    )
    fs = MemoryFS({"/etc/os-release": "ID=debian\nVERSION_CODENAME=trixie\n"})
    assert not [k for k in run(OsCollector(fs, OPTS)) if k[0] == "node_os_version"]


def test_os_release_is_read_every_collection_and_parsed_when_it_changed():
    fs = MemoryFS({"/etc/os-release": 'ID=debian\nVERSION_ID="12"\n'})
    c = OsCollector(fs, OPTS)
    first = run(c)
    assert (
        run(c) == first
        and first[("node_os_version", ("id", "debian"), ("id_like", ""), ("name", ""))] == 12
    )
    fs.files["/etc/os-release"] = 'ID=debian\nVERSION_ID="13"\n'  # upgraded in place
    assert run(c)[("node_os_version", ("id", "debian"), ("id_like", ""), ("name", ""))] == 13
    del fs.files["/etc/os-release"]
    with pytest.raises(NoData):
        run(c)


def test_timex_reads_this_kernel_and_scales_like_node_exporter():
    c = TimexCollector(LocalFS("/"), OPTS)
    v = run(c)  # the real adjtimex(2) through ctypes
    assert v[("node_timex_sync_status",)] in (0, 1)
    assert 0.99 < v[("node_timex_frequency_adjustment_ratio",)] < 1.01
    assert v[("node_timex_tick_seconds",)] > 0

    from microrack.agent._collectors.system import _Timex

    tx = _Timex(
        offset=1500,
        freq=65536 * 12,
        maxerror=16000,
        esterror=500,
        status=0x2001,
        tick=10000,
        tai=37,
    )
    v = run(TimexCollector(LocalFS("/"), OPTS, source=lambda: (5, tx)))
    assert v[("node_timex_sync_status",)] == 0  # TIME_ERROR
    assert v[("node_timex_offset_seconds",)] == 1500 / 1e9  # STA_NANO: nanoseconds
    assert v[("node_timex_frequency_adjustment_ratio",)] == 1 + 12 / 1e6
    assert v[("node_timex_maxerror_seconds",)] == 0.016
    assert v[("node_timex_tai_offset_seconds",)] == 37
    with pytest.raises(NoData):
        run(TimexCollector(MemoryFS({}), OPTS))


# --- hwmon ------------------------------------------------------------------------------------


def test_hwmon_chips_sharing_a_device_get_distinct_names():
    dev = "/sys/devices/pci0000:00/0000:00:1c.0/0000:03:00.0"
    files: dict[str, str | BaseException] = {}
    links = {}
    for i, name in enumerate(("mt7915_phy0", "mt7915_phy1", "mt7915_phy2")):
        files[f"{dev}/hwmon/hwmon{i}/name"] = name + "\n"
        files[f"{dev}/hwmon/hwmon{i}/temp1_input"] = f"{40 + i}000\n"
        links[f"/sys/class/hwmon/hwmon{i}"] = (
            f"../../devices/pci0000:00/0000:00:1c.0/0000:03:00.0/hwmon/hwmon{i}"
        )
        links[f"{dev}/hwmon/hwmon{i}/device"] = "../.."
    wmi = "/sys/devices/platform/asus-nb-wmi"
    for i in (5, 6):  # two chips with the same device and the same name
        files[f"{wmi}/hwmon/hwmon{i}/name"] = "asus\n"
        links[f"/sys/class/hwmon/hwmon{i}"] = f"../../devices/platform/asus-nb-wmi/hwmon/hwmon{i}"
        links[f"{wmi}/hwmon/hwmon{i}/device"] = "../.."
    files[f"{wmi}/hwmon/hwmon5/fan1_input"] = "2100\n"
    chips = {c.chip: c for c in read_hwmon(MemoryFS(files, links))}
    # node_exporter's names: parent and device cleaned (colons stay), then the suffix
    pci = "0000:00:1c_0_0000:03:00_0"
    assert set(chips) == {
        f"{pci}_mt7915_phy0",
        f"{pci}_mt7915_phy1",
        f"{pci}_mt7915_phy2",
        "platform_asus_nb_wmi_hwmon5",
        "platform_asus_nb_wmi_hwmon6",
    }
    assert chips[f"{pci}_mt7915_phy2"].get("temp1") == 42000
    # a chip without a readable sensor is still listed (node_hwmon_chip_names)
    assert chips["platform_asus_nb_wmi_hwmon6"].values == ()
    out = PointSink({})
    out.hwmon(list(chips.values()))
    names = [p for p in out.points if p.key.name == "node_hwmon_chip_names"]
    assert len(names) == 5
    assert len({p.key for p in out.points}) == len(out.points)  # no duplicate series


def test_hwmon_freq_sensor_needs_its_label():
    d = "/sys/devices/pci0000:00/0000:00:08.1/0000:c1:00.0"
    files = {
        f"{d}/hwmon/hwmon2/name": "amdgpu\n",
        f"{d}/hwmon/hwmon2/freq1_input": "800000000\n",
        f"{d}/hwmon/hwmon2/freq1_label": "sclk\n",
        f"{d}/hwmon/hwmon2/freq2_input": "96\n",
    }
    links = {
        "/sys/class/hwmon/hwmon2": "../../devices/pci0000:00/0000:00:08.1/0000:c1:00.0/"
        "hwmon/hwmon2",
        f"{d}/hwmon/hwmon2/device": "../..",
    }
    out = PointSink({})
    out.hwmon(read_hwmon(MemoryFS(files, links)))
    freq = [(p.key.labels, p.value) for p in out.points if p.key.name == "node_hwmon_freq_freq_mhz"]
    assert freq == [((("chip", "0000:00:08_1_0000:c1:00_0"), ("sensor", "sclk")), 800.0)]
    assert out.help["node_hwmon_freq_freq_mhz"] == "Hardware monitor for GPU frequency in MHz"


# --- the registry -------------------------------------------------------------------------


class _Emit:
    default = True

    def __init__(self, name: str, *metrics: str, fail: bool = False) -> None:
        self.name, self.metrics, self.fail = name, metrics, fail

    def collect(self, out: PointSink) -> None:
        for m in self.metrics:
            out.add(m, 1)
        if self.fail:
            raise RuntimeError("half way")


def test_registry_refuses_duplicate_names_and_series():
    reg = Registry()
    reg.register(_Emit("a", "x", "y"))
    with pytest.raises(ValueError, match="already registered"):
        reg.register(_Emit("a", "z"))
    reg.register(_Emit("b", "y", "z"))  # y again: refused, b counted as failed
    reg.register(_Emit("c", "w", fail=True))  # raises after emitting w: w kept, c failed
    reg.register(_Emit("d", "v"))
    out = PointSink({})
    results = {r.name: r for r in reg.collect(out)}
    names = [p.key.name for p in out.points if not p.key.name.startswith("node_scrape")]
    assert names == ["x", "y", "z", "w", "v"]
    assert {n: r.success for n, r in results.items()} == {
        "a": True,
        "b": False,
        "c": False,
        "d": True,
    }
    ok = {
        dict(p.key.labels)["collector"]: p.value
        for p in out.points
        if p.key.name == "node_scrape_collector_success"
    }
    assert ok == {"a": 1, "b": 0, "c": 0, "d": 1}
    assert {
        dict(p.key.labels)["collector"]
        for p in out.points
        if p.key.name == "node_scrape_collector_duration_seconds"
    } == set(ok)


def test_switches_choose_the_collectors():
    fs = MemoryFS({"/proc/loadavg": "0.5 0.4 0.3 1/100 42\n", "/proc/vmstat": "pgfault 5\n"})
    ok = success(fs, collectors={"loadavg", "vmstat"})
    assert ok == {"loadavg": 1, "vmstat": 1}


CPUINFO_ARM = """processor\t: 0
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3

processor\t: 1
BogoMIPS\t: 108.00
Features\t: fp asimd evtstrm crc32 cpuid
CPU implementer\t: 0x41
CPU architecture: 8
CPU variant\t: 0x0
CPU part\t: 0xd08
CPU revision\t: 3

Hardware\t: BCM2835
Model\t\t: Raspberry Pi 4 Model B Rev 1.4
"""


def test_cpu_info_on_arm_and_cpuinfo_mhz_only_without_cpufreq():
    stat = "cpu 1 0 1 10 0 0 0 0 0 0\ncpu0 1 0 1 10 0 0 0 0 0 0\n"
    x86 = (
        "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu MHz\t\t: 3400.5\n"
        "physical id\t: 0\ncore id\t\t: 0\nflags\t\t: fpu sse\n\n"
    )
    opts = CollectorOptions(cpu_info=True, cpu_info_flags_include="^asimd$")
    col = Collector(
        MemoryFS({"/proc/stat": stat, "/proc/cpuinfo": CPUINFO_ARM}),
        node="n",
        board=None,
        boot_id="b",
        version="v",
        options=opts,
        collectors={"cpu"},
    ).collect()
    v = {(p.key.name, *p.key.labels): p.value for p in col.sample.points}
    info = [dict(k[1:]) for k in v if k[0] == "node_cpu_info"]
    assert [i["cpu"] for i in info] == ["0", "1"]  # the Hardware/Model trailer is no cpu
    assert info[0]["vendor"] == "0x41" and info[0]["model"] == "0xd08"
    assert v[("node_cpu_flag_info", ("flag", "asimd"))] == 1
    col = Collector(
        MemoryFS({"/proc/stat": stat, "/proc/cpuinfo": x86}),
        node="n",
        board=None,
        boot_id="b",
        version="v",
        options=opts,
        collectors={"cpu"},
    ).collect()
    v = {(p.key.name, *p.key.labels): p.value for p in col.sample.points}
    assert (
        v[("node_cpu_frequency_hertz", ("core", "0"), ("cpu", "0"), ("package", "0"))] == 3400.5e6
    )


# --- systemd ----------------------------------------------------------------------------

LIST_UNITS = """\
  dev-sda1.device            loaded active plugged SAMSUNG 1
● nginx.service              loaded failed failed  A high performance web server
  ssh.service                loaded active running OpenBSD Secure Shell server
  apt-daily.timer            loaded active waiting Daily apt download activities
  run-user-1000.mount        loaded active mounted /run/user/1000
  user@1000.service          loaded inactive dead  User Manager for UID 1000
"""
SHOW = """\
Type=forking
NRestarts=3
Id=nginx.service

Type=notify
NRestarts=0
Id=ssh.service

Type=notify
NRestarts=0
Id=user@1000.service
"""


def test_systemd_output_parsing():
    from microrack.agent._collectors.systemd import parse_list_units, parse_show

    units = parse_list_units(LIST_UNITS)
    assert units[1] == ("nginx.service", "loaded", "failed")
    assert len(units) == 6
    shown = parse_show(SHOW)
    assert shown[0] == {"Type": "forking", "NRestarts": "3", "Id": "nginx.service"}


def test_systemd_without_systemd_as_init_is_no_data(monkeypatch):
    from microrack.agent._collectors.systemd import SystemdCollector

    c = SystemdCollector(LocalFS("/"), OPTS)
    if c.systemctl is None:
        missing("systemctl (Debian package systemd)")
    import subprocess

    booted = subprocess.run(
        [c.systemctl, "is-system-running"], capture_output=True, text=True
    ).stdout.strip()
    if booted in ("running", "degraded", "starting"):
        v = run(c)  # the real manager
        assert any(k[0] == "node_systemd_units" for k in v)
    else:
        with pytest.raises(NoData):
            run(c)  # this machine's real systemctl: "not been booted with systemd"
    with pytest.raises(NoData, match="live host"):
        run(SystemdCollector(MemoryFS({}), OPTS))


def test_systemd_metrics_from_captured_systemctl_output():
    """The mapping from systemctl's answers to node_exporter's families (systemd cannot run
    as init in this test's container, so its answers are the captured text above)."""
    from microrack.agent._collectors.systemd import SystemdCollector

    answers = {"list-units": LIST_UNITS, "show": SHOW}

    class Captured(SystemdCollector):
        def _run(self, *args: str) -> str:
            if args[0] == "show" and not any(a.endswith(".service") for a in args):
                return "SystemState=degraded\nVersion=252.33-1~deb12u1\n"
            return answers[args[0]]

    c = Captured(LocalFS("/"), OPTS)
    c.systemctl = "/usr/bin/systemctl"
    v = run(c)
    state = {
        (dict(k[1:])["name"], dict(k[1:])["state"]): (dict(k[1:])["type"], val)
        for k, val in v.items()
        if k[0] == "node_systemd_unit_state"
    }
    assert state[("nginx.service", "failed")] == ("forking", 1)
    assert state[("nginx.service", "active")] == ("forking", 0)
    assert state[("apt-daily.timer", "active")] == ("", 1)
    assert not [n for n, _ in state if n.endswith((".device", ".mount"))]  # default exclude
    assert v[("node_systemd_service_restart_total", ("name", "nginx.service"))] == 3
    assert v[("node_systemd_units", ("state", "active"))] == 4
    assert v[("node_systemd_units", ("state", "failed"))] == 1
    assert v[("node_systemd_system_running",)] == 0
    assert v[("node_systemd_version", ("version", "252.33-1~deb12u1"))] == 252.33

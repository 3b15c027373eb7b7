"""The agent beside the real thing: node_exporter, Prometheus and promtool (Debian packages)."""

from __future__ import annotations

import json
import math
import re
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from microrack.sensors import EXCLUDED_DEVICES
from support import free_port, http_get, microrack_cmd, require_binary, started, wait_http_ok

pytestmark = pytest.mark.integration

TREES = Path(__file__).resolve().parent.parent / "fixtures" / "trees"
BOARDS = ["rpi4b", "rpi5-nvme", "rk3588", "visionfive2"]
# node_exporter's collectors for what the agent collects (the others export other quantities)
COLLECTORS = [
    "cpu",
    "stat",
    "loadavg",
    "cpufreq",
    "meminfo",
    "filesystem",
    "netdev",
    "netclass",
    "diskstats",
    "thermal_zone",
    "hwmon",
    "filefd",
    "time",
    "uname",
    "vmstat",
    "netstat",
    "sockstat",
    "softnet",
    "pressure",
    "entropy",
    "conntrack",
    "arp",
    "udp_queues",
    "os",
    "timex",
]
# values that describe the process or this machine's kernel, not the files both read
NOT_FROM_TREE = ("node_uname_info", "node_time_seconds", "node_scrape_collector_duration_seconds")
NOT_FROM_TREE_PREFIX = ("node_timex_", "process_")

_LINE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Series = tuple[str, frozenset[tuple[str, str]]]


def parse(text: str) -> tuple[dict[str, str], dict[Series, float]]:
    """Prometheus text format -> (family types, value per series)."""
    types: dict[str, str] = {}
    values: dict[Series, float] = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, mtype = line.split(None, 3)
            types[name] = mtype
        elif line and not line.startswith("#"):
            m = _LINE.match(line)
            assert m, f"unparsable line: {line!r}"
            labels = frozenset(_LABEL.findall(m.group(2) or ""))
            values[(m.group(1), labels)] = float(m.group(3))
    return types, values


def node_exporter_argv(port: int, tree: Path | None) -> list[str]:
    exe = require_binary(
        "prometheus-node-exporter", "/usr/bin/prometheus-node-exporter", "/usr/bin/node_exporter"
    )
    argv = [
        exe,
        f"--web.listen-address=127.0.0.1:{port}",
        "--collector.disable-defaults",
        "--no-collector.netdev.netlink",
    ]
    argv += [f"--collector.{c}" for c in COLLECTORS]
    # the agent's one default that Debian's 1.5 package lacks (current upstream's, zram left out)
    argv.append(f"--collector.diskstats.device-exclude={EXCLUDED_DEVICES.pattern}")
    if tree is not None:
        argv += [
            f"--path.procfs={tree}/proc",
            f"--path.sysfs={tree}/sys",
            f"--path.rootfs={tree}",
            f"--path.udev.data={tree}/run/udev/data",
        ]
    return argv


@contextmanager
def pair(log_dir: Path, tree: Path | None, interval: str = "0.5") -> Iterator[tuple[str, str]]:
    """node_exporter and the agent on loopback, reading the same host or tree."""
    ne_port, ag_port = free_port(), free_port()
    agent = microrack_cmd("agent", "--listen", f"127.0.0.1:{ag_port}", "--interval", interval)
    if tree is not None:
        agent += ["--root", str(tree)]
    name = tree.name if tree else "host"
    with (
        started(
            node_exporter_argv(ne_port, tree),
            log_dir / f"node-exporter-{name}.log",
            wait=("127.0.0.1", ne_port),
        ),
        started(agent, log_dir / f"agent-{name}.log", wait=("127.0.0.1", ag_port)),
    ):
        yield f"http://127.0.0.1:{ne_port}/metrics", f"http://127.0.0.1:{ag_port}/metrics"


def wait_collections(metrics_url: str, seq: int, timeout: float = 120.0) -> None:
    """Until the agent behind ``metrics_url`` has made collection number ``seq``."""
    health = metrics_url.removesuffix("/metrics") + "/healthz"
    deadline = time.monotonic() + timeout
    while json.loads(http_get(health)[1])["seq"] < seq:
        assert time.monotonic() < deadline, f"the agent made no collection {seq}"
        time.sleep(0.1)


def scrape(url: str) -> str:
    status, body = http_get(url)
    assert status == 200, url
    return body.decode()


def helps(text: str) -> dict[str, str]:
    """HELP text per family, exactly as served (a trailing blank counts)."""
    out = {}
    for line in text.split("\n"):
        if line.startswith("# HELP "):
            _, _, name, *rest = line.split(" ", 3)
            out[name] = rest[0] if rest else ""
    return out


def compare_families(ne_text: str, ag_text: str) -> tuple[set[str], dict[Series, tuple]]:
    """Common families must agree on type, HELP and label names; returns them and paired values."""
    ne_types, ne_vals = parse(ne_text)
    ag_types, ag_vals = parse(ag_text)
    ne_help, ag_help = helps(ne_text), helps(ag_text)
    common = {n for n in ne_types if n in ag_types}
    for name in common:
        assert ne_types[name] == ag_types[name], f"{name}: {ag_types[name]} != {ne_types[name]}"
        assert ag_help[name] == ne_help[name], (name, ag_help[name], ne_help[name])
        ne_labels = {frozenset(k for k, _ in lab) for (n, lab) in ne_vals if n == name}
        ag_labels = {frozenset(k for k, _ in lab) for (n, lab) in ag_vals if n == name}
        assert ag_labels == ne_labels, f"{name}: label names {ag_labels} != {ne_labels}"
    paired = {s: (ne_vals[s], ag_vals.get(s)) for s in ne_vals if s[0] in common}
    return common, paired


# families of the newer collectors each tree must produce with both (its odd layouts noted)
NEW_FAMILIES = {
    "all": {
        "node_vmstat_pgmajfault",
        "node_vmstat_pgpgin",
        "node_netstat_Tcp_CurrEstab",
        "node_netstat_TcpExt_ListenDrops",
        "node_netstat_IpExt_InOctets",
        "node_sockstat_TCP_inuse",
        "node_sockstat_sockets_used",
        "node_sockstat_TCP_mem_bytes",
        "node_softnet_processed_total",
        "node_softnet_times_squeezed_total",
        "node_entropy_available_bits",
        "node_entropy_pool_size_bits",
        "node_udp_queues",
        "node_os_info",
        "node_time_clocksource_current_info",
        "node_time_clocksource_available_info",
        "node_disk_info",
        "node_network_info",
        "node_scrape_collector_success",
    },
    # 6.6, everything: IPv6, PSI, conntrack, udev data, every netclass attribute
    "rpi4b": {
        "node_netstat_Ip6_InOctets",
        "node_sockstat_TCP6_inuse",
        "node_sockstat_FRAG_memory",
        "node_pressure_cpu_waiting_seconds_total",
        "node_pressure_io_stalled_seconds_total",
        "node_nf_conntrack_entries",
        "node_nf_conntrack_stat_search_restart",
        "node_os_version",
        "node_disk_filesystem_info",
        "node_network_flags",
        "node_network_carrier_changes_total",
        "node_network_iface_id",
        "node_network_transmit_queue_length",
        "node_vmstat_oom_kill",
        "node_arp_entries",
    },
    # IPv6 off (no snmp6, sockstat6, udp6), no conntrack module, an empty ARP table
    "rpi5-nvme": {"node_pressure_memory_stalled_seconds_total", "node_os_version"},
    # vendor 5.10: no PSI, fewer netstat fields, 11-column softnet_stat
    "rk3588": {
        "node_nf_conntrack_entries_limit",
        "node_sockstat_UDP6_inuse",
        "node_os_version",
        "node_arp_entries",
    },
    # only /usr/lib/os-release (no VERSION_ID: no node_os_version), no PSI, no conntrack
    "visionfive2": {"node_netstat_Udp6_InDatagrams", "node_arp_entries"},
}


def test_same_families_and_values_over_board_trees(artifacts_dir):
    """Over each hand-built tree both read identical files: every common series is equal."""
    for board in BOARDS:
        with pair(artifacts_dir / "agent-peers", TREES / board) as (ne_url, ag_url):
            ag_text = scrape(ag_url)
            common, paired = compare_families(scrape(ne_url), ag_text)
        expected = {
            "node_cpu_seconds_total",
            "node_memory_MemTotal_bytes",
            "node_load1",
            "node_filefd_maximum",
            "node_time_seconds",
            "node_uname_info",
            "node_disk_io_now",
            "node_network_receive_bytes_total",
            "node_thermal_zone_temp",
            "node_hwmon_temp_celsius",
            "node_cpu_frequency_max_hertz",
            "node_filesystem_size_bytes",
        }
        expected |= NEW_FAMILIES["all"] | NEW_FAMILIES[board]
        fallback = [n for n, h in helps(ag_text).items() if h == n.replace("_", " ")]
        assert not fallback, f"{board}: families without a HELP text: {fallback}"
        assert expected <= common, (board, expected - common)
        for series, (ne_v, ag_v) in paired.items():
            if series[0] in NOT_FROM_TREE or series[0].startswith(NOT_FROM_TREE_PREFIX):
                continue  # node_exporter asks this machine's kernel, not the tree's files
            assert ag_v is not None, f"{board}: agent lacks {series}"
            if series[0] in (
                "node_filesystem_free_bytes",
                "node_filesystem_avail_bytes",
                "node_filesystem_files_free",
            ):
                continue  # the tree lives on this machine's disk, which other tests write to
            assert ag_v == ne_v, f"{board}: {series}: agent {ag_v} != node_exporter {ne_v}"


def _close(name: str, a: float, b: float) -> bool:
    if name.endswith("_seconds_total"):
        return abs(a - b) <= 5.0 + 0.01 * abs(b)
    if name.endswith("_bytes_total") or name.startswith(("node_memory_", "node_filesystem_")):
        return math.isclose(a, b, rel_tol=0.05, abs_tol=64 * 2**20)
    if name.startswith("node_load") or name.startswith("node_procs_"):
        return abs(a - b) <= 4.0
    return math.isclose(a, b, rel_tol=0.05, abs_tol=1000)


CONSTANTS = (
    "node_memory_MemTotal_bytes",
    "node_memory_SwapTotal_bytes",
    "node_filesystem_size_bytes",
    "node_filesystem_files",
    "node_filesystem_readonly",
    "node_boot_time_seconds",
    "node_network_mtu_bytes",
    "node_cpu_frequency_max_hertz",
    "node_cpu_frequency_min_hertz",
    "node_cpu_scaling_frequency_max_hertz",
    "node_uname_info",
    "node_filefd_maximum",
)


def _agrees(name: str, ag_v: float, ne_before: float, ne_after: float | None) -> bool:
    """The agent's value lies within tolerance of node_exporter's, read just before and after."""
    if ne_after is None:
        return _close(name, ag_v, ne_before)
    lo, hi = min(ne_before, ne_after), max(ne_before, ne_after)
    return lo <= ag_v <= hi or _close(name, ag_v, lo) or _close(name, ag_v, hi)


def test_agrees_with_node_exporter_on_this_host(artifacts_dir):
    # Gauges such as Committed_AS move by a lot on a host busy with other tests, so the
    # agent's value is compared with node_exporter's read before and after it, and a
    # series that disagrees gets two more rounds; one that disagrees in every round
    # (a wrong unit, a wrong field) fails.  Constants must be equal in every round.
    disagree: dict[Series, str] | None = None
    with pair(artifacts_dir / "agent-peers", None) as (ne_url, ag_url):
        rounds = 0
        while rounds < 3:
            rounds += 1
            ne_before = scrape(ne_url)
            seq = json.loads(http_get(ag_url.removesuffix("/metrics") + "/healthz")[1])["seq"]
            wait_collections(ag_url, seq + 1)  # the agent's sample is newer than ne_before
            ag_text = scrape(ag_url)
            ne_after = scrape(ne_url)
            (artifacts_dir / "agent-peers" / "host-node-exporter.txt").write_text(ne_before)
            (artifacts_dir / "agent-peers" / "host-agent.txt").write_text(ag_text)
            common, paired = compare_families(ne_before, ag_text)
            assert {
                "node_cpu_seconds_total",
                "node_memory_MemTotal_bytes",
                "node_load1",
                "node_disk_io_now",
                "node_filesystem_size_bytes",
                "node_uname_info",
                "node_time_seconds",
                "node_filefd_allocated",
            } <= common
            missing = [s for s, (ne, ag) in paired.items() if ag is None]
            assert not missing, f"series node_exporter has and the agent lacks: {missing[:10]}"
            after = parse(ne_after)[1]
            failed: dict[Series, str] = {}
            for series, (ne_v, ag_v) in paired.items():
                name, labels = series
                if name.startswith("process_") or name == "node_scrape_collector_duration_seconds":
                    continue  # each exporter's own process
                if name in CONSTANTS:
                    assert ag_v == ne_v, f"{name}{dict(labels)}: agent {ag_v} != {ne_v}"
                elif not _agrees(name, ag_v, ne_v, after.get(series)):
                    failed[series] = f"{name}{dict(labels)}: {ag_v} vs {ne_v}..{after.get(series)}"
            disagree = (
                failed if disagree is None else {s: m for s, m in failed.items() if s in disagree}
            )
            if not disagree:
                break
    assert not disagree, f"disagree in all {rounds} rounds: {list(disagree.values())[:10]}"


def _promtool_remarks(promtool: str, text: str) -> set[str]:
    p = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60
    )
    out = (p.stdout + p.stderr).splitlines()
    assert p.returncode in (0, 3), out  # 3: lint remarks only
    # a parse failure reads "error while linting: ..."; remarks name metrics (…_InErrors)
    assert not [line for line in out if line.lower().startswith("error")], out
    return {line.strip() for line in out if line.strip()}


def test_promtool_finds_no_parse_errors(artifacts_dir):
    promtool = require_binary("promtool", "/usr/bin/promtool")
    for tree in [None, *(TREES / b for b in BOARDS)]:
        with pair(artifacts_dir / "agent-peers", tree) as (ne_url, ag_url):
            wait_collections(ag_url, 2)  # a second collection: rates and busy ratio are present
            ne_text, ag_text = scrape(ne_url), scrape(ag_url)
        # the host's cpu counters move between the two collections; a tree's do not
        assert ("microrack_cpu_busy_ratio" if tree is None else "microrack_node_info") in ag_text
        ag_remarks = _promtool_remarks(promtool, ag_text)
        ne_remarks = _promtool_remarks(promtool, ne_text)
        # node_exporter's own names (node_memory_MemTotal_bytes ...) draw remarks; ours must not
        assert ag_remarks <= ne_remarks, ag_remarks - ne_remarks


def test_prometheus_scrapes_the_agent(tmp_path, artifacts_dir):
    prometheus = require_binary("prometheus", "/usr/bin/prometheus")
    ag_port, prom_port = free_port(), free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "  - job_name: microrack-agent\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{ag_port}']}}]\n"
    )
    agent = microrack_cmd(
        "agent",
        "--listen",
        f"127.0.0.1:{ag_port}",
        "--interval",
        "1",
        "--root",
        str(TREES / "rpi5-nvme"),
        "--node",
        "pi5-prom",
    )
    prom = [
        prometheus,
        f"--config.file={cfg}",
        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}",
    ]
    logs = artifacts_dir / "agent-peers"

    def query(expr: str) -> list[dict]:
        url = f"http://127.0.0.1:{prom_port}/api/v1/query?query={urllib.parse.quote(expr)}"
        status, body = http_get(url)
        assert status == 200, body
        return json.loads(body)["data"]["result"]

    with (
        started(agent, logs / "agent-prometheus.log", wait=("127.0.0.1", ag_port)),
        started(prom, logs / "prometheus.log", wait=("127.0.0.1", prom_port)),
    ):
        wait_http_ok(f"http://127.0.0.1:{prom_port}/-/ready")
        deadline = time.monotonic() + 120
        while True:
            fan = query('node_hwmon_fan_rpm{chip="platform_cooling_fan",sensor="fan1"}')
            if fan:
                break
            assert time.monotonic() < deadline, "Prometheus never stored the agent's series"
            time.sleep(0.5)
        assert float(fan[0]["value"][1]) == 2934
        assert fan[0]["metric"]["job"] == "microrack-agent"
        up = query('up{job="microrack-agent"}')
        assert [float(r["value"][1]) for r in up] == [1.0]
        nvme = query('node_hwmon_temp_celsius{chip="nvme_nvme0",sensor="temp1"}')
        assert float(nvme[0]["value"][1]) == pytest.approx(38.85)
        info = query("microrack_node_info")
        assert info[0]["metric"]["node"] == "pi5-prom"
        zones = query("node_thermal_zone_temp")
        assert {r["metric"]["type"] for r in zones} == {"cpu-thermal"}


def test_cpu_info_over_an_x86_tree(artifacts_dir):
    """``--collector.cpu.info`` with flag and bug filters, as node_exporter parses cpuinfo, and
    ``--collector.stat.softirq``."""
    tree = TREES / "x86-nuc"
    exe = require_binary(
        "prometheus-node-exporter", "/usr/bin/prometheus-node-exporter", "/usr/bin/node_exporter"
    )
    ne_port, ag_port = free_port(), free_port()
    flags = [
        "--collector.cpu.info",
        "--collector.cpu.info.flags-include=^(aes|avx2|sse2)$",
        "--collector.cpu.info.bugs-include=^spectre",
        "--collector.stat.softirq",
        "--collector.disable-defaults",
        "--collector.cpu",
        "--collector.cpufreq",
        "--collector.stat",
    ]
    ne = [
        exe,
        f"--web.listen-address=127.0.0.1:{ne_port}",
        *flags,
        f"--path.procfs={tree}/proc",
        f"--path.sysfs={tree}/sys",
    ]
    agent = microrack_cmd("agent", "--listen", f"127.0.0.1:{ag_port}", "--root", str(tree), *flags)
    logs = artifacts_dir / "agent-peers"
    with (
        started(ne, logs / "node-exporter-x86.log", wait=("127.0.0.1", ne_port)),
        started(agent, logs / "agent-x86.log", wait=("127.0.0.1", ag_port)),
    ):
        ne_text = scrape(f"http://127.0.0.1:{ne_port}/metrics")
        ag_text = scrape(f"http://127.0.0.1:{ag_port}/metrics")
    common, paired = compare_families(ne_text, ag_text)
    assert {
        "node_cpu_info",
        "node_cpu_flag_info",
        "node_cpu_bug_info",
        "node_softirqs_total",
    } <= common
    for series, (ne_v, ag_v) in paired.items():
        if series[0] in NOT_FROM_TREE or series[0].startswith(NOT_FROM_TREE_PREFIX):
            continue
        assert ag_v == ne_v, f"{series}: agent {ag_v} != node_exporter {ne_v}"
    _, ag_vals = parse(ag_text)
    # current node_exporter's governor family (1.5 has none): 1 for the one in use
    assert (
        ag_vals[("node_cpu_scaling_governor", frozenset({("cpu", "1"), ("governor", "powersave")}))]
        == 1
    )
    assert (
        ag_vals[
            ("node_cpu_scaling_governor", frozenset({("cpu", "1"), ("governor", "performance")}))
        ]
        == 0
    )
    # cpufreq is present, so cpuinfo's MHz does not add node_cpu_frequency_hertz{package,core}
    assert not [k for n, k in ag_vals if n == "node_cpu_frequency_hertz" and dict(k).get("core")]


def test_textfile_directory_as_node_exporter_reads_it(tmp_path, artifacts_dir):
    """The same textfile directory for both: merged families, mtimes and the error flag agree."""
    tf = tmp_path / "textfile"
    tf.mkdir()
    (tf / "smart.prom").write_text(
        "# HELP smartctl_device_temperature Drive temperature in celsius.\n"
        "# TYPE smartctl_device_temperature gauge\n"
        'smartctl_device_temperature{device="nvme0"} 41\n'
        'smartctl_device_temperature{device="sda"} 35\n'
    )
    (tf / "ups.prom").write_text(
        "# TYPE ups_battery_charge_ratio gauge\n"
        "ups_battery_charge_ratio 0.97\nbackup_runs_total 12\n"
    )
    (tf / "timestamped.prom").write_text("stale_metric 1 1700000000000\n")  # skipped whole
    # HELP as expfmt reads it: trailing blanks kept, blank text is no text, \\ and \n unescaped
    (tf / "help.prom").write_text(
        "# HELP trailing_blank_help Ends in two blanks.  \n"
        "trailing_blank_help 1\n"
        "# HELP blank_help \t \nblank_help 2\n"
        "#\tHELP\tescaped_help a \\\\n b \\n c \\\\\\\\\n"
        "escaped_help 3\n"
    )
    (tf / "bad-escape.prom").write_text("# HELP bad_escape_help a \\t b\nbad_escape_help 4\n")
    (tf / "ignored.txt").write_text("not_read 1\n")
    exe = require_binary(
        "prometheus-node-exporter", "/usr/bin/prometheus-node-exporter", "/usr/bin/node_exporter"
    )
    ne_port, ag_port = free_port(), free_port()
    flags = [
        "--collector.disable-defaults",
        "--collector.textfile",
        f"--collector.textfile.directory={tf}",
    ]
    logs = artifacts_dir / "agent-peers"
    with (
        started(
            [exe, f"--web.listen-address=127.0.0.1:{ne_port}", *flags],
            logs / "node-exporter-textfile.log",
            wait=("127.0.0.1", ne_port),
        ),
        started(
            microrack_cmd("agent", "--listen", f"127.0.0.1:{ag_port}", *flags),
            logs / "agent-textfile.log",
            wait=("127.0.0.1", ag_port),
        ),
    ):
        ne_text = scrape(f"http://127.0.0.1:{ne_port}/metrics")
        ag_text = scrape(f"http://127.0.0.1:{ag_port}/metrics")
    common, paired = compare_families(ne_text, ag_text)
    assert {
        "smartctl_device_temperature",
        "ups_battery_charge_ratio",
        "backup_runs_total",
        "node_textfile_mtime_seconds",
        "node_textfile_scrape_error",
        "trailing_blank_help",
        "blank_help",
        "escaped_help",
    } <= common
    assert helps(ag_text)["trailing_blank_help"] == "Ends in two blanks.  "
    assert helps(ag_text)["blank_help"] == f"Metric read from {tf / 'help.prom'}"
    assert "stale_metric" not in common and "not_read" not in ag_text
    assert "bad_escape_help" not in ne_text and "bad_escape_help" not in ag_text
    for series, (ne_v, ag_v) in paired.items():
        if series[0] in NOT_FROM_TREE or series[0].startswith(NOT_FROM_TREE_PREFIX):
            continue
        assert ag_v == ne_v, f"{series}: agent {ag_v} != node_exporter {ne_v}"
    assert parse(ag_text)[1][("node_textfile_scrape_error", frozenset())] == 1

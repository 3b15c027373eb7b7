"""The pure parts of bench: sizes, units, percentiles, clock reading, compare."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from microrack.bench.cpu import node_clock
from microrack.bench.measure import Measurement, WorkloadResult, parse_size, percentiles
from microrack.bench.profile import load_profile, resolve_settings, suite_options
from microrack.bench.report import compare_runs
from microrack.bench.storage import StorageParams, check_directory
from microrack.bench.suite import BenchRun, resolve_workloads
from microrack.errors import ConfigError, UsageError


@pytest.mark.parametrize(
    "text, value",
    [
        ("4k", 4096),
        ("4K", 4096),
        ("1M", 1 << 20),
        ("256MiB", 256 << 20),
        ("1g", 1 << 30),
        ("512", 512),
        ("1.5k", 1536),
    ],
)
def test_parse_size_reads_sizes_like_fio(text, value):
    assert parse_size(text, "--size") == value


@pytest.mark.parametrize("text", ["", "lots", "0", "-1M", "4q"])
def test_parse_size_rejects_and_names_the_argument(text):
    with pytest.raises(UsageError) as exc:
        parse_size(text, "--block-size")
    assert str(exc.value).startswith("--block-size:")


@settings(deadline=None)  # no wall-clock limit on a loaded CI machine
@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=200))
def test_percentiles_are_ordered_seconds(values):
    p = percentiles(values)
    assert p["p50"] <= p["p99"] <= p["p99.9"] <= max(values) / 1e9 + 1e-12
    assert p["p50"] >= min(values) / 1e9 - 1e-12


def test_measurement_rejects_unknown_units_and_round_trips_json():
    with pytest.raises(ValueError):
        Measurement.of("x", 1, "MB/s")
    m = Measurement.of("throughput", 3.5, "bytes/s", pair="node0-node1", transport="tcp")
    assert Measurement.from_json(m.to_json()) == m
    assert math.isnan(Measurement.from_json({"name": "x", "value": None, "unit": "s"}).value)


def test_unknown_workload_names_the_argument():
    assert resolve_workloads("all") == ("cpu", "storage", "net", "mixed")
    with pytest.raises(UsageError, match=r"^workload: unknown workload 'gpu'"):
        resolve_workloads("gpu")


def test_node_clock_reads_cpufreq_and_thermal_zones(tmp_path: Path):
    for cpu, khz in (("cpu0", "1500000"), ("cpu1", "2400000")):
        d = tmp_path / "sys/devices/system/cpu" / cpu / "cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_cur_freq").write_text(khz + "\n")
    for zone, milli in (("thermal_zone0", "45000"), ("thermal_zone1", "61250")):
        d = tmp_path / "sys/class/thermal" / zone
        d.mkdir(parents=True)
        (d / "temp").write_text(milli + "\n")
    (tmp_path / "sys/devices/system/cpu/cpufreq").mkdir()  # not a cpuN: ignored
    assert node_clock(str(tmp_path)) == {"frequency_hz": 2.4e9, "temperature_celsius": 61.25}


def test_node_clock_absent_hardware_is_none(tmp_path: Path):
    assert node_clock(str(tmp_path)) == {"frequency_hz": None, "temperature_celsius": None}


def test_check_directory_answers_instead_of_raising(tmp_path: Path):
    assert check_directory(str(tmp_path / "missing"), 1 << 20, None)["argument"] == "--dir"
    assert check_directory(str(tmp_path), 1 << 60, None)["argument"] == "--size"
    assert check_directory(str(tmp_path), 1024, None, block_size=4096)["argument"] == "--size"
    # direct I/O needs 4k-aligned blocks: "where allowed" falls back, --direct refuses
    assert check_directory(str(tmp_path), 1 << 20, None, block_size=1000)["direct"] is False
    assert (
        check_directory(str(tmp_path), 1 << 20, True, block_size=1000)["argument"] == "--block-size"
    )
    ok = check_directory(str(tmp_path), 1 << 20, False)
    assert ok["direct"] is False and ok["free"] > 0
    assert list(tmp_path.iterdir()) == []  # the probe file is gone


def test_file_size_is_whole_blocks():
    assert StorageParams(size=10 << 20, block_size=3 << 20).file_size() == 9 << 20


def test_compare_ratios_are_b_over_a():
    def run(v: float) -> BenchRun:
        r = WorkloadResult("cpu")
        r.add("int_single_core", v, "ops/s", node="node0")
        r.add("direct_io", 1, "bool", node="node0")
        return BenchRun("t", {}, {"cpu": r})

    rows = compare_runs(run(100.0), run(150.0))
    assert [(r["name"], r["ratio"]) for r in rows] == [("int_single_core", 1.5)]


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["bench-quick.yaml", "bench-sbc.yaml"])
def test_example_profiles_load_and_make_options(name):
    settings = resolve_settings({}, str(EXAMPLES / name))
    opts = suite_options(("cpu",), settings, progress=False)
    assert opts.storage.block_size >= 4096 and opts.net.round_trips >= 1


@pytest.mark.parametrize(
    "text, field",
    [
        ("storage:\n  queue_depth: 0\n", "storage.queue_depth"),
        ("storage:\n  size: lots\n", "storage.size"),
        ("net:\n  pair: [node0]\n", "net.pair"),
        ("cpu:\n  cores: 4\n", "cpu.cores"),
        ("gpu: {}\n", "gpu"),
    ],
)
def test_bad_profile_names_file_and_field(tmp_path: Path, text, field):
    path = tmp_path / "p.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_profile(str(path))
    assert str(exc.value).startswith(f"{path}: {field}:")


def test_flags_beat_profile_beats_defaults(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text(
        "engine:\n  scheduler: tcp://head:8786\nstorage:\n  size: 8M\n  queue_depth: 8\n"
    )
    s = resolve_settings({"queue_depth": 2, "size": None}, str(path))
    assert (s["size"], s["queue_depth"], s["block_size"]) == ("8M", 2, "1M")
    assert s["scheduler"] == "tcp://head:8786"
    assert resolve_settings({"local": 3}, str(path))["scheduler"] is None


def test_summary_puts_percentiles_of_one_thing_on_one_row():
    from microrack.bench.report import summary_rows

    r = WorkloadResult("net")
    for q, v in (("p50", 1e-5), ("p99", 2e-5), ("p99.9", 3e-3)):
        r.add("pingpong_latency", v, "s", pair="node0-node1", quantile=q)
    r.add("throughput", 2**30, "bytes/s", pair="node0-node1")
    assert summary_rows(r) == [
        ("pingpong_latency p50/p99/p99.9", "pair=node0-node1", "10.0 µs / 20.0 µs / 3.00 ms", "s"),
        ("throughput", "pair=node0-node1", "1.0 GiB/s", "bytes/s"),
    ]


@pytest.mark.parametrize(
    "model, board",
    [
        ("Raspberry Pi 5 Model B Rev 1.0", "rpi-5"),
        ("Raspberry Pi 4 Model B Rev 1.4", "rpi-4b"),
        ("Raspberry Pi Compute Module 4 Rev 1.1", "rpi-cm4"),
        ("Turing RK1", "turing-rk1"),
        ("QEMU Virtual Machine", None),
    ],
)
def test_device_tree_model_to_catalog_board(model, board):
    from microrack.bench.engine import board_id_for

    assert board_id_for(model) == board


def test_storage_job_runs_only_the_random_phases_asked(tmp_path: Path):
    from microrack.bench.storage import storage_job

    job = storage_job(
        str(tmp_path),
        "unit",
        "node0",
        256 << 10,
        64 << 10,
        4,
        False,
        0.05,
        random_phases=("randwrite_qd4",),
    )
    assert set(job["phases"]) == {"seq_write", "seq_read", "randwrite_qd4"}
    assert job["phases"]["seq_read"]["verified_blocks"] == 4
    assert job["removed"] and list(tmp_path.iterdir()) == []


def test_mixed_analysis_queue_delay_stragglers_and_utilisation():
    """A hand-made task stream: the numbers follow from the definitions."""
    from microrack.bench.mixed import MixedParams, _analyse

    def rec(key, worker, start, stop, transfer=None):
        ss = [{"action": "compute", "start": start, "stop": stop}]
        if transfer:
            ss.insert(0, {"action": "transfer", "start": transfer[0], "stop": transfer[1]})
        return {"key": key, "worker": worker, "startstops": ss}

    t = 100.0
    records = [
        rec("cpu-0-x", "w0", t + 0.0, t + 1.0),
        rec("cpu-1-x", "w1", t + 0.0, t + 1.0),
        rec("cpu-2-x", "w0", t + 1.0, t + 5.0),  # queued 1 s behind cpu-0; a straggler
        rec("final-x", "w1", t + 6.0, t + 6.5, transfer=(t + 5.5, t + 6.0)),
        rec("unrelated", "w0", t, t + 100),  # not part of this graph: ignored
    ]
    deps = {
        "cpu-0-x": [],
        "cpu-1-x": [],
        "cpu-2-x": [],
        "final-x": ["cpu-0-x", "cpu-1-x", "cpu-2-x"],
    }
    a = _analyse(
        records,
        deps,
        t,
        {"w0": "node0", "w1": "node1"},
        {"node0": 1, "node1": 1},
        MixedParams(straggler_factor=2.0, bins=13),
    )
    tasks = a["tasks"]
    assert set(tasks) == set(deps)
    assert tasks["cpu-2-x"]["queue"] == pytest.approx(1.0)
    assert tasks["final-x"]["queue"] == pytest.approx(0.5)  # ready at 5.0, transfer at 5.5
    assert tasks["final-x"]["transfer"] == pytest.approx(0.5)
    assert a["stragglers"] == ["cpu-2-x"]
    assert a["bin_seconds"] == pytest.approx(0.5)
    # node0 is busy from 0 to 5 s: the first ten half-second bins are full
    assert a["utilisation"]["node0"][:10] == pytest.approx([1.0] * 10)
    assert a["utilisation"]["node0"][10:] == pytest.approx([0.0] * 3)
    assert a["utilisation"]["node1"][:2] == pytest.approx([1.0, 1.0])
    assert a["utilisation"]["node1"][12] == pytest.approx(1.0)

"""The dashboard's data endpoints, in-process (Starlette's TestClient over a real store),
the sensor names, the rack layout, and one alert per (rule, node)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from microrack.hub import AlertEngine, Hub, HubConfig, create_app, load_rules, rack_layout
from microrack.hub._names import temperature_sensors, zone_name
from microrack.hub._nodes import NodeState
from microrack.hub._rack import poe_usage
from microrack.hub._standin import FAN_AND_POWER, SENSORS
from microrack.hub._store import Batch
from microrack.spec import load_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOW = time.time()
T0 = NOW - 120  # two minutes of data, one sample a second

SERIES: list[tuple[str, dict[str, str], str]] = [
    ("node_cpu_seconds_total", {"cpu": "0", "mode": "user"}, "counter"),
    ("node_cpu_seconds_total", {"cpu": "0", "mode": "idle"}, "counter"),
    ("node_cpu_seconds_total", {"cpu": "0", "mode": "iowait"}, "counter"),
    ("node_cpu_seconds_total", {"cpu": "1", "mode": "user"}, "counter"),
    ("node_cpu_seconds_total", {"cpu": "1", "mode": "idle"}, "counter"),
    ("node_cpu_seconds_total", {"cpu": "1", "mode": "iowait"}, "counter"),
    ("node_network_receive_bytes_total", {"device": "eth0"}, "counter"),
    ("node_network_transmit_bytes_total", {"device": "eth0"}, "counter"),
    ("node_network_receive_bytes_total", {"device": "lo"}, "counter"),
    *SENSORS,
    ("microrack_throttle_limit_celsius", {"kind": "soft"}, "gauge"),
    ("microrack_disk_read_latency_seconds", {"device": "nvme0n1"}, "gauge"),
    ("microrack_disk_queue_depth", {"device": "nvme0n1"}, "gauge"),
    ("microrack_disk_queue_depth", {"device": "mmcblk0"}, "gauge"),
    *FAN_AND_POWER,
    ("microrack_throttled", {"flag": "under_voltage", "when": "now"}, "gauge"),
    ("node_memory_MemTotal_bytes", {}, "gauge"),
    ("node_memory_MemAvailable_bytes", {}, "gauge"),
    ("node_filesystem_size_bytes", {"mountpoint": "/", "device": "/dev/root"}, "gauge"),
    ("node_filesystem_avail_bytes", {"mountpoint": "/", "device": "/dev/root"}, "gauge"),
]


def _values(i: int) -> list[float | None]:
    """Second ``i``: each core 25 % user, 5 % iowait; 1 kB/s in, 2 kB/s out; under-voltage
    from second 30 to 60."""
    return [
        0.25 * i,
        0.70 * i,
        0.05 * i,
        0.25 * i,
        0.70 * i,
        0.05 * i,
        1000.0 * i,
        2000.0 * i,
        50.0 * i,
        50.0,
        50.0,
        40.0,
        85.0,
        1.0,
        80.0,
        0.0002,
        1.5,
        3.0,
        3000.0,
        0.6,
        4.0,
        1.0 if 30 <= i < 60 else 0.0,
        8e9,
        6e9,
        64e9,
        48e9,
    ]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, Hub]]:
    layout = rack_layout(load_spec(EXAMPLES / "cluster-cm4-20.yaml"))
    hub = Hub(HubConfig(db=tmp_path / "hub.db", price_kwh=0.3, currency="EUR", rack=layout))
    samples = [(i + 1, T0 + i, _values(i)) for i in range(120)]
    batch = Batch("n1", "rpi-5", "127.0.0.1", 1, "boot", 1.0, 120, SERIES, samples)
    hub.store.write([batch])
    with TestClient(create_app(hub), base_url="http://127.0.0.1:8080") as c:
        yield c, hub


def _view(c: TestClient, **params: Any) -> dict[str, Any]:
    r = c.get("/api/v1/nodes/n1/view", params={"from": T0, "to": NOW, "points": 12, **params})
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def _by_name(series: list[dict[str, Any]]) -> dict[str, list[float]]:
    return {s["name"]: s["v"] for s in series}


def test_node_view_turns_counters_into_rates_and_names_lines(
    client: tuple[TestClient, Hub],
) -> None:
    c, _ = client
    v = _view(c)
    p = v["panels"]
    assert v["first_sample"] == pytest.approx(T0, abs=1)
    modes = _by_name(p["cpu_modes"]["series"])
    assert set(modes) == {"user", "iowait"}  # idle is not a mode of busy time
    assert all(x == pytest.approx(0.25) for x in modes["user"])
    assert all(x == pytest.approx(0.05) for x in modes["iowait"])
    cores = _by_name(p["cpu_cores"]["series"])
    assert list(cores) == ["cpu0", "cpu1"] and all(x == pytest.approx(0.3) for x in cores["cpu0"])
    net = _by_name(p["network"]["series"])
    assert set(net) == {"eth0 rx", "eth0 tx"}  # loopback left out
    assert all(x == pytest.approx(1000) for x in net["eth0 rx"])
    assert all(x == pytest.approx(2000) for x in net["eth0 tx"])
    # one line per physical sensor: the hwmon mirror of zone 0 is not drawn twice
    temps = [s["name"] for s in p["temperatures"]["series"]]
    assert temps == ["SoC", "NVMe nvme0n1"]
    limits = {x["name"]: x["value"] for x in p["temperatures"]["limits"]}
    assert limits == {"soft throttle limit": 80.0, "NVMe nvme0n1 critical": 85.0}
    drives = p["nvme"]["drives"]
    assert [d["device"] for d in drives] == ["nvme0n1"]  # the SD card is no NVMe drive
    assert drives[0]["queue"][0]["v"][-1] == pytest.approx(1.5)
    assert drives[0]["temperature"][0]["name"] == "NVMe nvme0n1"
    fans = {s["name"]: s["axis"] for s in p["fans"]["series"]}
    assert fans == {"fan rpm": "rpm", "fan duty": "duty"}
    used = _by_name(p["memory"]["series"])["used"]
    assert all(x == pytest.approx(2e9) for x in used)
    assert p["filesystems"]["table"][0]["used_ratio"] == pytest.approx(0.25)
    (uv,) = p["throttling"]["flags"]
    assert uv["flag"] == "under_voltage" and len(uv["intervals"]) == 1
    start, end = uv["intervals"][0]
    assert start == pytest.approx(T0 + 30, abs=0.01) and end == pytest.approx(T0 + 60, abs=0.01)
    assert p["containers"]["reported"] is False and p["containers"]["table"] == []
    # every line sits on the page's grid, never more buckets than asked for
    for s in p["cpu_modes"]["series"] + p["temperatures"]["series"]:
        assert len(s["t"]) <= 12 and len(s["t"]) == len(s["v"])


def test_node_view_checks_its_parameters(client: tuple[TestClient, Hub]) -> None:
    c, _ = client
    r = c.get("/api/v1/nodes/nobody/view")
    assert r.status_code == 404 and r.json()["parameter"] == "name"
    for params, field in (
        ({"points": "0"}, "points"),
        ({"points": "5000"}, "points"),
        ({"points": "many"}, "points"),
        ({"from": "yesterday"}, "from"),
        ({"from": str(NOW), "to": str(T0)}, "to"),
    ):
        r = c.get("/api/v1/nodes/n1/view", params=params)
        assert r.status_code == 400 and r.json()["parameter"] == field, (params, r.text)


def test_cluster_strip_and_rack(client: tuple[TestClient, Hub]) -> None:
    c, _ = client
    s = c.get("/api/v1/cluster").json()
    assert s["currency"] == "EUR" and s["first_sample"] == pytest.approx(T0, abs=1)
    # the stored power samples of today, and since when they count (4 W for 119 s)
    if time.gmtime(T0).tm_yday == time.gmtime(NOW).tm_yday:
        assert s["energy_since"] == pytest.approx(T0, abs=0.01)
        assert s["energy_kwh"] == pytest.approx(119 * 4.0 / 3.6e6)
        assert s["energy_cost"] == pytest.approx(119 * 4.0 / 3.6e6 * 0.3)
    assert s["poe"] == [
        {
            "switch": "poe-24",
            "budget_w": 400.0,
            "used_w": 0.0,  # no node of the spec is up
            "allocation": "consumption",
            "ports_powered": 20,
        }
    ]
    layout = c.get("/api/v1/rack").json()["layout"]
    assert layout["cluster"] == "cm4-poe" and len(layout["nodes"]) == 20
    first = layout["nodes"][0]
    assert first["switch"] == "poe-24" and first["port"] == 1 and first["poe"] is True
    assert first["poe_class"] == 4 and first["shelf"] == "poe-24" and first["slot"] == 1
    assert [n["slot"] for n in layout["nodes"]] == list(range(1, 21))


def test_poe_usage_by_class_or_draw() -> None:
    layout = rack_layout(load_spec(EXAMPLES / "cluster-cm4-20.yaml"))
    names = [n.name for n in layout.nodes]
    (drawn,) = poe_usage(layout, dict.fromkeys(names, 5.0))
    assert drawn["used_w"] == pytest.approx(100.0)
    by_class = layout.__class__(
        layout.cluster,
        layout.nodes,
        tuple(sw.__class__(sw.name, sw.ports, sw.poe_budget_w, "class") for sw in layout.switches),
    )
    (reserved,) = poe_usage(by_class, {})
    assert reserved["used_w"] == pytest.approx(20 * 30.0)  # class 4 reserves 30 W a port


def test_rack_layout_reads_rack_shelf_and_slot_labels(tmp_path: Path) -> None:
    text = (EXAMPLES / "cluster-cm4-20.yaml").read_text()
    text = text.replace(
        "  board: cm4\n  ram_gb: 8\n", "  board: cm4\n  ram_gb: 8\n  labels: {rack: east}\n", 1
    )
    path = tmp_path / "c.yaml"
    path.write_text(text)
    layout = rack_layout(load_spec(path))
    assert layout.nodes[0].rack == "east" and layout.nodes[1].rack == "rack"


@pytest.mark.parametrize(
    ("zone", "name"),
    [
        ("cpu-thermal", "SoC"),
        ("soc-thermal", "SoC"),
        ("bigcore0-thermal", "CPU big cores 0"),
        ("gpu-thermal", "GPU"),
        ("x86_pkg_temp", "CPU package"),
        ("strange-zone", "strange-zone"),
    ],
)
def test_zone_names(zone: str, name: str) -> None:
    assert zone_name(zone) == name


def test_sensor_names_without_zones_and_repeated_names() -> None:
    series = [
        ("node_hwmon_temp_celsius", {"chip": "platform_coretemp_0", "sensor": "temp1"}),
        ("node_hwmon_temp_celsius", {"chip": "platform_coretemp_0", "sensor": "temp2"}),
        ("node_hwmon_temp_celsius", {"chip": "thermal_thermal_zone0", "sensor": "temp0"}),
        ("node_hwmon_temp_celsius", {"chip": "thermal_thermal_zone0", "sensor": "temp1"}),
        ("node_hwmon_temp_celsius", {"chip": "nvme_nvme1", "sensor": "temp2"}),
    ]
    chips = {"platform_coretemp_0": "coretemp", "thermal_thermal_zone0": "cpu_thermal"}
    labels = {
        ("platform_coretemp_0", "temp1"): "Package id 0",
        ("platform_coretemp_0", "temp2"): "Core 0",
        ("nvme_nvme1", "temp2"): "Sensor 1",
    }
    got = {s.name: s.kind for s in temperature_sensors(series, chips, labels)}
    # a thermal zone's hwmon mirror without the zone metric is shown once
    assert got == {
        "CPU Package id 0": "soc",
        "CPU Core 0": "soc",
        "SoC": "soc",
        "NVMe nvme1n1 Sensor 1": "nvme",
    }


def _node(**series: float) -> NodeState:
    n = NodeState(host="127.0.0.1", port=1, source="test", name="n1", status="up")
    for spec, v in series.items():
        name, _, rest = spec.partition("__")
        labels = tuple(sorted(tuple(kv.split("=")) for kv in rest.split("__") if kv))
        n.latest[(name, labels)] = v  # type: ignore[index]
    return n


def test_one_alert_per_rule_and_node_naming_every_sensor() -> None:
    engine = AlertEngine(load_rules(None))
    hot = _node(
        **{
            "microrack_throttle_limit_celsius__kind=soft": 80.0,
            "node_thermal_zone_temp__type=cpu-thermal__zone=0": 79.0,
            "node_thermal_zone_temp__type=gpu-thermal__zone=1": 81.0,
            "node_hwmon_temp_celsius__chip=thermal_thermal_zone0__sensor=temp0": 79.0,
            "node_hwmon_temp_celsius__chip=thermal_thermal_zone0__sensor=temp1": 79.0,
            "microrack_throttled__flag=under_voltage__when=now": 1.0,
            "microrack_throttled__flag=freq_capped__when=now": 1.0,
            "microrack_fan_rpm__fan=case": 0.0,
            "microrack_fan_duty_ratio__fan=case": 0.6,
        }
    )
    engine.evaluate([hot], 100.0)
    fired = engine.evaluate([hot], 111.0)
    alerts = {a.rule: a for a in engine.active.values()}
    assert sorted(alerts) == ["FanStalled", "NearThrottleLimit", "Throttling"]
    near = alerts["NearThrottleLimit"]
    assert near.sensors == ["GPU", "SoC"] and near.value == 81.0  # worst first
    assert near.summary == "n1 GPU, SoC at 81.0 °C, within 5 °C of its 80 °C throttle limit"
    assert alerts["Throttling"].summary == "n1 frequency capped, under-voltage now"
    assert alerts["FanStalled"].summary == "n1 fan 'case' at 0 rpm while driven at 60%"
    assert [a.rule for a in fired] == ["FanStalled"]
    d = near.describe(now=130.0)
    assert d["since"] == 100.0 and d["duration"] == pytest.approx(30.0)
    assert d["sensors"] == ["GPU", "SoC"]
    cool = _node(**{"microrack_throttle_limit_celsius__kind=soft": 80.0})
    resolved = engine.evaluate([cool], 140.0)
    assert sorted(a.rule for a in resolved) == ["FanStalled", "NearThrottleLimit", "Throttling"]
    assert [a.ended_at for a in engine.recent_resolved] == [140.0] * 3
    assert engine.recent_resolved[0].describe()["duration"] == pytest.approx(40.0)


def test_alerts_endpoint_lists_history_newest_first(client: tuple[TestClient, Hub]) -> None:
    c, hub = client
    for t, temp in ((100.0, 90.0), (110.0, 20.0), (120.0, 90.0), (130.0, 20.0)):
        hub.alerts.evaluate(
            [
                _node(
                    **{
                        "microrack_throttle_limit_celsius__kind=soft": 80.0,
                        "node_thermal_zone_temp__type=cpu-thermal__zone=0": temp,
                    }
                )
            ],
            t,
        )
    data = c.get("/api/v1/alerts").json()
    assert data["alerts"] == []
    assert [(a["fired_at"], a["ended_at"]) for a in data["resolved"]] == [
        (120.0, 130.0),
        (100.0, 110.0),
    ]
    assert all(a["sensors"] == ["SoC"] and a["duration"] == 10.0 for a in data["resolved"])


def test_node_view_containers_top_consumers(tmp_path: Path) -> None:
    """The agent's cgroup series become top-consumer lines and a table, named as a person would."""
    web = {
        "id": "/kubepods.slice/p1/cri-containerd-a.scope",
        "container_id": "a" * 64,
        "container": "web",
        "pod": "shop-1",
        "namespace": "shop",
        "qos_class": "burstable",
        "image": "nginx:1.25",
    }
    db = {"id": "/system.slice/docker-b.scope", "container_id": "b" * 64, "name": "postgres"}
    svc = {"id": "/system.slice/k3s.service", "name": "k3s.service"}
    series = [
        ("container_cpu_usage_seconds_total", {**web, "cpu": "total"}, "counter"),
        ("container_cpu_usage_seconds_total", {**db, "cpu": "total"}, "counter"),
        ("container_cpu_usage_seconds_total", {**svc, "cpu": "total"}, "counter"),
        ("container_cpu_usage_seconds_total", {"id": "/", "cpu": "total"}, "counter"),
        ("container_memory_working_set_bytes", web, "gauge"),
        ("container_memory_working_set_bytes", db, "gauge"),
        ("microrack_container_cpu_throttled_ratio", web, "gauge"),
        ("container_oom_events_total", db, "counter"),
    ]

    def values(i: int) -> list[float | None]:
        return [0.5 * i, 1.5 * i, 0.1 * i, 4.0 * i, 200e6, 900e6, 0.4, 2.0]

    hub = Hub(HubConfig(db=tmp_path / "hub.db"))
    samples = [(i + 1, T0 + i, values(i)) for i in range(120)]
    hub.store.write([Batch("n1", "rpi-5", "127.0.0.1", 1, "boot", 1.0, 120, series, samples)])
    with TestClient(create_app(hub), base_url="http://127.0.0.1:8080") as c:
        r = c.get("/api/v1/nodes/n1/view", params={"from": T0, "to": NOW, "points": 12})
    assert r.status_code == 200, r.text
    ct = r.json()["panels"]["containers"]
    assert ct["reported"] is True and ct["count"] == 3  # the root "/" is the node itself
    table = ct["table"]
    assert [row["name"] for row in table] == ["postgres", "shop/shop-1/web", "k3s.service"]
    assert table[0]["cpu_cores"] == pytest.approx(1.5)
    assert table[0]["working_set_bytes"] == 900e6 and table[0]["oom_kills"] == 2.0
    assert table[1]["throttled_ratio"] == 0.4 and table[1]["qos_class"] == "burstable"
    assert table[2]["kind"] == "service"
    cpu = _by_name(ct["cpu"]["series"])
    assert list(cpu) == ["postgres", "shop/shop-1/web", "k3s.service"]
    assert all(x == pytest.approx(0.5) for x in cpu["shop/shop-1/web"])
    assert list(_by_name(ct["memory"]["series"])) == ["postgres", "shop/shop-1/web"]

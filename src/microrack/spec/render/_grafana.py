"""A Grafana dashboard over microrack's metrics, built with grafana-foundation-sdk.

The SDK's typed builders produce the dashboard model Grafana itself defines, so
the JSON follows Grafana's schema rather than a hand-kept template.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from grafana_foundation_sdk.builders import (
    common,
    dashboard,
    prometheus,
    stat,
    statetimeline,
    timeseries,
)
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
    VisibilityMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
    DynamicConfigValue,
    VariableRefresh,
    VariableSort,
)

from microrack.spec._model import ClusterSpec

DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SEL = 'node=~"$node"'


class PanelDef(NamedTuple):
    title: str
    expr: str
    legend: str
    unit: str
    kind: str = "timeseries"  # timeseries | stat | timeline
    # further queries on the same panel: (expr, legend, unit or "" for the panel's, style)
    # where style is "limit" (a dashed line) or "right" (its own axis on the right)
    extra: tuple[tuple[str, str, str, str], ...] = ()


# hwmon sensors carry only chip and index: join the chip's name (cpu_thermal, nvme, ...);
# a thermal zone's hwmon mirror is left out, node_thermal_zone_temp has it with its type.
_HWMON_NAMED = (
    f'node_hwmon_temp_celsius{{{SEL},chip!~"thermal_thermal_zone.*"}}'
    " * on (node, chip) group_left (chip_name) node_hwmon_chip_names"
)
_NVME = f'{SEL},device=~"nvme.*"'


#: The panels, in order; every expression is checked by ``promtool`` in the tests.
PANELS: tuple[PanelDef, ...] = (
    PanelDef("Nodes up", 'sum(up{job="microrack-agent"})', "up", "none", "stat"),
    PanelDef("Cluster power", f"sum(microrack_power_watts{{{SEL}}})", "watts", "watt", "stat"),
    PanelDef(
        "Throttled now",
        f'count(microrack_throttled{{{SEL},when="now"}} == 1) or vector(0)',
        "throttled",
        "none",
        "stat",
    ),
    PanelDef("CPU busy", f"microrack_cpu_busy_ratio{{{SEL}}}", "{{node}}", "percentunit"),
    PanelDef("Memory used", f"microrack_memory_used_ratio{{{SEL}}}", "{{node}}", "percentunit"),
    PanelDef(
        "Hottest sensor",
        f'max by (node) ({{__name__=~"node_hwmon_temp_celsius|node_thermal_zone_temp",{SEL}}})',
        "{{node}}",
        "celsius",
    ),
    PanelDef("Power", f"microrack_power_watts{{{SEL}}}", "{{node}} ({{source}})", "watt"),
    PanelDef(
        "Temperatures and throttle limits",
        f"node_thermal_zone_temp{{{SEL}}}",
        "{{node}} {{type}}",
        "celsius",
        extra=(
            (_HWMON_NAMED, "{{node}} {{chip_name}} {{sensor}}", "", ""),
            (
                f"microrack_throttle_limit_celsius{{{SEL}}}",
                "{{node}} {{kind}} throttle limit",
                "",
                "limit",
            ),
        ),
    ),
    PanelDef(
        "Fan duty and speed",
        f"microrack_fan_duty_ratio{{{SEL}}}",
        "{{node}} {{fan}} duty",
        "percentunit",
        extra=((f"microrack_fan_rpm{{{SEL}}}", "{{node}} {{fan}} rpm", "rotrpm", "right"),),
    ),
    PanelDef(
        "Throttling, under-voltage, frequency cap (now)",
        f'microrack_throttled{{{SEL},when="now"}}',
        "{{node}} {{flag}}",
        "none",
        "timeline",
    ),
    PanelDef(
        "NVMe latency per I/O",
        f"microrack_disk_read_latency_seconds{{{_NVME}}}",
        "{{node}} {{device}} read",
        "s",
        extra=(
            (
                f"microrack_disk_write_latency_seconds{{{_NVME}}}",
                "{{node}} {{device}} write",
                "",
                "",
            ),
        ),
    ),
    PanelDef(
        "NVMe queue depth",
        f"microrack_disk_queue_depth{{{_NVME}}}",
        "{{node}} {{device}}",
        "none",
    ),
    PanelDef(
        "NVMe IOPS",
        f"microrack_disk_reads_per_second{{{_NVME}}}",
        "{{node}} {{device}} read",
        "iops",
        extra=(
            (f"microrack_disk_writes_per_second{{{_NVME}}}", "{{node}} {{device}} write", "", ""),
        ),
    ),
    PanelDef(
        "NVMe temperature",
        f'node_hwmon_temp_celsius{{{SEL},chip=~"nvme.*"}}',
        "{{node}} {{chip}}",
        "celsius",
    ),
    PanelDef(
        "Disk throughput",
        f"sum by (node) (rate(node_disk_read_bytes_total{{{SEL}}}[2m]) + "
        f"rate(node_disk_written_bytes_total{{{SEL}}}[2m]))",
        "{{node}}",
        "Bps",
    ),
    PanelDef(
        "Network throughput",
        f'sum by (node) (rate(node_network_receive_bytes_total{{{SEL},device!="lo"}}[2m]) + '
        f'rate(node_network_transmit_bytes_total{{{SEL},device!="lo"}}[2m]))',
        "{{node}}",
        "Bps",
    ),
)


def _panel(
    p: PanelDef, pid: int, width: int
) -> dashboard.Panel | timeseries.Panel | stat.Panel | statetimeline.Panel:
    query = prometheus.Dataquery().expr(p.expr).legend_format(p.legend).ref_id("A")
    if p.kind == "timeline":
        return (
            statetimeline.Panel()
            .id(pid)
            .title(p.title)
            .datasource(DS)
            .with_target(query)
            .span(width)
            .height(8)
            .min(0)
            .max(1)
            .show_value(VisibilityMode.NEVER)
            .merge_values(True)
        )
    if p.kind == "stat":
        reduce = common.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
        return (
            stat.Panel()
            .id(pid)
            .title(p.title)
            .unit(p.unit)
            .datasource(DS)
            .with_target(query)
            .span(width)
            .height(4)
            .graph_mode(BigValueGraphMode.AREA)
            .reduce_options(reduce)
        )
    legend = (
        common.VizLegendOptions()
        .display_mode(LegendDisplayMode.LIST)
        .placement(LegendPlacement.BOTTOM)
        .show_legend(True)
    )
    tooltip = common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)
    panel = (
        timeseries.Panel()
        .id(pid)
        .title(p.title)
        .unit(p.unit)
        .datasource(DS)
        .with_target(query)
        .span(width)
        .height(8)
        .min(0)
        .legend(legend)
        .tooltip(tooltip)
    )
    for i, (expr, legend_format, unit, style) in enumerate(p.extra):
        ref = chr(ord("B") + i)
        panel = panel.with_target(
            prometheus.Dataquery().expr(expr).legend_format(legend_format).ref_id(ref)
        )
        props = [DynamicConfigValue("unit", unit)] if unit else []
        if style == "limit":
            props += [
                DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}),
                DynamicConfigValue("color", {"mode": "fixed", "fixedColor": "red"}),
            ]
        elif style == "right":
            props.append(DynamicConfigValue("custom.axisPlacement", "right"))
        if props:
            panel = panel.override_by_query(ref, props)
    return panel


def dashboard_json(spec: ClusterSpec) -> str:
    """The dashboard as stable, pretty JSON (same spec, same bytes)."""
    uid = "microrack-" + hashlib.sha256(spec.cluster.name.encode()).hexdigest()[:12]
    board = (
        dashboard.Dashboard(f"microrack: {spec.cluster.name}")
        .uid(uid)
        .description(
            f"Telemetry of the {len(spec.nodes)} nodes of {spec.cluster.name}, "
            "scraped from the microrack agents."
        )
        .tags(["microrack", spec.cluster.name])
        .refresh("30s")
        .time("now-3h", "now")
        .timezone("browser")
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .with_variable(
            dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus")
        )
        .with_variable(
            dashboard.QueryVariable("node")
            .label("Node")
            .datasource(DS)
            .query("label_values(microrack_node_info, node)")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .multi(True)
            .include_all(True)
            .all_value(".*")
        )
    )
    for pid, p in enumerate(PANELS, start=1):
        board = board.with_panel(_panel(p, pid, 8 if p.kind == "stat" else 12))
    model = board.build()
    return json.dumps(model, cls=JSONEncoder, indent=2, sort_keys=True) + "\n"

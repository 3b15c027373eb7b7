"""A Grafana dashboard over microrack's metrics, built with grafana-foundation-sdk.

The SDK's typed builders produce the dashboard model Grafana itself defines, so
the JSON follows Grafana's schema rather than a hand-kept template.
"""

from __future__ import annotations

import hashlib
import json
from typing import NamedTuple

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    DashboardCursorSync,
    DataSourceRef,
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
    kind: str = "timeseries"  # timeseries | stat


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
    PanelDef("Fan duty", f"microrack_fan_duty_ratio{{{SEL}}}", "{{node}} {{fan}}", "percentunit"),
    PanelDef("Fan speed", f"microrack_fan_rpm{{{SEL}}}", "{{node}} {{fan}}", "rotrpm"),
    PanelDef("Throttling", f"microrack_throttled{{{SEL}}}", "{{node}} {{flag}} {{when}}", "none"),
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


def _panel(p: PanelDef, pid: int, width: int) -> dashboard.Panel | timeseries.Panel | stat.Panel:
    query = prometheus.Dataquery().expr(p.expr).legend_format(p.legend).ref_id("A")
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
    return (
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

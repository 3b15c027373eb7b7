"""Alert rules: a YAML file of threshold rules, plus built-in defaults.

Rules file (every key optional)::

    defaults:                 # built-in rules; set one to false to switch it off
      node_down: true
      near_throttle: true     # hottest temperature within margin of the throttle limit
      near_throttle_margin_celsius: 5
      throttling: true        # microrack_throttled{when="now"} (under-voltage, capping, ...)
      filesystem_full: true
      filesystem_used_ratio: 0.9
      nvme_hot: true
      nvme_celsius: 70
      fan_stalled: true       # 0 rpm while the duty is above the fan's start threshold
      fan_start_duty_ratio: 0.2
    rules:
      - name: HighCpu
        metric: microrack_cpu_busy_ratio
        labels: {}
        op: ">"
        value: 0.9
        for: 1m
        severity: warning
        summary: "{node} CPU busy {value:.0%}"

An alert is ``pending`` while its condition holds for less than ``for``,
then ``firing``; when the condition stops it is ``resolved`` and notified so.
There is one alert per (rule, node): a rule that matches several sensors, flags
or fans of a node names them all in one alert (``sensors``), the worst first.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from microrack._yaml import read_yaml
from microrack.errors import ConfigError, field_path
from microrack.hub._names import Sensor, container_name, flag_name, temperature_sensors
from microrack.hub._nodes import NodeState
from microrack.rules import SEVERITY, DefaultsSpec, Severity

__all__ = [
    "Alert",
    "AlertEngine",
    "RulesFile",
    "load_rules",
    "node_temperatures",
    "parse_duration",
]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(text: str | float | int) -> float:
    """``"90s"``, ``"5m"``, ``"2h"``, ``"7d"`` or a number of seconds."""
    if isinstance(text, int | float):
        return float(text)
    m = _DURATION.match(str(text))
    if not m:
        raise ValueError(f"not a duration: {text!r} (expected e.g. 30s, 5m, 2h, 7d)")
    return float(m.group(1)) * _UNIT[m.group(2)]


class RuleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1)
    metric: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    value: float
    for_: float = Field(default=0.0, alias="for")
    severity: Severity = "warning"
    summary: str = ""

    @field_validator("for_", mode="before")
    @classmethod
    def _duration(cls, v: Any) -> float:
        return parse_duration(v)


class RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: DefaultsSpec = Field(default_factory=DefaultsSpec)
    rules: list[RuleSpec] = Field(default_factory=list)


def load_rules(path: str | Path | None) -> RulesFile:
    """Read a rules file; :class:`ConfigError` names the file and the field path."""
    if path is None:
        return RulesFile()
    p = str(path)
    raw = read_yaml(p) or {}
    if not isinstance(raw, dict):
        raise ConfigError(p, None, "expected a mapping with 'defaults' and/or 'rules'")
    try:
        return RulesFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = field_path(err["loc"]) or None
        raise ConfigError(p, where, err["msg"]) from exc


# One candidate of a rule on one node: (labels, value).
Candidate = tuple[dict[str, str], float]
HISTORY = 200  # resolved alerts kept for the dashboard's history


def node_temperatures(node: NodeState) -> list[tuple[Sensor, float]]:
    """Each physical temperature sensor of ``node`` once, with its human name and value."""
    chips = {
        lab.get("chip", ""): lab.get("chip_name", "")
        for lab, _ in node.values("node_hwmon_chip_names")
    }
    labels = {
        (lab.get("chip", ""), lab.get("sensor", "")): lab.get("label", "")
        for lab, _ in node.values("node_hwmon_sensor_label")
    }
    values: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    series = []
    for metric in ("node_thermal_zone_temp", "node_hwmon_temp_celsius"):
        for lab, v in node.values(metric):
            values[(metric, tuple(sorted(lab.items())))] = v
            series.append((metric, lab))
    return [(s, values[(s.metric, s.labels)]) for s in temperature_sensors(series, chips, labels)]


@dataclass(frozen=True)
class Rule:
    """A condition over one node's latest values."""

    name: str
    severity: Severity
    summary: str
    for_seconds: float
    check: Callable[[NodeState], list[Candidate]]
    on_down: bool = False  # evaluated on down nodes (the others wait for fresh values)
    lowest_worst: bool = False  # the worst candidate is the lowest value (a fan's rpm)
    subject: str = ""  # the label naming what a candidate is (sensor, flag, fan, ...)


@dataclass
class Alert:
    rule: str
    node: str
    labels: dict[str, str]
    severity: str
    summary: str
    value: float
    state: Literal["pending", "firing", "resolved"]
    since: float  # wall time the condition started
    fired_at: float | None = None
    ended_at: float | None = None
    fingerprint: str = field(default="")
    sensors: list[str] = field(default_factory=list)  # what matched, worst first

    def describe(self, now: float | None = None) -> dict[str, Any]:
        end = self.ended_at if self.ended_at is not None else (time.time() if now is None else now)
        start = self.fired_at if self.fired_at is not None else self.since
        return {
            "name": self.rule,
            "node": self.node,
            "labels": self.labels,
            "severity": self.severity,
            "summary": self.summary,
            "value": self.value,
            "state": self.state,
            "since": self.since,
            "fired_at": self.fired_at,
            "ended_at": self.ended_at,
            "fingerprint": self.fingerprint,
            "sensors": self.sensors,
            "duration": max(0.0, end - start),
        }


def _threshold_rule(spec: RuleSpec) -> Rule:
    op = _OPS[spec.op]

    def check(node: NodeState) -> list[Candidate]:
        # v == v drops NaN: a broken reading is no evidence, even for "!="
        return [
            (lab, v)
            for lab, v in node.values(spec.metric, **spec.labels)
            if v == v and op(v, spec.value)
        ]

    return Rule(
        spec.name,
        spec.severity,
        spec.summary or f"{spec.metric} {spec.op} {spec.value}",
        spec.for_,
        check,
    )


def builtin_rules(d: DefaultsSpec) -> list[Rule]:
    rules: list[Rule] = []
    if d.node_down:
        rules.append(
            Rule(
                "NodeDown",
                SEVERITY["NodeDown"],
                "{node} does not answer",
                0.0,
                lambda n: [({}, 1.0)] if n.status == "down" else [],
                on_down=True,
            )
        )
    if d.near_throttle:

        def near(n: NodeState) -> list[Candidate]:
            limit = n.first("microrack_throttle_limit_celsius", kind="soft")
            if limit is None:
                return []
            return [
                ({"sensor": s.name, "limit": f"{limit:g}"}, v)
                for s, v in node_temperatures(n)
                if s.kind == "soc" and v >= limit - d.near_throttle_margin_celsius
            ]

        rules.append(
            Rule(
                "NearThrottleLimit",
                SEVERITY["NearThrottleLimit"],
                "{node} {sensor} at {value:.1f} °C, within "
                f"{d.near_throttle_margin_celsius:g} °C of its {{limit}} °C throttle limit",
                0.0,
                near,
                subject="sensor",
            )
        )
    if d.throttling:
        rules.append(
            Rule(
                "Throttling",
                SEVERITY["Throttling"],
                "{node} {flag} now",
                0.0,
                lambda n: [
                    ({"flag": flag_name(lab.get("flag", "?"))}, v)
                    for lab, v in n.values("microrack_throttled", when="now")
                    if v >= 1
                ],
                subject="flag",
            )
        )
    if d.filesystem_full:

        def full(n: NodeState) -> list[Candidate]:
            out = []
            avail = {lab.get("mountpoint"): v for lab, v in n.values("node_filesystem_avail_bytes")}
            for lab, size in n.values("node_filesystem_size_bytes"):
                a = avail.get(lab.get("mountpoint"))
                if size > 0 and a is not None and 1 - a / size > d.filesystem_used_ratio:
                    out.append(({"mountpoint": lab.get("mountpoint", "")}, 1 - a / size))
            return out

        rules.append(
            Rule(
                "FilesystemFull",
                SEVERITY["FilesystemFull"],
                "{node} {mountpoint} {value:.0%} full",
                0.0,
                full,
                subject="mountpoint",
            )
        )
    if d.nvme_hot:
        rules.append(
            Rule(
                "NvmeHot",
                SEVERITY["NvmeHot"],
                "{node} {sensor} at {value:.1f} °C",
                0.0,
                lambda n: [
                    ({"sensor": s.name, "device": s.device or ""}, v)
                    for s, v in node_temperatures(n)
                    if s.kind == "nvme" and v > d.nvme_celsius
                ],
                subject="sensor",
            )
        )
    if d.fan_stalled:

        def stalled(n: NodeState) -> list[Candidate]:
            duty = {lab.get("fan"): v for lab, v in n.values("microrack_fan_duty_ratio")}
            return [
                ({"fan": lab.get("fan", ""), "duty": f"{duty.get(lab.get('fan'), 0.0):.0%}"}, rpm)
                for lab, rpm in n.values("microrack_fan_rpm")
                if rpm <= 0 and duty.get(lab.get("fan"), 0.0) > d.fan_start_duty_ratio
            ]

        rules.append(
            Rule(
                "FanStalled",
                SEVERITY["FanStalled"],
                "{node} fan '{fan}' at 0 rpm while driven at {duty}",
                d.fan_stalled_for_seconds,
                stalled,
                lowest_worst=True,
                subject="fan",
            )
        )
    if d.container_oom_killed:
        rules.append(
            Rule(
                "ContainerOOMKilled",
                SEVERITY["ContainerOOMKilled"],
                "{node} container {container}: the kernel killed a process for lack of memory "
                "{value:.0f} s ago",
                0.0,
                lambda n: [
                    ({"container": container_name(lab)}, age)
                    for lab, age in n.values("microrack_container_oom_kill_age_seconds")
                    if age < d.container_oom_window_seconds
                ],
                lowest_worst=True,
                subject="container",
            )
        )
    if d.container_throttled:
        rules.append(
            Rule(
                "ContainerCPUThrottled",
                SEVERITY["ContainerCPUThrottled"],
                "{node} container {container} throttled in {value:.0%} of its CPU periods",
                d.container_throttled_for_seconds,
                lambda n: [
                    ({"container": container_name(lab)}, ratio)
                    for lab, ratio in n.values("microrack_container_cpu_throttled_ratio")
                    if ratio > d.container_throttled_ratio
                ],
                subject="container",
            )
        )
    return rules


class AlertEngine:
    """Evaluates rules against every node's latest values and tracks alert state.

    One alert per (rule, node): its labels are those of the worst candidate when it
    started (they are its identity for Alertmanager); its value, summary and
    ``sensors`` follow what matches now.
    """

    def __init__(self, rules_file: RulesFile) -> None:
        self.rules = builtin_rules(rules_file.defaults) + [
            _threshold_rule(r) for r in rules_file.rules
        ]
        self.active: dict[str, Alert] = {}
        self.recent_resolved: list[Alert] = []

    def evaluate(self, nodes: Iterable[NodeState], now: float | None = None) -> list[Alert]:
        """Update state; return the alerts that changed to firing or resolved."""
        now = time.time() if now is None else now
        changed: list[Alert] = []
        seen: set[str] = set()
        skipped_nodes: set[str] = set()
        evaluated: set[str] = set()
        for node in nodes:
            evaluated.add(node.key)
            for rule in self.rules:
                if node.status in ("down", "unknown") and not rule.on_down:
                    skipped_nodes.add(node.key)
                    continue
                found = rule.check(node)
                if not found:
                    continue
                found.sort(key=lambda c: sorted(c[0].items()))  # ties in name order
                found.sort(key=lambda c: c[1] if rule.lowest_worst else -c[1])
                labels, value = found[0]
                fp = f"{rule.name}|{node.key}"
                seen.add(fp)
                alert = self.active.get(fp)
                if alert is None:
                    alert = Alert(
                        rule.name,
                        node.key,
                        dict(labels),
                        rule.severity,
                        "",
                        value,
                        "pending",
                        now,
                        fingerprint=fp,
                    )
                    self.active[fp] = alert
                alert.value = value
                alert.sensors = _subjects(rule, found)
                shown = dict(labels)
                if rule.subject and len(alert.sensors) > 1:
                    shown[rule.subject] = ", ".join(alert.sensors)
                alert.summary = _render(rule.summary, node.key, value, shown)
                if alert.state == "pending" and now - alert.since >= rule.for_seconds:
                    alert.state = "firing"
                    alert.fired_at = now
                    changed.append(alert)
        for fp, alert in list(self.active.items()):
            if alert.node not in evaluated:
                continue
            if fp in seen or (alert.node in skipped_nodes and alert.rule != "NodeDown"):
                continue
            del self.active[fp]
            if alert.state == "firing":
                alert.state = "resolved"
                alert.ended_at = now
                changed.append(alert)
                self.recent_resolved = [*self.recent_resolved[-(HISTORY - 1) :], alert]
        return changed

    def firing(self) -> list[Alert]:
        return [a for a in self.active.values() if a.state == "firing"]


def _subjects(rule: Rule, found: list[Candidate]) -> list[str]:
    """What each candidate is (a sensor, a flag, a fan), worst first, each once."""
    out: list[str] = []
    for labels, _ in found:
        name = labels.get(rule.subject) if rule.subject else None
        name = name or ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
        if name and name not in out:
            out.append(name)
    return out


def _render(template: str, node: str, value: float, labels: dict[str, str]) -> str:
    try:
        return template.format(node=node, value=value, **labels)
    except (KeyError, ValueError, IndexError):
        return template

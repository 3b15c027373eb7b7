"""Prometheus text exposition (format 0.0.4): the one writer that the agent and the hub share.

Label values are escaped and numbers formatted as Go's ``strconv`` does
(``NaN``, ``+Inf``), as prometheus_client's ``floatToGoString``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from microrack.sample import Point

__all__ = ["CONTENT_TYPE", "escape_help", "escape_label", "format_value", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def escape_label(value: str) -> str:
    """Escape a label value: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(value: str) -> str:
    """Escape HELP text: backslash and line feed only (a quote stays as it is)."""
    return value.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as the text format writes it."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def render(points: Iterable[Point], help_text: Mapping[str, str]) -> str:
    """Group points into families (first appearance order) with HELP and TYPE lines."""
    families: dict[str, list[str]] = {}
    types: dict[str, str] = {}
    for p in points:
        k = p.key
        lines = families.get(k.name)
        if lines is None:
            lines = families[k.name] = []
            types[k.name] = k.type
        if k.labels:
            inner = ",".join(f'{n}="{escape_label(v)}"' for n, v in k.labels)
            lines.append(f"{k.name}{{{inner}}} {format_value(p.value)}")
        else:
            lines.append(f"{k.name} {format_value(p.value)}")
    out: list[str] = []
    for name, lines in families.items():
        help_line = escape_help(help_text.get(name, name.replace("_", " ")).strip())
        out.append(f"# HELP {name} {help_line}")
        out.append(f"# TYPE {name} {types[name]}")
        out.extend(lines)
    out.append("")
    return "\n".join(out)

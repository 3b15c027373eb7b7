"""Prometheus text exposition (format 0.0.4) of one collection."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from microrack.sample import Point

__all__ = ["CONTENT_TYPE", "render"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _format(value: float) -> str:
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
            inner = ",".join(f'{n}="{_escape(v)}"' for n, v in k.labels)
            lines.append(f"{k.name}{{{inner}}} {_format(p.value)}")
        else:
            lines.append(f"{k.name} {_format(p.value)}")
    out: list[str] = []
    for name, lines in families.items():
        out.append(f"# HELP {name} {_escape(help_text.get(name, name.replace('_', ' ')).strip())}")
        out.append(f"# TYPE {name} {types[name]}")
        out.extend(lines)
    out.append("")
    return "\n".join(out)

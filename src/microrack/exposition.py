"""Prometheus text exposition (format 0.0.4): the one writer that the agent and the hub share.

Label values are escaped and numbers formatted as Go's ``strconv`` does
(``NaN``, ``+Inf``), as prometheus_client's ``floatToGoString``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping

from microrack.sample import Point

__all__ = [
    "CONTENT_TYPE",
    "escape_help",
    "escape_label",
    "format_value",
    "iter_bytes",
    "render",
    "render_bytes",
]

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


class _PairText(dict[tuple[str, str], str]):
    """``(name, value)`` -> ``name="escaped value"``, built on first use.

    A label pair is shared by every series of one cgroup, device or CPU, so
    a few thousand pairs cover a node's series; they are rendered once and
    looked up through ``map`` (C speed) instead of escaped on every scrape.
    """

    __slots__ = ()

    def __missing__(self, pair: tuple[str, str]) -> str:
        text = self[pair] = f'{pair[0]}="{escape_label(pair[1])}"'
        return text


_PAIRS = _PairText()
_PAIRS_MAX = 65536  # dropped and rebuilt beyond this: label churn cannot grow it unbounded


def _families(points: Iterable[Point]) -> dict[str, list[Point]]:
    """Points grouped by metric name, families in order of first appearance."""
    families: dict[str, list[Point]] = {}
    for p in points:
        same = families.get(p.key.name)
        if same is None:
            families[p.key.name] = [p]
        else:
            same.append(p)
    return families


def _chunks(points: Iterable[Point], help_text: Mapping[str, str]) -> Iterator[str]:
    """The text of one family after another (HELP, TYPE, samples; each line ends in LF).

    One family's lines exist at a time: a scrape of ten thousand series never
    holds them all as separate strings besides the text they make.
    """
    pairs = _PAIRS
    if len(pairs) > _PAIRS_MAX:
        pairs.clear()
    pair_text = pairs.__getitem__
    join = ",".join
    isnan, isinf = math.isnan, math.isinf
    for name, family in _families(points).items():
        help_line = escape_help(help_text.get(name, name.replace("_", " ")))
        lines = [f"# HELP {name} {help_line}", f"# TYPE {name} {family[0].key.type}"]
        append = lines.append
        for p in family:
            v = p.value
            # format_value, inlined: this loop runs once per series per scrape
            if v.is_integer() and -1e15 < v < 1e15:
                text = str(int(v))
            elif isnan(v):
                text = "NaN"
            elif isinf(v):
                text = "+Inf" if v > 0 else "-Inf"
            else:
                text = repr(v)
            labels = p.key.labels
            if labels:
                append(f"{name}{{{join(map(pair_text, labels))}}} {text}")
            else:
                append(f"{name} {text}")
        append("")
        yield "\n".join(lines)


def render(points: Iterable[Point], help_text: Mapping[str, str]) -> str:
    """Group points into families (first appearance order) with HELP and TYPE lines."""
    return "".join(_chunks(points, help_text))


def render_bytes(
    points: Iterable[Point], help_text: Mapping[str, str], raw: Iterable[str] = ()
) -> bytearray:
    """:func:`render` and then ``raw`` (whole families already in the text format), UTF-8.

    The same bytes as ``(render(points, help_text) + "".join(raw)).encode()``,
    written family by family into one growing buffer: serving a scrape of ten
    thousand series peaks at about the size of the answer, where text, its
    copy and its encoding would be three times that.  The buffer is the
    answer (``bytes``-like: write it, slice it, compare it); nothing keeps a
    reference to change it.
    """
    out = bytearray()
    for chunk in iter_bytes(points, help_text, raw):
        out += chunk
    return out


def iter_bytes(
    points: Iterable[Point], help_text: Mapping[str, str], raw: Iterable[str] = ()
) -> Iterator[bytes]:
    """:func:`render_bytes`'s answer one family at a time, UTF-8: streamed, it is never whole."""
    for chunk in _chunks(points, help_text):
        yield chunk.encode()
    for text in raw:
        yield text.encode()

"""The validation boundary: an agent's ``/api/v1/samples`` answer, checked field by field.

Nothing an agent sends reaches the store, the alert rules or the API before it
passes here.  :func:`check_answer` either rejects the whole answer
(:class:`Rejected`, with a reason) or returns an :class:`Answer` whose every
sample is well formed; a bad sample, value or series inside a good answer is
left out and counted in ``Answer.rejected`` by reason, so the node's good
samples go on.

Counts are in *values* (one value of one series at one time: what Prometheus
calls a sample); a sample row that cannot be read counts as many values as its
node has series, and a whole answer that cannot be read counts 1.

Bounds (see :class:`Limits`):

* sequence numbers: integers in ``1..2**53`` (exact in JSON and in SQLite), increasing
  within an answer, never above the answer's ``last_seq``;
* timestamps: finite UNIX times from 2001-09-09 (1e9) to a day past the hub's clock;
* values: numbers or null (NaN and +-Inf are values of the Prometheus data model and
  are kept; strings, booleans, objects and numbers beyond a double are not);
* series: metric and label names per the Prometheus data model (``__`` label
  names are reserved), label values up to 1 KiB of UTF-8, at most ``max_labels``
  labels and ``max_series`` series per node, no duplicates;
* identity: a printable name of at most 128 characters, a boot id, an interval
  from 0.05 s to one hour.

Messages describe *where* the answer is wrong, never echo what it carried: what
answered may not be an agent at all (see docs/hub.md, "Trust").
"""

from __future__ import annotations

import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

from microrack.hub._store import SeriesTriple

__all__ = [
    "REASONS",
    "Answer",
    "Limits",
    "Rejected",
    "SeriesCheck",
    "check_answer",
    "check_series",
    "parse_answer",
    "valid_node_name",
]

# Every reason the hub counts: a fixed set, so the counters' cardinality stays bounded.
REASONS = (
    "not_json",
    "bad_answer",
    "bad_identity",
    "bad_interval",
    "bad_seq",
    "bad_timestamp",
    "bad_values",
    "bad_value",
    "bad_series",
    "too_many_series",
    "too_large",
    "name_taken",
    "over_budget",
    "store_error",
)

MAX_SEQ = 2**53
MIN_TS = 1e9
_METRIC = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = frozenset(("counter", "gauge", "untyped"))
_FLOATS = frozenset((float, type(None)))


class Rejected(ValueError):
    """A whole answer is refused; ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, message: str, values: int = 1) -> None:
        self.reason = reason
        self.values = values
        super().__init__(f"{reason}: {message}")


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-node bounds on what one agent may make the hub hold."""

    max_series: int = 10_000  # in one answer
    max_series_total: int = 20_000  # distinct series one node may bring in one hub run
    max_labels: int = 32
    max_name: int = 200
    max_label_value: int = 1024
    future_seconds: float = 86400.0
    min_interval: float = 0.05
    max_interval: float = 3600.0


@dataclass(frozen=True, slots=True)
class SeriesCheck:
    """A checked series list: the good series and the wire columns they come from."""

    series: list[SeriesTriple]
    keep: list[int] | None  # wire column of each good series; None: every column is good
    width: int  # columns on the wire
    dropped: int  # series left out (bad or duplicate)


@dataclass(frozen=True, slots=True)
class Answer:
    """A checked ``/api/v1/samples`` answer."""

    name: str
    board: str | None
    boot_id: str
    interval: float
    last_seq: int
    series: SeriesCheck
    samples: list[tuple[int, float, list[float | None]]]
    rejected: dict[str, int] = field(default_factory=dict)
    wire: Any = None  # the series list as it came, to compare the next answer's with


def valid_node_name(name: Any) -> bool:
    """A node name the hub accepts: printable text of 1-128 characters."""
    return type(name) is str and 0 < len(name) <= 128 and name.isprintable()


def _text(value: Any, limit: int) -> bool:
    return type(value) is str and 0 < len(value) <= limit and value.isprintable()


def check_series(wire: Any, limits: Limits) -> SeriesCheck:
    """Check a series list; bad or duplicate entries are left out, a bad list is rejected."""
    if type(wire) is not list:
        raise Rejected("bad_answer", "'series' is not a list")
    if len(wire) > limits.max_series:
        raise Rejected(
            "too_many_series", f"{len(wire)} series, more than the {limits.max_series} allowed"
        )
    out: list[SeriesTriple] = []
    keep: list[int] = []
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for i, entry in enumerate(wire):
        triple = _one_series(entry, limits)
        if triple is None:
            continue
        key = (triple[0], tuple(sorted(triple[1].items())))
        if key in seen:
            continue
        seen.add(key)
        out.append(triple)
        keep.append(i)
    full = len(keep) == len(wire)
    return SeriesCheck(out, None if full else keep, len(wire), len(wire) - len(keep))


def _one_series(entry: Any, limits: Limits) -> SeriesTriple | None:
    if type(entry) is not list or len(entry) != 3:
        return None
    name, labels, mtype = entry
    if type(name) is not str or len(name) > limits.max_name or not _METRIC.fullmatch(name):
        return None
    if type(mtype) is not str or mtype not in _TYPES:
        return None
    if type(labels) is not dict or len(labels) > limits.max_labels:
        return None
    for k, v in labels.items():
        if type(k) is not str or len(k) > limits.max_name or not _LABEL.fullmatch(k):
            return None
        if k.startswith("__"):
            return None
        if type(v) is not str or len(v.encode("utf-8", "surrogatepass")) > limits.max_label_value:
            return None
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate from a \\ud800 escape
            return None
    return (name, dict(labels), mtype)


def parse_answer(raw: bytes) -> Any:
    """The JSON of an answer; :class:`Rejected` ``not_json`` if it is not JSON."""
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})"
        raise Rejected("not_json", f"the answer is not JSON{where}") from None
    except (ValueError, RecursionError):  # bad UTF-8, nesting deeper than the parser goes
        raise Rejected("not_json", "not JSON (bad UTF-8, or nested too deep)") from None


def check_answer(
    body: Any,
    since: int,
    limits: Limits,
    cached: tuple[Any, SeriesCheck] | None = None,
    now: float | None = None,
) -> Answer:
    """Check a decoded answer; keep samples after ``since``.

    ``cached`` is the previous ``(wire series, SeriesCheck)`` of this node: while a
    node's series do not change (nearly always) they are not checked again.
    """
    if type(body) is not dict:
        raise Rejected("bad_answer", "the answer is not a JSON object")
    ident: dict[str, Any] = body.get("node")  # type: ignore[assignment]
    if type(ident) is not dict:
        raise Rejected("bad_identity", "'node' is not an object")
    name: str = ident.get("name")  # type: ignore[assignment]
    if not valid_node_name(name):
        raise Rejected("bad_identity", "'node.name' is not printable text of 1-128 characters")
    boot_id: str = ident.get("boot_id")  # type: ignore[assignment]
    if not _text(boot_id, 128):
        raise Rejected("bad_identity", "'node.boot_id' is not printable text of 1-128 characters")
    board = ident.get("board")
    if board is not None and not _text(board, 64):
        raise Rejected("bad_identity", "'node.board' is not printable text of 1-64 characters")
    interval: float = ident.get("interval")  # type: ignore[assignment]
    if (
        type(interval) not in (int, float)
        or not limits.min_interval <= interval <= limits.max_interval
    ):
        raise Rejected(
            "bad_interval",
            f"'node.interval' is not a number of seconds from {limits.min_interval} to "
            f"{limits.max_interval:g}",
        )
    last_seq = body.get("last_seq")
    if type(last_seq) is not int or not 0 <= last_seq <= MAX_SEQ:
        raise Rejected("bad_seq", "'last_seq' is not an integer from 0 to 2**53")
    wire = body.get("series")
    raw_samples = body.get("samples")
    if type(raw_samples) is not list:
        raise Rejected("bad_answer", "'samples' is not a list")
    if cached is not None and (not raw_samples or cached[0] == wire):
        # an answer without samples may list no series at all: it changes nothing
        wire, sc = cached
    else:
        sc = check_series(wire, limits)
    now = time.time() if now is None else now
    ts_hi = now + limits.future_seconds
    width = sc.width
    keep = sc.keep
    good = len(sc.series)
    rejected: dict[str, int] = {}

    def reject(reason: str, n: int) -> None:
        rejected[reason] = rejected.get(reason, 0) + n

    out: list[tuple[int, float, list[float | None]]] = []
    prev = since
    for s in raw_samples:
        if type(s) is not dict:
            reject("bad_answer", max(1, width))
            continue
        seq = s.get("seq")
        if type(seq) is not int or not 0 < seq <= last_seq:
            reject("bad_seq", max(1, width))
            continue
        if seq <= prev:
            if seq > since:  # out of order or repeated within the answer
                reject("bad_seq", max(1, width))
            continue
        ts = s.get("ts")
        if type(ts) is int:
            ts = float(ts)
        if type(ts) is not float or not MIN_TS <= ts <= ts_hi:  # NaN fails both
            reject("bad_timestamp", max(1, width))
            continue
        vals = s.get("values")
        if type(vals) is not list or len(vals) > width:
            reject("bad_values", max(1, width))
            continue
        if not _FLOATS.issuperset(map(type, vals)):
            vals, bad = _coerce(vals)
            if bad:
                reject("bad_value", bad)
        if keep is not None:
            n = len(vals)
            vals = [vals[i] if i < n else None for i in keep]
        elif len(vals) < good:
            vals = vals + [None] * (good - len(vals))
        out.append((seq, ts, vals))
        prev = seq
    if sc.dropped and out:
        reject("bad_series", sc.dropped * len(out))
    return Answer(name, board, boot_id, float(interval), last_seq, sc, out, rejected, wire)


def _coerce(vals: list[Any]) -> tuple[list[float | None], int]:
    """Values as floats or None; anything that is not a number becomes None and is counted."""
    out: list[float | None] = []
    bad = 0
    for v in vals:
        t = type(v)
        if t is float or v is None:
            out.append(v)
        elif t is int:
            f = float(v) if -1e308 < v < 1e308 else math.nan
            if math.isnan(f):
                out.append(None)
                bad += 1
            else:
                out.append(f)
        else:
            out.append(None)
            bad += 1
    return out, bad

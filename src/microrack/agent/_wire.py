"""``/api/v1/samples`` bodies straight from the ring's compact rows.

The body is byte for byte ``json.dumps(encode_batch(...), separators=(",", ":"))``
(``microrack.sample`` defines the format and the tests hold the two equal),
but it is built one row at a time from the ring's arrays.  Building the whole
batch as ``Point`` objects and dicts first costs about 40 MB and a second of
CPU for a full hour of a Pi's series — more than the agent's whole budget on
a 1 GB board — when a hub backfills after a partition.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from typing import Any

from microrack.agent._ring import Row
from microrack.sample import NodeIdentity, SeriesKey

__all__ = ["encode_rows", "iter_rows"]

_dumps = json.JSONEncoder(separators=(",", ":")).encode


def encode_rows(node: NodeIdentity, first_seq: int, last_seq: int, rows: Sequence[Row]) -> bytes:
    """The whole body at once."""
    return "".join(iter_rows(node, first_seq, last_seq, rows)).encode()


def iter_rows(
    node: NodeIdentity, first_seq: int, last_seq: int, rows: Sequence[Row]
) -> Iterator[str]:
    """The body in pieces (head, then one sample at a time) for a chunked response."""
    index: dict[SeriesKey, int] = {}
    positions: dict[int, list[int]] = {}
    for _, _, layout, _ in rows:
        if id(layout) not in positions:
            positions[id(layout)] = [index.setdefault(k, len(index)) for k in layout]
    width = len(index)
    # the usual case: one layout covering every series in order (no reindexing needed)
    full = {lid for lid, pos in positions.items() if pos == list(range(width))}
    head: dict[str, Any] = {
        "node": {
            "name": node.name,
            "board": node.board,
            "address": node.address,
            "port": node.port,
            "boot_id": node.boot_id,
            "interval": node.interval,
        },
        "first_seq": first_seq,
        "last_seq": last_seq,
        "series": [[k.name, dict(k.labels), k.type] for k in index],
    }
    yield _dumps(head)[:-1] + ',"samples":['

    for n, (seq, ts, layout, values) in enumerate(rows):
        row: list[float | None]
        if id(layout) in full:
            row = values.tolist()
            if not all(map(math.isfinite, values)):
                row = [v if v is not None and math.isfinite(v) else None for v in row]
        else:
            row = [None] * width
            for i, v in zip(positions[id(layout)], values, strict=True):
                row[i] = v if math.isfinite(v) else None
        yield ("," if n else "") + _dumps({"seq": seq, "ts": ts, "values": row})
    yield "]}"

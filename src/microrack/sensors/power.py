"""Board power when no sensor measures it: an estimate from the board catalog.

The estimate is idle watts plus the span to loaded watts scaled by CPU
utilisation; it is exported with ``source="estimate"`` so nobody mistakes
it for a measurement.  The catalog is imported lazily: the agent runs
without it, and simply has no estimate.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

__all__ = ["PowerModel", "power_model"]

log = logging.getLogger(__name__)


class PowerModel(NamedTuple):
    board: str
    idle_w: float
    load_w: float
    throttle_soft_c: float | None
    throttle_hard_c: float | None

    def estimate(self, busy_ratio: float) -> float:
        busy = min(1.0, max(0.0, busy_ratio))
        return self.idle_w + (self.load_w - self.idle_w) * busy


def power_model(board: str | None) -> PowerModel | None:
    """The catalog's power figures for ``board``; ``None`` without a board or a catalog."""
    if not board:
        return None
    try:
        from microrack.catalog import board_profile
    except ImportError:
        log.info("no board catalog installed: no power estimate for %s", board)
        return None
    from microrack.errors import MicrorackError

    try:
        p = board_profile(board)
    except MicrorackError as exc:
        log.warning("no power estimate: %s", exc)
        return None
    try:
        soft = getattr(p, "throttle_soft_c", None)
        hard = getattr(p, "throttle_hard_c", None)
        return PowerModel(
            p.id,
            float(p.idle_w),
            float(p.load_w),
            None if soft is None else float(soft),
            None if hard is None else float(hard),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        log.warning("no power estimate for %s: %s", board, exc)
        return None

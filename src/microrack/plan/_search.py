"""Enumerate builds, reject those that fail a hard requirement, rank the rest.

Every board x RAM variant x node count is evaluated (a few thousand pure
evaluations; well under a second).  Where transcoding nodes are required and a
board cannot encode video, mixed builds add the cheapest nodes that can.  The
ranking key is the requirements' ``rank_by``: total cost of ownership over the
years given (the default), that cost per HPL Gflops, or HPL Gflops per watt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from microrack.catalog import BoardProfile, Catalog, PlanningRules, RamVariant
from microrack.plan._build import Build, Group, estimates, evaluate, layout, rank_key
from microrack.plan._requirements import Requirements

__all__ = ["PlanResult", "Rejection", "search"]


@dataclass(frozen=True, slots=True)
class Rejection:
    """A board none of whose builds meets every requirement, with its closest attempt."""

    board: BoardProfile
    closest: Build

    @property
    def board_name(self) -> str:
        return self.board.name.split(" (")[0]

    @property
    def reasons(self) -> list[str]:
        """``["Turing RK1: 1 GbE per node < 5 Gbps required", ...]``."""
        return [f"{self.board_name}: {c.message}" for c in self.closest.failures]


@dataclass(frozen=True, slots=True)
class PlanResult:
    requirements: Requirements
    ranked: tuple[Build, ...]  # every passing build, best first (by requirements.rank_by)
    closest: tuple[Build, ...]  # when nothing passes: fewest misses first
    rejected: tuple[Rejection, ...]
    evaluated: int


def _closeness(build: Build) -> tuple[int, float, float]:
    """Fewest misses first, then the smallest misses (relative to what was asked), then cost."""
    return (len(build.failures), sum(c.shortfall for c in build.failures), build.tco_usd)


def _node_counts(req: Requirements, fixed: int = 0) -> range:
    return range(max(1, req.nodes.min - fixed), req.nodes.max - fixed + 1)


def _candidates(catalog: Catalog, req: Requirements) -> list[BoardProfile]:
    allowed = {catalog.resolve(b) for b in req.boards} if req.boards else None
    excluded = {catalog.resolve(b) for b in req.exclude_boards}
    return [b for b in catalog if (allowed is None or b.id in allowed) and b.id not in excluded]


def search(req: Requirements, catalog: Catalog, rules: PlanningRules) -> PlanResult:
    boards = _candidates(catalog, req)
    layouts = {b.id: layout(b, req) for b in boards}  # a board's drives depend on req only
    best_pass: dict[tuple[str, ...], Build] = {}
    best_try: dict[str, Build] = {}
    evaluated = 0

    def consider(build: Build, key: tuple[str, ...], board_id: str | None) -> None:
        nonlocal evaluated
        evaluated += 1
        if build.ok:
            old = best_pass.get(key)
            if old is None or rank_key(build, req.rank_by) < rank_key(old, req.rank_by):
                best_pass[key] = build
        if board_id is not None:
            old = best_try.get(board_id)
            if old is None or _closeness(build) < _closeness(old):
                best_try[board_id] = build

    for board in boards:
        for variant in board.variants:
            if variant.price_usd is None:  # not orderable at a known price: cannot be costed
                continue
            key = (board.id, f"{variant.ram_gb:g}")
            for n in _node_counts(req):
                build = evaluate(
                    (Group(board, variant, n),), req, rules, with_estimates=False, layouts=layouts
                )
                consider(build, key, board.id)

    if req.mixed and req.transcode_nodes:
        encoders: list[tuple[BoardProfile, RamVariant]] = []
        for b in boards:
            options = [
                v for v in b.variants if v.price_usd is not None and v.ram_gb >= req.min_node_ram_gb
            ]
            if b.hw_transcode and options:
                encoders.append((b, min(options, key=lambda v: v.price_usd or 0.0)))
        k = req.transcode_nodes
        for board in boards:
            if board.hw_transcode:
                continue
            for variant in board.variants:
                if variant.price_usd is None:
                    continue
                for enc, enc_variant in encoders:
                    mixed_key = (board.id, f"{variant.ram_gb:g}", enc.id, f"{enc_variant.ram_gb:g}")
                    for n in _node_counts(req, fixed=k):
                        groups = (Group(board, variant, n), Group(enc, enc_variant, k))
                        build = evaluate(groups, req, rules, with_estimates=False, layouts=layouts)
                        consider(build, mixed_key, None)

    def finish(build: Build) -> Build:
        return replace(build, estimates=estimates(build, req))

    ranked = tuple(
        finish(b) for b in sorted(best_pass.values(), key=lambda b: rank_key(b, req.rank_by))
    )
    passing_boards = {g.board.id for build in ranked for g in build.groups}
    rejected = tuple(
        Rejection(b, finish(best_try[b.id]))
        for b in boards
        if b.id not in passing_boards and b.id in best_try
    )
    closest: tuple[Build, ...] = ()
    if not ranked:
        closest = tuple(finish(b) for b in sorted(best_try.values(), key=_closeness))
    return PlanResult(req, ranked, closest, rejected, evaluated)

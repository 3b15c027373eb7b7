"""The board catalog: every board microrack knows, every number with its source.

Imports only the standard library and PyYAML, because the agent looks its
board up here on 1 GB nodes.  The data ships in ``microrack/catalog/data/``;
users add or replace boards with their own file in the same format
(``load_catalog("my-boards.yaml")``, ``microrack catalog --catalog FILE``).

>>> board_profile("pi5").throttle_hard_c
85.0
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from microrack.catalog._load import RawCatalog, build_board, merge, read_file, read_packaged
from microrack.catalog._model import (
    Backplane,
    BoardProfile,
    Carrier,
    FanPoint,
    Hpl,
    LaneSharing,
    M2Slot,
    Nic,
    PoE,
    Quantity,
    RamVariant,
    Source,
    ThermalProfile,
    Video,
)
from microrack.catalog._quorum import (
    ceph_pool_size_for,
    ceph_pool_tolerates,
    ceph_replicas_left,
    quorum_majority,
    quorum_members,
    quorum_members_for,
    quorum_tolerates,
)
from microrack.catalog._rules import PlanningRules, PoEClass, read_rules
from microrack.errors import ConfigError, MicrorackError

__all__ = [
    "Backplane",
    "BoardProfile",
    "Carrier",
    "Catalog",
    "FanPoint",
    "Hpl",
    "LaneSharing",
    "M2Slot",
    "Nic",
    "PlanningRules",
    "PoE",
    "PoEClass",
    "Quantity",
    "RamVariant",
    "Source",
    "ThermalProfile",
    "UnknownBoard",
    "Video",
    "board_ids",
    "board_profile",
    "ceph_pool_size_for",
    "ceph_pool_tolerates",
    "ceph_replicas_left",
    "load_catalog",
    "planning_rules",
    "quorum_majority",
    "quorum_members",
    "quorum_members_for",
    "quorum_tolerates",
    "thermal_profile",
]


class UnknownBoard(MicrorackError):
    """A board id or alias that is not in the catalog; lists the ids that are."""

    def __init__(self, board: str, known: list[str]) -> None:
        self.board = board
        self.known = known
        super().__init__(f"unknown board {board!r}; known boards: {', '.join(known)}")


@dataclass(frozen=True, slots=True)
class Catalog:
    """A checked set of boards, thermal profiles and sources."""

    boards: Mapping[str, BoardProfile]
    aliases: Mapping[str, str]
    thermal_profiles: Mapping[str, ThermalProfile]
    sources: Mapping[str, Source]
    files: tuple[str, ...]

    def __iter__(self) -> Iterator[BoardProfile]:
        return iter(self.boards.values())

    def __len__(self) -> int:
        return len(self.boards)

    def resolve(self, board: str) -> str:
        """The canonical id of ``board`` (an id or an alias, any case)."""
        key = board.strip().lower()
        if key in self.boards:
            return key
        if key in self.aliases:
            return self.aliases[key]
        raise UnknownBoard(board, sorted(self.boards))

    def board(self, board: str) -> BoardProfile:
        return self.boards[self.resolve(board)]

    def thermal_profile(self, name: str) -> ThermalProfile:
        try:
            return self.thermal_profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.thermal_profiles))
            raise MicrorackError(f"unknown thermal profile {name!r}; known: {known}") from None


def _build(raw: RawCatalog) -> Catalog:
    boards = {board_id: build_board(raw, board_id) for board_id in raw.boards}
    aliases: dict[str, str] = {}
    for profile in boards.values():
        for alias in profile.aliases:
            key = alias.lower()
            other = aliases.get(key)
            if key in boards or (other is not None and other != profile.id):
                path, field, _ = raw.boards[profile.id]
                raise ConfigError(path, f"{field}.aliases", f"alias {alias!r} is already taken")
            aliases[key] = profile.id
    return Catalog(
        boards=MappingProxyType(dict(sorted(boards.items()))),
        aliases=MappingProxyType(aliases),
        thermal_profiles=MappingProxyType(dict(raw.thermal_profiles)),
        sources=MappingProxyType(dict(raw.sources)),
        files=tuple(raw.files),
    )


@functools.lru_cache(maxsize=1)
def _packaged() -> Catalog:
    return _build(read_packaged())


def load_catalog(extra: str | os.PathLike[str] | None = None) -> Catalog:
    """The packaged catalog, with the boards of ``extra`` added or replacing.

    The user file is checked exactly like the packaged one; its boards may refer
    to the packaged sources and thermal profiles.
    """
    if extra is None:
        return _packaged()
    base = read_packaged()
    return _build(merge(base, read_file(extra, base=base)))


def board_profile(board: str, catalog: Catalog | None = None) -> BoardProfile:
    """The profile of ``board`` (id or alias); :class:`UnknownBoard` if there is none."""
    return (catalog or _packaged()).board(board)


def board_ids(catalog: Catalog | None = None) -> list[str]:
    return sorted((catalog or _packaged()).boards)


def thermal_profile(name: str, catalog: Catalog | None = None) -> ThermalProfile:
    """Soft/hard throttle limits and, where the vendor publishes one, the fan curve."""
    return (catalog or _packaged()).thermal_profile(name)


@functools.lru_cache(maxsize=1)
def planning_rules() -> PlanningRules:
    """Electricity, PoE, quorum, Ceph and Kubernetes facts used by the planner."""
    return read_rules()

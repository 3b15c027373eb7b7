"""One kind of simulated board: catalog facts plus the twin's physical parameters.

The catalog is read through one interface only, ``microrack.catalog.board_profile``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from microrack.sim._params import BoardPhysics, physics_for

__all__ = ["COOLERS", "BoardModel", "board_model"]

COOLERS = ("fan", "passive_case", "heatsink", "bare")


@dataclass(frozen=True, slots=True)
class BoardModel:
    """Everything the physics needs about one board, flat and numeric."""

    id: str
    name: str
    soc: str
    isa: str
    cores: int
    max_mhz: int
    ram_gb: float
    idle_w: float
    load_w: float
    throttle_soft_c: float
    throttle_hard_c: float
    thermal_profile: str
    has_nvme_slot: bool
    physics: BoardPhysics
    cooler: str = "fan"
    profile: Any = None  # the catalog's BoardProfile (sources of idle_w/load_w)

    @property
    def is_pi(self) -> bool:
        return self.id.startswith("rpi-")

    @property
    def has_fan(self) -> bool:
        return self.cooler == "fan"

    def with_power(self, idle_w: float, load_w: float) -> BoardModel:
        """The same board with other idle/load watts (a RAM variant)."""
        return replace(self, idle_w=idle_w, load_w=load_w)

    def with_cooler(self, cooler: str) -> BoardModel:
        if cooler not in COOLERS:
            raise ValueError(f"unknown cooler {cooler!r}; one of {', '.join(COOLERS)}")
        return replace(self, cooler=cooler)

    @property
    def r_off(self) -> float:
        """Sensor-to-ambient resistance (K/W) with no fan running, for this cooler."""
        p = self.physics
        return {
            "fan": p.r_fan_off,
            "passive_case": p.r_passive_case,
            "heatsink": p.r_fan_off,
            "bare": p.r_bare,
        }[self.cooler].value

    @property
    def r_full(self) -> float:
        return self.physics.r_fan_full.value if self.has_fan else self.r_off


def board_model(board: str, *, cooler: str = "fan") -> BoardModel:
    """The model of ``board`` (a catalog id or alias); raises ``UnknownBoard``."""
    from microrack.catalog import board_profile

    p = board_profile(board)
    physics = physics_for(p.id, p.thermal_profile, p.soc, p.isa)
    model = BoardModel(
        id=p.id,
        name=p.name,
        soc=p.soc,
        isa=p.isa,
        cores=int(p.cores),
        max_mhz=int(p.max_mhz),
        ram_gb=float(getattr(p, "ram_gb", 4.0) or 4.0),
        idle_w=float(p.idle_w),
        load_w=float(p.load_w),
        throttle_soft_c=float(p.throttle_soft_c),
        throttle_hard_c=float(p.throttle_hard_c),
        thermal_profile=p.thermal_profile,
        has_nvme_slot=bool(p.has_nvme_slot),
        physics=physics,
        profile=p,
    )
    return model.with_cooler(cooler)

"""One kind of simulated board: catalog facts plus the twin's physical parameters.

The catalog is read through one interface only, ``microrack.catalog.board_profile``;
the twin's own parameters come from ``_params`` (``data/twin.yaml``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from microrack.sim._params import COOLERS, BoardPhysics, Cooler, TwinData, twin_data

__all__ = ["COOLERS", "BoardModel", "board_model"]

_FAN_COOLERS = ("fan", "active_cooler")


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
    carrier_w: float = 0.0  # this node's share of its carrier board's own draw (a BMC)
    profile: Any = None  # the catalog's BoardProfile (sources of idle_w/load_w)

    @property
    def is_pi(self) -> bool:
        return self.id.startswith("rpi-")

    @property
    def has_fan(self) -> bool:
        return self.cooler in _FAN_COOLERS

    def with_power(self, idle_w: float, load_w: float) -> BoardModel:
        """The same board with other idle/load watts (a RAM variant)."""
        return replace(self, idle_w=idle_w, load_w=load_w)

    def with_cooler(self, cooler: str) -> BoardModel:
        if cooler not in COOLERS:
            raise ValueError(f"unknown cooler {cooler!r}; one of {', '.join(COOLERS)}")
        return replace(self, cooler=cooler)

    def with_carrier(self, watts: float) -> BoardModel:
        return replace(self, carrier_w=float(watts))

    @property
    def cooling(self) -> Cooler:
        return self.physics.cooler(self.cooler)

    @property
    def r_off(self) -> float:
        """Die-to-ambient resistance (K/W) with no fan running, for this cooler."""
        return self.physics.r_js.value + self.cooling.r_sa.value

    @property
    def r_full(self) -> float:
        """Die-to-ambient resistance (K/W) with the fan at full duty (``r_off`` without a fan)."""
        full = self.cooling.r_sa_full
        if not self.has_fan or full is None:
            return self.r_off
        return self.physics.r_js.value + full.value

    @property
    def throttle_band(self) -> tuple[float, float]:
        """(start, end) degC of the clock ramp the firmware applies."""
        p = self.physics
        if p.throttle_law == "ipa" and p.band_k is not None:
            half = p.band_k.value / 2.0
            return self.throttle_hard_c - half, self.throttle_hard_c + half
        return self.throttle_soft_c, self.throttle_hard_c


def board_model(
    board: str, *, cooler: str = "fan", ram_gb: float | None = None, data: TwinData | None = None
) -> BoardModel:
    """The model of ``board`` (a catalog id or alias); raises ``UnknownBoard``.

    ``ram_gb`` picks that RAM variant's idle/load watts where the catalog has
    them (a Pi 5 8 GB draws what the 8 GB board draws); ``data`` replaces the
    packaged twin parameters (the calibration uses it).
    """
    from microrack.catalog import board_profile

    p = board_profile(board)
    physics = (data or twin_data()).physics(p.id, p.soc, p.isa)
    idle_w, load_w = float(p.idle_w), float(p.load_w)
    ram = float(getattr(p, "ram_gb", 4.0) or 4.0)
    if ram_gb is not None:
        ram = float(ram_gb)
        for v in p.variants:
            if v.ram_gb == ram and v.idle_w is not None and v.load_w is not None:
                idle_w, load_w = float(v.idle_w), float(v.load_w)
    carrier = getattr(p, "carrier", None)
    carrier_w = (float(carrier.idle_w) / max(1, int(carrier.nodes))) if carrier else 0.0
    model = BoardModel(
        id=p.id,
        name=p.name,
        soc=p.soc,
        isa=p.isa,
        cores=int(p.cores),
        max_mhz=int(p.max_mhz),
        ram_gb=ram,
        idle_w=idle_w,
        load_w=load_w,
        throttle_soft_c=float(p.throttle_soft_c),
        throttle_hard_c=float(p.throttle_hard_c),
        thermal_profile=p.thermal_profile,
        has_nvme_slot=bool(p.has_nvme_slot),
        physics=physics,
        carrier_w=carrier_w,
        profile=p,
    )
    return model.with_cooler(cooler)

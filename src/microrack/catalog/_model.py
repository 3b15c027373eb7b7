"""Plain, immutable types of the board catalog.

Numbers a user may want to check carry their provenance as a :class:`Quantity`
(the value plus a source id or the word ``estimate``); the flat numeric fields
of :class:`BoardProfile` are those values, for code that only needs the number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = [
    "Backplane",
    "BoardProfile",
    "Carrier",
    "FanPoint",
    "Hpl",
    "LaneSharing",
    "M2Slot",
    "Nic",
    "PoE",
    "Quantity",
    "RamVariant",
    "Source",
    "ThermalProfile",
    "Video",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Quantity:
    """A number (or list of numbers) and where it comes from.

    Exactly one of ``source`` (an id in the catalog's ``sources`` table) or
    ``basis`` / estimate holds: a number without a source is an estimate.
    """

    value: Any
    source: str | None = None
    basis: str | None = None
    note: str | None = None
    # the same fact from other sources that disagree (``also:`` in the catalog file)
    others: tuple[Quantity, ...] = ()

    @property
    def estimate(self) -> bool:
        return self.source is None

    def cite(self) -> str:
        """``source-id`` or ``estimate (basis)``, as shown next to the number."""
        if self.source:
            return self.source
        return f"estimate ({self.basis})" if self.basis else "estimate"


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    title: str
    url: str
    kind: str


@dataclass(frozen=True, slots=True)
class FanPoint:
    temp_c: float
    duty: float  # 0..1


@dataclass(frozen=True, slots=True)
class ThermalProfile:
    """Throttle limits of a SoC family, and the vendor fan curve where one exists."""

    name: str
    throttle_soft_c: float
    throttle_hard_c: float
    critical_c: float | None = None
    fan_curve: tuple[FanPoint, ...] = ()
    hysteresis_c: float | None = None
    note: str | None = None
    noise_dba: float | None = None  # of the cooler at full speed, only where measured
    facts: Mapping[str, Quantity] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class RamVariant:
    """One orderable RAM size of a board, with its price and any power that differs."""

    ram_gb: float
    price_usd: float | None
    idle_w: float | None = None
    load_w: float | None = None
    facts: Mapping[str, Quantity] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Nic:
    """``count`` ports of one speed; ``uplink``: they can reach the outside network;
    ``bond``: they can be aggregated (``"lacp"``, 802.3ad) into one link."""

    count: int
    speed_gbps: float
    note: str | None = None
    uplink: bool = True
    bond: str | None = None
    bond_source: str | None = None

    def uplink_gbps(self, bonding: bool) -> float:
        """What these ports carry to the outside: all of them bonded, else one."""
        if not self.uplink or self.count < 1:
            return 0.0
        return self.count * self.speed_gbps if bonding and self.bond else self.speed_gbps


@dataclass(frozen=True, slots=True)
class Backplane:
    """A link between nodes that is not an ordinary RJ45 port (carrier switch, PCIe fabric)."""

    name: str
    speed_gbps: float
    uplink_gbps: float = 0.0  # the carrier's own port to the outside, 0 when it has none


@dataclass(frozen=True, slots=True)
class LaneSharing:
    """PCIe lanes a board shares: with its M.2 drive in use, ``m2_lanes`` of the
    ``lanes`` that feed ``shared_with`` (``backplane``) go to the drive."""

    lanes: int
    m2_lanes: int
    shared_with: str = "backplane"

    @property
    def remaining(self) -> float:
        """Fraction of the shared link left while the M.2 drive is in use."""
        return max(0.0, (self.lanes - self.m2_lanes) / self.lanes) if self.lanes else 0.0


@dataclass(frozen=True, slots=True)
class Hpl:
    """A published HPL (Linpack) run on one node: Gflops and the watts drawn meanwhile."""

    gflops: float
    watts: float | None = None

    @property
    def gflops_per_watt(self) -> float | None:
        return self.gflops / self.watts if self.watts else None


@dataclass(frozen=True, slots=True)
class M2Slot:
    key: str  # "M", "E", "B"
    lengths: tuple[int, ...]  # 2230, 2242, 2260, 2280, 22110
    via: str  # onboard | hat | carrier
    pcie_gen: int
    pcie_lanes: int
    nvme: bool
    sata: bool
    extra_usd: float = 0.0  # adapter/HAT needed to use the slot


@dataclass(frozen=True, slots=True)
class PoE:
    support: str  # none | native | hat | carrier
    standard: str | None = None
    pd_class: int | None = None
    extra_usd: float = 0.0  # HAT or module price


@dataclass(frozen=True, slots=True)
class Video:
    decode: str | None
    encode: str | None
    hw_transcode: bool


@dataclass(frozen=True, slots=True)
class Carrier:
    """A multi-node carrier the board needs (Turing Pi 2, Mixtile Cluster Box)."""

    name: str
    nodes: int
    price_usd: float
    idle_w: float
    uplinks: tuple[Nic, ...] = ()  # the carrier's own ports (a switch's uplinks)


@dataclass(frozen=True, slots=True)
class BoardProfile:
    """Everything microrack knows about one board model.

    ``idle_w``/``load_w``/``price_usd``/``ram_gb`` are those of the cheapest RAM
    variant; ``variants`` lists all of them.  ``power_source`` says where the
    watts were measured (``wall`` includes the PSU, ``usb_input`` does not).
    ``facts`` maps each numeric field name to its :class:`Quantity` so every
    number can be traced to a source or flagged as an estimate.
    """

    id: str
    name: str
    soc: str
    isa: str
    cores: int
    max_mhz: int
    idle_w: float
    load_w: float
    power_source: str
    throttle_soft_c: float
    throttle_hard_c: float
    thermal_profile: str
    has_nvme_slot: bool
    price_usd: float | None
    ram_gb: float
    aliases: tuple[str, ...] = ()
    confidence: str = "medium"
    core_type: str | None = None
    variants: tuple[RamVariant, ...] = ()
    nics: tuple[Nic, ...] = ()
    backplane: Backplane | None = None
    m2_slots: tuple[M2Slot, ...] = ()
    sata_ports: int = 0
    emmc: str = "none"
    poe: PoE = PoE("none")
    video: Video = Video(None, None, False)
    carrier: Carrier | None = None
    psu_w: float | None = None
    notes: str | None = None
    emmc_gb: float | None = None
    sd_card: bool = False
    lane_sharing: LaneSharing | None = None
    hpl: Hpl | None = None
    measured_mhz: int | None = None  # what sbc-bench measured at the top clock
    noise_dba: float | None = None  # only where measured: the board's, else its cooler's
    facts: Mapping[str, Quantity] = field(default_factory=lambda: _EMPTY, compare=False, repr=False)

    @property
    def node_link_gbps(self) -> float:
        """Fastest link one node has to the others (RJ45 or backplane)."""
        best = max((n.speed_gbps for n in self.nics), default=0.0)
        return max(best, self.backplane.speed_gbps) if self.backplane else best

    def backplane_gbps(self, m2_in_use: bool) -> float | None:
        """The backplane's speed, less the lanes an M.2 drive in use takes from it."""
        if self.backplane is None:
            return None
        sharing = self.lane_sharing
        if m2_in_use and sharing is not None and sharing.shared_with == "backplane":
            return self.backplane.speed_gbps * sharing.remaining
        return self.backplane.speed_gbps

    def link_gbps(self, m2_in_use: bool) -> float:
        """Fastest link one node has to the others, given whether its M.2 drive is used."""
        best = max((n.speed_gbps for n in self.nics), default=0.0)
        bp = self.backplane_gbps(m2_in_use)
        return best if bp is None else max(best, bp)

    def node_uplink_gbps(self, bonding: bool) -> float:
        """What one node carries to the outside over its own uplink-capable ports: its
        best link, which with ``bonding`` is a bond of same-speed LACP-capable ports."""
        return max((n.uplink_gbps(bonding) for n in self.nics), default=0.0)

    def carrier_uplink_gbps(self, bonding: bool) -> float:
        """What one carrier's own ports carry to the outside (0 without a carrier)."""
        if self.carrier is None:
            return 0.0
        per_port = [n.uplink_gbps(bonding) for n in self.carrier.uplinks]
        # ports of one carrier switch that are not bonded form a loop: one of them counts
        return sum(per_port) if bonding else max(per_port, default=0.0)

    @property
    def uplink_gbps(self) -> float:
        """Fastest single link one node has to the outside (its own port or its carrier's)."""
        own = max((n.speed_gbps for n in self.nics if n.uplink), default=0.0)
        via = (
            max((n.speed_gbps for n in self.carrier.uplinks if n.uplink), default=0.0)
            if self.carrier is not None
            else 0.0
        )
        return max(own, via)

    @property
    def gflops(self) -> float | None:
        return self.hpl.gflops if self.hpl else None

    @property
    def hw_transcode(self) -> bool:
        return self.video.hw_transcode

    def fact(self, name: str) -> Quantity | None:
        """The quantity behind a numeric field (``"idle_w"``, ``"nics[0].speed_gbps"``...)."""
        return self.facts.get(name)

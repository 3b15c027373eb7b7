"""Physical parameters of the twin that the board catalog does not carry.

The catalog (``microrack.catalog``) gives each board's idle and load watts and
its throttle limits, with sources.  The twin additionally needs thermal
resistances, heat capacities, fan and NVMe figures.  Each one is a
:class:`Param` with either a ``source`` (an id of ``catalog``'s sources table,
the same ids as ``boards.yaml``) or ``estimate=True`` and a ``basis``.

Thermal resistances are board-level (sensor to ambient, in K/W, over the
board's whole power).  Where a published loaded temperature exists the
resistance is derived from it: ``R = (T_load - T_ambient) / P_load``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

__all__ = ["BoardPhysics", "Param", "physics_for"]


@dataclass(frozen=True, slots=True)
class Param:
    """One number with where it comes from."""

    value: float
    source: str | None = None
    estimate: bool = False
    basis: str = ""

    def __post_init__(self) -> None:
        if not self.source and not self.estimate:
            raise ValueError("a twin parameter needs a source or estimate=True")


def _e(value: float, basis: str) -> Param:
    return Param(value, estimate=True, basis=basis)


def _s(value: float, source: str, basis: str = "") -> Param:
    return Param(value, source=source, basis=basis)


# defaults shared by every board
_FAN_W = _s(0.7, "tk_rock5b", "ROCK 5B: +0.7 W with the fan running")
_FAN_RPM_MAX = _e(6000, "small 30-40 mm 5 V SBC fans run 5000-8000 rpm")
_NVME_IDLE_W = _e(0.8, "M.2 NVMe with APST on a PCIe Gen2/3 link")
_NVME_ACTIVE_W = _e(3.0, "boards.yaml: NVMe ~2-8 W active; SBC links keep it low")
_NVME_R = _e(9.0, "M.2 2280 without heatsink: ~+25 K at 3 W")
_NVME_COUPLING = _e(0.3, "share of the SoC's rise that reaches the drive")
_NVME_HEAT_CAPACITY = _e(12.0, "M.2 2280 module, tau ~2 min")


@dataclass(frozen=True, slots=True)
class BoardPhysics:
    """Thermal, fan, clock and NVMe parameters of one kind of board."""

    r_fan_off: Param  # K/W, stock heatsink with its fan stopped (or no fan)
    r_fan_full: Param  # K/W, fan at 100 % duty
    r_passive_case: Param  # K/W, a passive (fanless) heatsink case
    r_bare: Param  # K/W, no heatsink at all
    heat_capacity: Param  # J/K, board + heatsink
    min_clock_ratio: Param  # lowest clock / max clock the firmware throttles to
    off_w: Param  # W drawn while crashed/halted
    fan_w: Param = _FAN_W
    fan_rpm_max: Param = _FAN_RPM_MAX
    nvme_idle_w: Param = _NVME_IDLE_W
    nvme_active_w: Param = _NVME_ACTIVE_W
    nvme_r: Param = _NVME_R
    nvme_coupling: Param = _NVME_COUPLING
    nvme_heat_capacity: Param = _NVME_HEAT_CAPACITY
    fan_curve: tuple[tuple[float, float], ...] = ()  # firmware (auto) fan curve, degC -> duty


# Raspberry Pi 4 / CM4 (BCM2711).  djstein: bare board reaches the 80 degC throttle
# under sustained load, a Flirc passive case holds ~70 degC, active fans ~10 K cooler.
# Load = 6.4 W (pidramble), ambient assumed 25 degC.
_BCM2711 = BoardPhysics(
    r_fan_off=_e(10.0, "heatsink, fan stopped: 25 + 6.4 W x 10 = 89 degC unthrottled, so it "
                 "throttles as djstein saw bare boards do; idle 25 + 2.7 x 10 = 52 (55 est.)"),
    r_fan_full=_e(5.5, "djstein: active cooling ~10 K below the Flirc case -> 60 degC at 6.4 W"),
    r_passive_case=_s(7.0, "djstein", "Flirc case ~70 degC at load: (70 - 25) / 6.4 W"),
    r_bare=_e(11.0, "djstein: bare board reaches 80 degC under sustained load"),
    heat_capacity=_e(14.0, "board + small heatsink; tau ~2.5 min with the fan off"),
    min_clock_ratio=_e(0.4, "arm_freq_min 600 MHz of 1500 MHz (rpi_overclock defaults)"),
    off_w=_s(0.12, "rpi_power", "0.023 A halt current"),
)

# Raspberry Pi 5 / CM5 (BCM2712) with the official Active Cooler.  Geerling (D0, 4 GB):
# 63 degC at 9.8 W load with the firmware fan curve (59 degC at 8.9 W for 2 GB).
# Fan-off resistance: uncooled
# Pi 5 throttles at 80-85 degC under sustained all-core load (rpi_thermal).
_PI5_CURVE = ((49.5, 0.0), (50.0, 0.30), (60.0, 0.50), (67.5, 0.70), (75.0, 1.0))  # rpi_thermal
_BCM2712 = BoardPhysics(
    r_fan_off=_e(6.5, "Active Cooler heatsink, fan stopped: 25 + 8.9..9.8 W x 6.5 = 83-89 degC, "
                 "the uncooled throttling under sustained load that rpi_thermal reports"),
    r_fan_full=_s(3.0, "geerling_pi5_d0", "solved so that the firmware curve settles at "
                  "63 degC at 9.8 W load (4 GB, duty 0.58): 1/R = 1/6.5 + 0.58 x 0.1795"),
    r_passive_case=_e(5.0, "large passive case"),
    r_bare=_e(7.5, "no heatsink"),
    heat_capacity=_e(20.0, "board + Active Cooler; tau ~2 min with the fan off"),
    min_clock_ratio=_s(0.625, "rpi_overclock", "1500 of 2400 MHz"),
    off_w=_s(1.8, "geerling_pi5_d0", "2 GB power-off draw (CNX table)"),
    fan_rpm_max=_e(8000, "Active Cooler blower at full duty"),
    fan_curve=_PI5_CURVE,
)

_OLDER_PI = BoardPhysics(
    r_fan_off=_e(12.0, "small SoC, no heatsink fan"),
    r_fan_full=_e(6.0, "small fan"),
    r_passive_case=_e(8.0, "passive case"),
    r_bare=_e(13.0, "no heatsink"),
    heat_capacity=_e(12.0, "small board"),
    min_clock_ratio=_e(0.43, "600 of 1400 MHz"),
    off_w=_e(0.1, "halt current as Pi 4"),
)

# RK3588 boards.  tk_rock5b: a ROCK 5B with no cooling at 26 degC ambient throttles
# only slightly under all-core 7-zip load (idle 1.4 W + 6 W) -> ~77 degC at 7.4 W.
_RK3588 = BoardPhysics(
    r_fan_off=_e(4.5, "heatsink with its fan stopped; 15 W load -> 92 degC, throttles"),
    r_fan_full=_e(2.5, "heatsink + 40 mm fan: 25 + 15 W x 2.5 = 62 degC"),
    r_passive_case=_e(3.5, "large passive heatsink case"),
    r_bare=_s(6.9, "tk_rock5b", "(77 - 26) / 7.4 W: 'only slight throttling' uncooled"),
    heat_capacity=_e(35.0, "RK3588 board + heatsink; tau ~2.5 min with the fan off"),
    min_clock_ratio=_e(0.17, "IPA may cap the A76 cluster down to 408 of 2400 MHz"),
    off_w=_s(0.0, "tk_rock5b", "'0 W or just a few mW' when off"),
)

# Turing RK1: Geerling measured 5.2 W for a booted, idle node with its NVMe (above the
# Turing Pi 2 BMC), against 2.85 W for the board alone: the drive idles at ~2.35 W on
# the RK1's PCIe 3.0 x4 link (no deep power states).
_RK1 = replace(_RK3588, nvme_idle_w=_s(2.35, "geerling_rk1_issue",
                                       "5.2 W idle with NVMe - 2.85 W board (geerling_sbc)"))

_JH7110 = BoardPhysics(
    r_fan_off=_e(10.0, "small heatsink, fan stopped"),
    r_fan_full=_e(6.0, "small fan"),
    r_passive_case=_e(8.0, "passive case"),
    r_bare=_e(12.0, "no heatsink"),
    heat_capacity=_e(14.0, "small board"),
    min_clock_ratio=_e(0.25, "cpufreq lowest OPP ~375 of 1500 MHz"),
    off_w=_e(0.1, "halt"),
)

_K1 = BoardPhysics(
    r_fan_off=_e(8.0, "heatsink, fan stopped"),
    r_fan_full=_e(4.0, "heatsink + fan"),
    r_passive_case=_e(6.0, "passive case"),
    r_bare=_e(10.0, "no heatsink"),
    heat_capacity=_e(25.0, "mid-size board"),
    min_clock_ratio=_e(0.3, "lowest OPP ~500 of 1600 MHz"),
    off_w=_e(0.1, "halt"),
)

_X86 = BoardPhysics(
    r_fan_off=_e(2.5, "stock cooler (a mini PC's firmware-driven fan, ZimaBlade's large "
                 "aluminium case): 25 + 25 W x 2.5 = 87 degC, below the 100 degC limit"),
    r_fan_full=_e(2.0, "stock cooler + an extra controllable fan"),
    r_passive_case=_e(4.0, "the stock case is passive"),
    r_bare=_e(6.0, "no heatsink"),
    heat_capacity=_e(60.0, "aluminium case"),
    min_clock_ratio=_e(0.35, "800 of 2300 MHz"),
    off_w=_e(0.5, "x86 soft-off standby"),
)

_BY_PROFILE: dict[str, BoardPhysics] = {
    "rk3588": _RK3588,
    "jh7110": _JH7110,
    "spacemit_k1": _K1,
    "intel_apollo_lake": _X86,
}
_BY_BOARD: dict[str, BoardPhysics] = {
    "rpi-4b": _BCM2711,
    "rpi-cm4": _BCM2711,
    "rpi-5": _BCM2712,
    "rpi-cm5": _BCM2712,
    "rpi-3bplus": _OLDER_PI,
    "rpi-2b": _OLDER_PI,
    "turing-rk1": _RK1,
}


def physics_for(board_id: str, thermal_profile: str, soc: str = "",
                isa: str = "") -> BoardPhysics:
    """The twin's parameters for one catalog board (by id, then thermal profile)."""
    if board_id in _BY_BOARD:
        return _BY_BOARD[board_id]
    if thermal_profile in _BY_PROFILE:
        return _BY_PROFILE[thermal_profile]
    if isa == "x86_64":
        return _X86
    if "BCM2712" in soc:
        return _BCM2712
    if "BCM" in soc:
        return _BCM2711
    return _RK3588

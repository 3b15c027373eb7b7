"""Power and energy arithmetic, apart from everything else so it can be checked alone.

One watt drawn around the clock for a year is 8.766 kWh (365.25 days x 24 h);
the planning rules carry that constant with the field-report check "900 W
around the clock at about $0.15/kWh is close to $100 a month".
"""

from __future__ import annotations

__all__ = ["annual_cost_usd", "annual_kwh", "average_watts", "monthly_cost_usd"]

KWH_PER_WATT_YEAR = 8.766


def average_watts(idle_w: float, load_w: float, utilisation: float) -> float:
    """Mean draw of a node busy ``utilisation`` (0..1) of the time: linear between idle and load."""
    if not 0.0 <= utilisation <= 1.0:
        raise ValueError(f"utilisation {utilisation} is outside 0..1")
    return idle_w * (1.0 - utilisation) + load_w * utilisation


def annual_kwh(watts: float, kwh_per_watt_year: float = KWH_PER_WATT_YEAR) -> float:
    return watts * kwh_per_watt_year


def annual_cost_usd(
    watts: float, usd_per_kwh: float, kwh_per_watt_year: float = KWH_PER_WATT_YEAR
) -> float:
    return annual_kwh(watts, kwh_per_watt_year) * usd_per_kwh


def monthly_cost_usd(
    watts: float, usd_per_kwh: float, kwh_per_watt_year: float = KWH_PER_WATT_YEAR
) -> float:
    return annual_cost_usd(watts, usd_per_kwh, kwh_per_watt_year) / 12.0

"""The power arithmetic, checked against the field report and by properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from microrack.catalog import load_catalog, planning_rules
from microrack.plan import (
    Group,
    Requirements,
    annual_cost_usd,
    annual_kwh,
    average_watts,
    evaluate,
    monthly_cost_usd,
)


def test_900_watts_around_the_clock_at_15_cents_is_about_100_dollars_a_month():
    # the field report: "a mean of 900 W consistently, costing about $100 per month"
    assert monthly_cost_usd(900, 0.152) == pytest.approx(100, abs=1.5)
    assert monthly_cost_usd(900, 0.15) == pytest.approx(98.6, abs=0.1)


def test_one_watt_for_a_year_is_8766_watt_hours():
    assert annual_kwh(1) == pytest.approx(8.766)
    assert annual_kwh(100) == pytest.approx(876.6)
    assert annual_cost_usd(10, 0.30) == pytest.approx(26.298)
    assert planning_rules().kwh_per_watt_year == pytest.approx(8.766)


def test_average_watts_is_linear_in_utilisation():
    assert average_watts(2.0, 10.0, 0.0) == 2.0
    assert average_watts(2.0, 10.0, 1.0) == 10.0
    assert average_watts(2.0, 10.0, 0.25) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="outside"):
        average_watts(2.0, 10.0, 1.5)


@given(
    idle=st.floats(0, 100),
    extra=st.floats(0, 100),
    u=st.floats(0, 1),
)
def test_average_lies_between_idle_and_load(idle, extra, u):
    load = idle + extra
    w = average_watts(idle, load, u)
    assert idle - 1e-9 <= w <= load + 1e-9


def test_build_watts_and_bill_add_up_from_the_catalog():
    cat = load_catalog()
    pi5 = cat.board("pi5")
    eight = next(v for v in pi5.variants if v.ram_gb == 8)
    req = Requirements(
        electricity_usd_per_kwh=0.25,
        years=3,
        typical_load=0.5,
        extras=[
            {"name": "switch", "cost_usd": 30, "watts": 4},
            {"name": "psu", "cost_usd": 12, "per_node": True},
        ],
    )
    b = evaluate((Group(pi5, eight, 4),), req, planning_rules())
    assert b.idle_w == pytest.approx(4 * eight.idle_w + 4)
    assert b.peak_w == pytest.approx(4 * eight.load_w + 4)
    assert b.typical_w == pytest.approx((b.idle_w + b.peak_w) / 2)
    assert b.kwh_per_year == pytest.approx(b.typical_w * 8.766)
    assert b.energy_usd_per_year == pytest.approx(b.kwh_per_year * 0.25)
    assert b.hardware_usd == pytest.approx(4 * eight.price_usd + 30 + 4 * 12)
    assert b.tco_usd == pytest.approx(b.hardware_usd + 3 * b.energy_usd_per_year)
    assert b.ram_gb == 32 and b.cores == 16


def test_a_carrier_board_pays_for_and_powers_its_carrier():
    cat = load_catalog()
    rk1 = cat.board("rk1")
    v = rk1.variants[0]
    carrier = rk1.carrier
    assert carrier is not None and carrier.nodes == 4
    five = evaluate((Group(rk1, v, 5),), Requirements(), planning_rules())
    assert five.hardware_usd == pytest.approx(5 * v.price_usd + 2 * carrier.price_usd)
    assert five.idle_w == pytest.approx(5 * rk1.idle_w + 2 * carrier.idle_w)


def test_figures_measured_at_the_usb_input_pay_the_adapter_loss():
    rules = planning_rules()
    pi4 = load_catalog().board("pi4")
    assert pi4.power_source == "usb_input"
    b = evaluate((Group(pi4, pi4.variants[0], 2),), Requirements(), rules)
    assert b.idle_w == pytest.approx(2 * pi4.idle_w / rules.usb_psu_efficiency)
    assert b.peak_w == pytest.approx(2 * pi4.load_w / rules.usb_psu_efficiency)
    # on PoE the HAT replaces the adapter: the budget counts the board's own draw
    poe = evaluate(
        (Group(pi4, pi4.variants[0], 2),), Requirements(poe={"allocation": "consumption"}), rules
    )
    assert poe.poe_used_w == pytest.approx(2 * pi4.load_w / rules.pd_hat_efficiency)

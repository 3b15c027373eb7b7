"""The twin's parameter file: every number carries its evidence, and a mistake names its field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from microrack.errors import ConfigError
from microrack.sim import TwinData, board_model
from microrack.sim._params import TWIN_FILE


def _copy(tmp_path: Path, edit) -> Path:  # type: ignore[no-untyped-def]
    doc = yaml.safe_load(TWIN_FILE.read_text(encoding="utf-8"))
    edit(doc)
    p = tmp_path / "twin.yaml"
    p.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return p


def test_a_bare_number_is_refused(tmp_path: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["families"]["bcm2711"]["die"]["r_js"] = 2.0

    with pytest.raises(ConfigError, match=r"families\.bcm2711\.die\.r_js: a bare number"):
        TwinData.read(_copy(tmp_path, edit), fitted=None)


def test_an_unknown_source_is_refused(tmp_path: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        d["families"]["rk3588"]["off_w"] = {"value": 0.0, "source": "a_forum_post"}

    with pytest.raises(ConfigError, match=r"families\.rk3588\.off_w\.source: unknown source"):
        TwinData.read(_copy(tmp_path, edit), fitted=None)


def test_an_estimate_needs_no_source_but_a_missing_cooler_is_an_error(tmp_path: Path) -> None:
    def edit(d):  # type: ignore[no-untyped-def]
        del d["families"]["jh7110"]["coolers"]["passive_case"]

    with pytest.raises(ConfigError, match=r"families\.jh7110\.coolers: missing passive_case"):
        TwinData.read(_copy(tmp_path, edit), fitted=None)


def test_a_fitted_value_needs_its_runs_and_an_existing_parameter(tmp_path: Path) -> None:
    fitted = tmp_path / "fitted.yaml"
    fitted.write_text("params:\n  families.bcm2711.die.r_js: {value: 1.0}\n")
    with pytest.raises(ConfigError, match="fitted_to"):
        TwinData.read(TWIN_FILE, fitted=fitted)
    fitted.write_text("params:\n  families.nosuch.die.r_js: {value: 1.0, fitted_to: [x]}\n")
    with pytest.raises(ConfigError, match="no such twin parameter"):
        TwinData.read(TWIN_FILE, fitted=fitted)
    fitted.write_text("params:\n  families.bcm2711.die.r_js: {value: 1.25, fitted_to: [run-a]}\n")
    data = TwinData.read(TWIN_FILE, fitted=fitted)
    p = data.get("families.bcm2711.die.r_js")
    assert p.value == 1.25 and p.fitted_to == ("run-a",) and p.cite() == "fitted to run-a"


def test_changed_values_reach_the_board_model() -> None:
    data = TwinData.read(fitted=None).with_values({"families.bcm2712.coolers.fan.r_sa_full": 1.0})
    m = board_model("pi5", cooler="active_cooler", data=data)  # shares the `fan` figures
    assert m.cooling.r_sa_full is not None and m.cooling.r_sa_full.value == 1.0
    assert m.r_full == pytest.approx(m.physics.r_js.value + 1.0)


def test_every_catalog_board_has_a_family_and_every_cooler() -> None:
    from microrack.catalog import board_ids
    from microrack.sim import KINDS
    from microrack.sim._params import COOLERS

    for b in board_ids():
        for cooler in COOLERS:
            m = board_model(b, cooler=cooler)
            assert m.r_full <= m.r_off and m.cooling.c_sink.value > 0, (b, cooler)
        assert all(k in m.physics.workload for k in KINDS), b


def test_pi3bplus_soft_limit_is_one_frequency_step() -> None:
    """rpi_thermal: above its 60 degC soft limit a 3B+ runs at 1.2 of 1.4 GHz, before the ramp."""
    from microrack.sim import Twin

    m = board_model("rpi-3bplus", cooler="bare")
    tw = Twin([m] * 3, nvme=[False] * 3)
    tw.util[:] = 1.0
    tw.temp[:] = [59.0, 62.0, 83.0]
    tw.sink_temp[:] = tw.temp
    tw.ambient[:] = tw.temp  # hold the temperatures for one short step
    tw.step(0.01)
    assert float(tw.clock[0]) == 1.0
    assert float(tw.clock[1]) == pytest.approx(1.2 / 1.4, abs=2e-3)
    assert float(tw.clock[2]) < float(tw.clock[1])  # the 80-85 degC ramp below that

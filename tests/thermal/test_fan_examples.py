"""The example configs load, and run where this machine can run them (the twin)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fan_trees import Emc2301

from microrack.sim import open_node
from microrack.thermal import FanService, load_config
from support import microrack_cmd

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("name", ["fan-pi4-gpio.yaml", "fan-pi5-pwm.yaml", "fan-cm4-emc2301.yaml"])
def test_example_validates(name: str) -> None:
    assert load_config(EXAMPLES / name).fans


def test_twin_stall_script_raises_the_stall_flag_in_its_window() -> None:
    now = [0.0]
    node = open_node("pi5", script=EXAMPLES / "fan-twin-stall.yaml", clock=lambda: now[0] / 30)
    service = FanService.from_file(EXAMPLES / "fan-pi5-pwm.yaml", node)
    stalled_at = []
    for t in range(0, 1200, 2):  # twin seconds; the script's speed is 30x the clock
        now[0] = float(t)
        service.step(float(t))
        if service.fans[0].state.stall:
            stalled_at.append(t)
    assert stalled_at and 600 <= stalled_at[0] <= 620 and stalled_at[-1] < 920


def _run(service: FanService, node, seconds: int) -> None:  # type: ignore[no-untyped-def]
    for t in range(0, seconds, 2):
        node.advance(2.0)
        service.step(float(t))


def test_pi5_example_cools_the_pi5_twin(tmp_path: Path) -> None:
    script = tmp_path / "busy.yaml"
    script.write_text("load: [{at: 0, util: 1.0}]\n")
    node = open_node("pi5", seed=3, script=script, clock=lambda: 0.0)
    service = FanService.from_file(EXAMPLES / "fan-pi5-pwm.yaml", node)
    _run(service, node, 900)
    state = service.fans[0].state
    assert state.failsafe is None and 0.3 <= state.duty <= 1.0
    assert node.pwm == round(state.duty * 255) and node.fan_rpm > 0
    service.close()
    assert node.pwm == 255 and node.pwm_enable == 2


def test_cm4_example_drives_an_emc2301_register_map() -> None:
    node = open_node("cm4", seed=3, clock=lambda: 0.0)
    chip = Emc2301()
    service = FanService.from_file(
        EXAMPLES / "fan-cm4-emc2301.yaml", node, bus_opener=lambda _n: chip
    )
    _run(service, node, 20)
    expected = service.fans[0].state.duty
    assert service.fans[0].state.failsafe is None and expected >= 0.2
    assert chip.regs[0x30] == round(expected * 255)
    service.close()
    assert chip.regs[0x30] == 255


def test_law_plot_shows_the_hysteresis_band(tmp_path: Path) -> None:
    from microrack.thermal._plot import law_table

    service = FanService.from_file(
        EXAMPLES / "fan-pi5-pwm.yaml", open_node("pi5", clock=lambda: 0.0)
    )
    table = law_table(service.fans[0])
    pairs = list(zip(table["temp_c"], table["rising"], table["falling"], strict=True))
    assert all(f >= r for _, r, f in pairs)  # falling branch holds the duty up
    assert all(r == 0.0 for t, r, _ in pairs if t < 49.5) and all(
        r == 1.0 for t, r, _ in pairs if t >= 75
    )
    # 5 °C band: falling at T gives the rising duty of T + 5
    rising = dict(zip(table["temp_c"], table["rising"], strict=True))
    assert all(abs(f - rising[t + 5]) < 1e-9 for t, _, f in pairs if 50 <= t <= 90)

    out = tmp_path / "law.html"
    r = subprocess.run(
        microrack_cmd(
            "fan",
            "--simulate",
            "pi5",
            "--config",
            str(EXAMPLES / "fan-pi5-pwm.yaml"),
            "--plot",
            str(out),
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert "plotly" in out.read_text()[:200000] and "falling" in out.read_text()

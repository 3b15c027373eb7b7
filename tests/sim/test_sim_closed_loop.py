"""The fan controller closes the loop through the twin's pwm1, as on a real board."""

from __future__ import annotations

from pathlib import Path

import pytest

from microrack.sim import open_node
from microrack.thermal import FanService


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("board", ["pi4b", "rk1", "pi5"])
def test_working_fan_curve_keeps_the_twin_cooler_than_a_failed_fan(
    tmp_path: Path, board: str
) -> None:
    finals = {}
    for case, faults in (("working", "[]"), ("stalled", "[{at: 60, kind: fan_stall}]")):
        script = tmp_path / f"{case}.yaml"
        script.write_text(f"load: [{{at: 0, util: 1.0}}]\nfaults: {faults}\n")
        node = open_node(board, script=script, clock=FakeClock())
        service = FanService.for_board(board, node)
        try:
            for i in range(600):  # 20 minutes, the controller steps every 2 s
                service.step(float(i * 2))
                node.advance(2.0)
            points = {p.key.name: p.value for p in service.points()}
        finally:
            service.stop()
        finals[case] = (node.temperature, node.clock_ratio, points)
    working, stalled = finals["working"], finals["stalled"]
    assert working[0] < stalled[0] - 5
    assert working[1] == 1.0 and stalled[1] < 1.0  # only the failed fan throttles
    assert stalled[2]["microrack_fan_stall"] == 1 and working[2]["microrack_fan_stall"] == 0

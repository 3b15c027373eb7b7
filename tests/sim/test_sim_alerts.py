"""The sim's alert tracker follows the hub's rules, including FanStalled's 10 s hold."""

from __future__ import annotations

import numpy as np

from microrack.sim._alerts import AlertTracker, thresholds


def _feed(tracker: AlertTracker, t: float, *, stalled: bool) -> None:
    one = np.ones(1)
    tracker.evaluate(
        t,
        up=one,
        sensor_ok=np.ones(1, bool),
        temp=np.full(1, 50.0),
        soft_c=np.full(1, 80.0),
        flags=np.zeros(1),
        disk_ratio=np.zeros(1),
        nvme_temp=np.full(1, 40.0),
        has_nvme=one,
        duty=np.full(1, 0.8),
        rpm_zero=np.array([stalled]),
        has_fan=one,
    )


def test_the_hub_supplies_the_fan_stall_hold() -> None:
    from microrack.rules import DefaultsSpec

    assert thresholds().fan_stalled_for_s == DefaultsSpec().fan_stalled_for_seconds > 0


def test_a_fan_stopped_shorter_than_the_hold_raises_nothing() -> None:
    tr = AlertTracker(["n0"])
    hold = tr.th.fan_stalled_for_s
    for t in np.arange(0.0, hold, 5.0):  # stopped for less than the hold (a fan spinning up)
        _feed(tr, 100.0 + t, stalled=True)
    _feed(tr, 100.0 + hold, stalled=False)
    assert tr.episodes == []


def test_a_fan_stall_fires_once_the_hold_has_passed_and_resolves() -> None:
    tr = AlertTracker(["n0"])
    hold = tr.th.fan_stalled_for_s
    t = 100.0
    while t <= 100.0 + 3 * hold:
        _feed(tr, t, stalled=True)
        t += 5.0
    _feed(tr, t, stalled=False)
    [ep] = tr.episodes
    assert ep.rule == "FanStalled" and ep.node == "n0"
    assert ep.start == 100.0 + hold and ep.end == t


def test_hub_and_twin_take_rule_names_and_severities_from_one_module() -> None:
    import subprocess
    import sys

    from microrack.hub._alerts import builtin_rules
    from microrack.rules import SEVERITY, DefaultsSpec
    from microrack.sim._alerts import RULES

    hub = {r.name: r.severity for r in builtin_rules(DefaultsSpec())}
    assert hub == SEVERITY
    assert all(hub[name] == sev for name, sev in RULES)
    # the twin's rules load without the hub package
    code = (
        "import sys; import microrack.sim._alerts; "
        "sys.exit(any(m.startswith('microrack.hub') for m in sys.modules))"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0

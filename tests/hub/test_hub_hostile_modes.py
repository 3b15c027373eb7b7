"""Each hostile body mode, in-process, against the hub's answer checks (``hub._validate``).

The integration test (``test_hub_hostile.py``) runs every mode against a real hub;
this one says, without any process, that each body mode is refused for the reason
that test expects, or passes the checks where the hub's own state (names pinned to
addresses, the series budget, the read limit) is what refuses it.
"""

from __future__ import annotations

import pytest
from test_hub_hostile import EXPECTED

from microrack.hub._hostile import _BODIES, _WIRE, MODES, HostileAgent
from microrack.hub._validate import Limits, Rejected, check_answer, parse_answer

# refused by the hub's state or read limit, not by the answer's own checks
_BY_THE_HUB = {"huge_json", "name_taken", "renaming", "series_churn"}
_ACCEPTED = {"seq_backwards", "hostile_name", "nonfinite_values", "big_valid"}


def test_every_mode_is_one_function() -> None:
    assert set(MODES) == set(_BODIES) | set(_WIRE) and not set(_BODIES) & set(_WIRE)
    with pytest.raises(ValueError, match="unknown mode 'nope'"):
        HostileAgent("nope", 1)


@pytest.mark.parametrize("mode", sorted(set(_BODIES) - _BY_THE_HUB))
def test_body_mode_is_refused_for_its_reason(mode: str) -> None:
    agent = HostileAgent(mode, 1)  # not served: only its answers are asked for
    raw = _BODIES[mode](agent, 0)
    try:
        answer = check_answer(parse_answer(raw), 0, Limits())
    except Rejected as exc:
        assert exc.reason == EXPECTED[mode], (mode, exc)
        return
    if mode in _ACCEPTED:
        assert answer.samples and not answer.rejected, (mode, answer.rejected)
    else:
        assert answer.rejected.get(str(EXPECTED[mode]), 0) > 0, (mode, answer.rejected)


def test_a_mode_claims_the_name_it_is_given() -> None:
    agent = HostileAgent("name_taken", 1, "real1")
    answer = check_answer(parse_answer(_BODIES["name_taken"](agent, 0)), 0, Limits())
    assert answer.name == "real1" and not answer.rejected
    renamed = HostileAgent("renaming", 1)
    names = {check_answer(parse_answer(_BODIES["renaming"](renamed, 0)), 0, Limits()).name}
    names.add(check_answer(parse_answer(_BODIES["renaming"](renamed, 0)), 0, Limits()).name)
    assert len(names) == 2 and all(n.startswith("hostile-renaming-1-") for n in names)

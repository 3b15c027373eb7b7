"""The lease engine in-process, on a captured /sys tree: state file, timer, start-up revert."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from faults.chaos_support import copy_tree, poll
from microrack.faults import FaultEngine, FaultError, NodeContext, parse_request
from microrack.sensors import LocalFS

CPU = "sys/devices/system/cpu"


def _engine(tmp: Path, root: Path, **kw: object) -> FaultEngine:
    ctx = NodeContext(node="e1", fs=LocalFS(str(root)), fill_dir=tmp)
    return FaultEngine(
        ctx, allow=("throttle", "disk_fill"), state_path=tmp / "s" / "state.json", **kw
    )  # type: ignore[arg-type]


def _throttle(fid: str, duration: float = 600) -> object:
    return parse_request(
        {"id": fid, "kind": "throttle", "duration_s": duration, "params": {"max_khz": 700000}}
    )


def test_timer_reverts_and_state_follows(tmp_path: Path) -> None:
    root = copy_tree("rpi4b", tmp_path / "root")
    eng = _engine(tmp_path, root)
    eng.recover()
    eng.start()
    try:
        before = [(root / CPU / f"cpu{i}/cpufreq/scaling_max_freq").read_text() for i in range(4)]
        eng.submit(_throttle("a", 1))  # type: ignore[arg-type]
        assert all(
            (root / CPU / f"cpu{i}/cpufreq/scaling_max_freq").read_text() == "700000\n"
            for i in range(4)
        )
        assert [f["id"] for f in json.loads(eng.state_path.read_text())["faults"]] == ["a"]
        poll(lambda: eng.active() == [], what="timer revert")
        after = [(root / CPU / f"cpu{i}/cpufreq/scaling_max_freq").read_text() for i in range(4)]
        assert after == before
        assert json.loads(eng.state_path.read_text())["faults"] == []
    finally:
        eng.stop()


def test_a_fault_that_cannot_be_reverted_stays_in_the_state(tmp_path: Path) -> None:
    root = copy_tree("rpi4b", tmp_path / "root")
    eng = _engine(tmp_path, root)
    eng.submit(_throttle("a"))  # type: ignore[arg-type]
    shutil.rmtree(root / CPU / "cpu2")
    with pytest.raises(FaultError) as info:
        eng.revert("a")
    assert info.value.status == 422
    assert [f["id"] for f in eng.active()] == ["a"]
    assert [f["id"] for f in json.loads(eng.state_path.read_text())["faults"]] == ["a"]


def test_recover_reverts_leftovers_and_survives_a_corrupt_state(tmp_path: Path) -> None:
    root = copy_tree("rpi4b", tmp_path / "root")
    f = root / CPU / "cpu0/cpufreq/scaling_max_freq"
    before = f.read_text()
    first = _engine(tmp_path, root)
    first.submit(_throttle("a"))  # type: ignore[arg-type]
    assert f.read_text() != before
    # a new engine (the restarted agent) reads what the first one left
    assert _engine(tmp_path, root).recover() == ["a"]
    assert f.read_text() == before
    first.state_path.write_text("{not json")
    assert _engine(tmp_path, root).recover() == []
    assert json.loads(first.state_path.read_text()) == {"node": "e1", "faults": []}


def test_dry_run_and_refusals(tmp_path: Path) -> None:
    root = copy_tree("rpi4b", tmp_path / "root")
    eng = _engine(tmp_path, root, max_lease=60)
    f = root / CPU / "cpu0/cpufreq/scaling_max_freq"
    before = f.read_text()
    dry = eng.submit(
        parse_request(
            {
                "id": "d",
                "kind": "throttle",
                "duration_s": 5,
                "params": {"max_pct": 10},
                "dry_run": True,
            }
        )
    )
    assert dry["commands"] and f.read_text() == before and eng.active() == []
    assert not eng.state_path.exists()
    with pytest.raises(FaultError) as info:
        eng.submit(_throttle("long"))  # type: ignore[arg-type]
    assert info.value.status == 400 and info.value.field == "duration_s"
    with pytest.raises(FaultError) as info:
        eng.submit(
            parse_request(
                {
                    "id": "p",
                    "kind": "partition",
                    "duration_s": 5,
                    "params": {"peers": ["198.18.1.1"]},
                }
            )
        )
    assert info.value.status == 403
    with pytest.raises(ValueError):
        FaultEngine(eng.ctx, allow=("meteor",))


def test_a_leftover_that_cannot_be_reverted_is_kept_and_retried(tmp_path: Path) -> None:
    root = copy_tree("rpi4b", tmp_path / "root")
    first = _engine(tmp_path, root)
    first.submit(_throttle("a"))  # type: ignore[arg-type]
    saved = tmp_path / "cpu3"
    shutil.move(root / CPU / "cpu3", saved)  # the revert cannot write there now
    second = _engine(tmp_path, root)
    assert second.recover() == []
    assert [f["id"] for f in second.active()] == ["a"]
    assert [f["id"] for f in json.loads(second.state_path.read_text())["faults"]] == ["a"]
    shutil.move(saved, root / CPU / "cpu3")
    second.revert("a")
    assert second.active() == []
    assert (root / CPU / "cpu3/cpufreq/scaling_max_freq").read_text() != "700000\n"

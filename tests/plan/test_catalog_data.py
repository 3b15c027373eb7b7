"""The packaged catalog loads, every alias resolves, and bad catalog files name the field."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import microrack.catalog as catalog
from microrack.catalog import UnknownBoard, board_ids, board_profile, load_catalog
from microrack.errors import ConfigError, MicrorackError

CONTRACT_ALIASES = {
    "pi4b": "rpi-4b",
    "pi4": "rpi-4b",
    "pi5": "rpi-5",
    "cm4": "rpi-cm4",
    "cm5": "rpi-cm5",
    "rk1": "turing-rk1",
    "blade3": "mixtile-blade3",
    "rock5b": "radxa-rock-5b",
    "opi5plus": "orangepi-5-plus",
    "rv2": "orangepi-rv2",
    "vf2": "starfive-visionfive2",
    "mars": "milkv-mars",
    "jupiter": "milkv-jupiter",
}
REQUIRED_BOARDS = [
    "rpi-4b",
    "rpi-cm4",
    "rpi-5",
    "rpi-cm5",
    "orangepi-rv2",
    "starfive-visionfive2",
    "orangepi-5-plus",
    "radxa-rock-5b",
    "turing-rk1",
    "mixtile-blade3",
]


@pytest.mark.parametrize("board_id", board_ids())
def test_every_board_loads_with_traceable_numbers(board_id):
    cat = load_catalog()
    p = board_profile(board_id)
    assert p.id == board_id
    assert 0 < p.idle_w <= p.load_w
    assert p.throttle_soft_c <= p.throttle_hard_c
    assert p.cores >= 1 and p.max_mhz >= 100
    assert p.variants and all(v.ram_gb > 0 for v in p.variants)
    for name in ("cores", "max_mhz", "idle_w", "load_w", "throttle_soft_c", "throttle_hard_c"):
        fact = p.fact(name)
        assert fact is not None, name
        # a number either cites a source in the table or says it is an estimate
        assert fact.estimate or fact.source in cat.sources, (name, fact)
    assert p.thermal_profile in cat.thermal_profiles


def test_the_issue_boards_and_an_x86_mini_pc_are_present():
    ids = board_ids()
    for board_id in REQUIRED_BOARDS:
        assert board_id in ids
    assert any(board_profile(b).isa == "x86_64" for b in ids)
    assert {board_profile(b).isa for b in ids} >= {"arm64", "armv7", "riscv64", "x86_64"}


@pytest.mark.parametrize(("alias", "board_id"), sorted(CONTRACT_ALIASES.items()))
def test_every_contract_alias_resolves(alias, board_id):
    assert board_profile(alias).id == board_id
    assert board_profile(alias.upper()).id == board_id


def test_unknown_board_names_it_and_lists_known_ids():
    with pytest.raises(UnknownBoard) as info:
        board_profile("pi9")
    assert isinstance(info.value, MicrorackError)
    message = str(info.value)
    assert "'pi9'" in message
    for board_id in REQUIRED_BOARDS:
        assert board_id in message


def test_thermal_profile_has_limits_and_the_pi5_fan_curve():
    pi5 = catalog.thermal_profile(board_profile("pi5").thermal_profile)
    assert (pi5.throttle_soft_c, pi5.throttle_hard_c) == (80.0, 85.0)
    temps = [p.temp_c for p in pi5.fan_curve]
    assert temps == sorted(temps) and len(temps) == 4
    assert pi5.fan_curve[-1].duty == 1.0
    rk = catalog.thermal_profile("rk3588")
    assert (rk.throttle_soft_c, rk.throttle_hard_c, rk.critical_c) == (75.0, 85.0, 115.0)
    with pytest.raises(MicrorackError, match="no-such-profile"):
        catalog.thermal_profile("no-such-profile")


def test_planning_rules_carry_quorum_ceph_and_poe_facts():
    rules = catalog.planning_rules()
    assert [rules.quorum_tolerates(n) for n in range(1, 8)] == [0, 0, 1, 1, 2, 2, 3]
    assert rules.quorum_members_for(1) == 3
    assert rules.ceph_replica_size == 3 and rules.ceph_min_size == 2
    assert rules.poe_reservation_w(4) == 30.0
    assert rules.poe_reservation_w(3) == 15.4
    assert rules.kwh_per_watt_year == pytest.approx(8.766)


def test_module_imports_nothing_beyond_stdlib_and_yaml():
    code = (
        "import sys, microrack.catalog as c; c.board_profile('pi4');"
        "bad = [m for m in ('pydantic', 'rich', 'numpy', 'plotly') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


GOOD_BOARD = """
boards:
  - id: tiny-board
    name: Tiny Board
    aliases: [tiny]
    soc: T1
    isa: arm64
    cores: {value: 4, estimate: true}
    max_mhz: {value: 1200, source: rpi_soc}
    variants:
      - {ram_gb: {value: 2, estimate: true}, price_usd: {value: 20, estimate: true}}
    nics: [{count: {value: 1, estimate: true}, speed_gbps: {value: 1, estimate: true}}]
    emmc: none
    poe: {support: none}
    power:
      measured_at: wall
      idle_w: {value: 1.0, estimate: true}
      load_w: {value: 3.0, estimate: true}
    thermal_profile: bcm_pi_family
    video: {hw_transcode: false}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "boards.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def test_user_catalog_adds_a_board_and_overrides_by_id(tmp_path):
    override = GOOD_BOARD.replace("tiny-board", "rpi-4b").replace("[tiny]", "[pi4b, pi4]")
    path = _write(tmp_path, GOOD_BOARD + override.split("boards:\n", 1)[1])
    cat = load_catalog(path)
    assert cat.board("tiny").name == "Tiny Board"
    assert cat.board("pi4").max_mhz == 1200  # replaced
    assert "rpi-5" in cat.boards  # the packaged ones stay
    assert board_profile("pi4").max_mhz == 1500  # the packaged catalog is untouched


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("idle_w: {value: 1.0, estimate: true}", "idle_w: {value: 1.0}", "boards[0].power.idle_w"),
        (
            "idle_w: {value: 1.0, estimate: true}",
            "idle_w: {value: one, estimate: true}",
            "boards[0].power.idle_w.value",
        ),
        (
            "max_mhz: {value: 1200, source: rpi_soc}",
            "max_mhz: {value: 1200, source: nowhere}",
            "boards[0].max_mhz.source",
        ),
        ("isa: arm64", "isa: sparc", "boards[0].isa"),
        ("thermal_profile: bcm_pi_family", "thermal_profile: lava", "boards[0].thermal_profile"),
        ("    soc: T1\n", "", "boards[0].soc"),
        (
            "load_w: {value: 3.0, estimate: true}",
            "load_w: {value: 0.5, estimate: true}",
            "boards[0].power.idle_w",
        ),
        ("poe: {support: none}", "poe: {support: hat}", "boards[0].poe.pd_class"),
    ],
)
def test_malformed_catalog_is_one_config_error_naming_file_and_field(tmp_path, old, new, field):
    assert old in GOOD_BOARD
    path = _write(tmp_path, GOOD_BOARD.replace(old, new))
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    assert info.value.path == str(path)
    assert info.value.field == field
    assert str(path) in str(info.value) and field in str(info.value)


def test_catalog_file_that_is_not_yaml_names_the_line(tmp_path):
    path = _write(tmp_path, "boards: [\n  - id: x\n")
    with pytest.raises(ConfigError) as info:
        load_catalog(path)
    assert info.value.path == str(path)
    assert info.value.message.startswith("not valid YAML: line 2, column 3: ")


def test_missing_catalog_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        load_catalog(tmp_path / "nope.yaml")

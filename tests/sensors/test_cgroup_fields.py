"""The targeted cgroup stat-file lookup agrees with the full parse on any text."""

from __future__ import annotations

import random

from microrack.sensors.cgroup import _kv, _pick

KEYS = ("anon", "file", "inactive_file", "usage_usec", "x")
PIECES = [
    "anon",
    "file",
    "inactive_file",
    "usage_usec",
    " ",
    "  ",
    "\n",
    "\r",
    "\t",
    "1",
    "23",
    "x",
    "\u00e9",
    "\x0b",
    "\x1c",
    "\u2028",
    "\x85",
    "anonx",
    "file_x",
    "_file",
    "\n\n",
]


def _expected(text: str) -> dict[str, str]:
    full = _kv(text)
    return {k: full[k] for k in KEYS if k in full}


def test_pick_matches_the_full_parse_on_random_and_hostile_text() -> None:
    rnd = random.Random(13)
    for _ in range(30000):
        text = "".join(rnd.choice(PIECES) for _ in range(rnd.randint(0, 16)))
        assert _pick(text, KEYS) == _expected(text), repr(text)


def test_pick_on_a_real_memory_stat() -> None:
    text = (
        "anon 1048576\nfile 2097152\nkernel 0\nanon_thp 0\nfile_mapped 4096\n"
        "inactive_anon 0\nactive_anon 1048576\ninactive_file 524288\nactive_file 1572864\n"
        "workingset_refault_file 0\npgfault 1200\n"
    )
    assert _pick(text, ("inactive_file", "anon", "file")) == {
        "inactive_file": "524288",
        "anon": "1048576",
        "file": "2097152",
    }
    # the last of repeated lines wins; a key with no value is no line
    assert _pick("anon 1\nanon 2\nfile \n", ("anon", "file")) == {"anon": "2"}
    assert _pick(None, ("anon",)) == {} and _pick("", ("anon",)) == {}


PSI_PIECES = [
    "some",
    "full",
    " ",
    "total=",
    "total=1",
    "xtotal=2",
    "_total=3",
    "-total=4",
    "avg10=0.00",
    "12",
    "\n",
    "\r",
    "\t",
    "\u00e9",
    "\u0663",
    "total=\u0663",
    "\x0b",
    "\u2028",
    "=",
    "0",
]


def test_pressure_scan_matches_the_regex_on_random_and_hostile_text() -> None:
    from microrack.sensors.cgroup import _pressure, _pressure_re

    rnd = random.Random(7)
    for _ in range(30000):
        text = "".join(rnd.choice(PSI_PIECES) for _ in range(rnd.randint(1, 14)))
        assert _pressure(text) == _pressure_re(text), repr(text)
    kernel = (
        "some avg10=0.00 avg60=0.10 avg300=0.05 total=1500000\n"
        "full avg10=0.00 avg60=0.00 avg300=0.00 total=500000"
    )
    assert _pressure(kernel) == (1.5, 0.5)
    # a number too long for int() is garbage that costs its field, not the collection
    assert _pressure("some total=" + "9" * 5000 + "\nfull total=2") == (None, 2e-06)

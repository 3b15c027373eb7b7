"""Every user file format, read through the real CLI, against hostile files.

Each case must give one line on stderr naming the file, a non-zero exit, and
leave every file as it was.  Commands that write refuse to replace an existing
file without ``--force`` and never write over their own input.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from microrack._yaml import MAX_BYTES
from microrack.cli import main

ROOT = Path(__file__).resolve().parents[1]
EX = ROOT / "examples"
CLUSTER = EX / "cluster-pi2-5.yaml"
REQUIREMENTS = next((EX / "requirements").glob("*.yaml"))
SCENARIO = next((EX / "scenarios").glob("*.yaml"))

# format -> the command line that reads FILE (F)
YAML_FORMATS: dict[str, list[str]] = {
    "cluster.yaml": ["spec", "validate", "F"],
    "fan.yaml": ["fan", "--config", "F", "--root", "TMP", "--once", "--state-file", "TMP/s"],
    "requirements": ["plan", "F"],
    "catalog": ["catalog", "--catalog", "F"],
    "scenario": ["sim", str(CLUSTER), "--scenario", "F"],
    "node script": ["fan", "--simulate", "pi5", "--board", "pi5", "--sim-script", "F", "--once"],
    "bench profile": ["bench", "cpu", "--profile", "F", "--no-progress"],
    "alert rules": ["hub", "--rules", "F", "--db", "TMP/hub.db", "--listen", "127.0.0.1:1"],
    "hub --spec": ["hub", "--spec", "F", "--db", "TMP/hub.db", "--listen", "127.0.0.1:1"],
}
OTHER_FORMATS: dict[str, list[str]] = {
    "fancontrol": ["fan", "--import-fancontrol", "F"],
    "bench result": ["bench", "compare", "F", "F"],
}


def _run(
    argv: list[str], path: Path, tmp: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, list[str]]:
    args = [str(path) if a == "F" else a.replace("TMP", str(tmp)) for a in argv]
    try:
        code = main(args)
    except SystemExit as exc:  # argparse: a usage error
        code = int(exc.code or 0)
    err = capsys.readouterr().err.strip().splitlines()
    return code, err


def _fifo(p: Path) -> None:
    os.mkfifo(p)


def _directory(p: Path) -> None:
    p.mkdir()


def _huge(p: Path) -> None:
    with open(p, "wb") as fh:
        fh.truncate(MAX_BYTES + 1)


def _write(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


FILE_CASES: dict[str, Callable[[Path], None]] = {
    "fifo": _fifo,
    "directory": _directory,
    "over 8 MiB": _huge,
    "not UTF-8": _write(b"a: 1\nb: \xff\xfe\n"),
}
YAML_CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "deep list": (_write(b"[" * 20000), "nested deeper than"),
    "deep mapping": (_write(b"{a: " * 20000), "nested deeper than"),
    "duplicate key": (_write(b"x: 1\ny: 2\nx: 3\n"), "first at line 1, again at line 3"),
    "infinity": (_write(b"x: .inf\n"), ".inf is not a finite number"),
    "nan": (_write(b"x: [1, .NaN]\n"), ".NaN is not a finite number"),
}
FILE_MESSAGES = {
    "fifo": "FIFO",
    "directory": "directory",
    "over 8 MiB": "limit",
    "not UTF-8": "byte offset 8",
}


def _one_line(code: int, err: list[str], path: Path, expect: str) -> None:
    assert code != 0, err
    assert len(err) == 1, err
    assert str(path) in err[0] and expect in err[0], err


@pytest.mark.parametrize("case", FILE_CASES)
@pytest.mark.parametrize("fmt", [*YAML_FORMATS, *OTHER_FORMATS])
def test_not_a_readable_file(
    fmt: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "input"
    FILE_CASES[case](path)
    code, err = _run({**YAML_FORMATS, **OTHER_FORMATS}[fmt], path, tmp_path, capsys)
    _one_line(
        code,
        err,
        path,
        FILE_MESSAGES[case]
        if "--sim-script" not in YAML_FORMATS.get(fmt, []) or case == "not UTF-8"
        else "",
    )


def test_device_file_is_refused_without_reading_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt, argv in {**YAML_FORMATS, **OTHER_FORMATS}.items():
        code, err = _run(argv, Path("/dev/zero"), tmp_path, capsys)
        assert code != 0 and len(err) == 1 and "/dev/zero" in err[0], (fmt, err)


@pytest.mark.parametrize("case", YAML_CASES)
@pytest.mark.parametrize("fmt", YAML_FORMATS)
def test_hostile_yaml(
    fmt: str, case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "input.yaml"
    make, expect = YAML_CASES[case]
    make(path)
    before = path.read_bytes()
    code, err = _run(YAML_FORMATS[fmt], path, tmp_path, capsys)
    _one_line(code, err, path, expect)
    assert "line" in err[0]
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("text", "expect"),
    [
        ('{"format": "microrack-bench/1", "format": 2}', "duplicate key 'format'"),
        ('{"a": NaN}', "NaN is not a finite number"),
        ("[" * 20000, "nested deeper than"),
        ('{"a": ', "not valid JSON: line 1"),
    ],
)
def test_hostile_bench_json(
    text: str, expect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "a.json"
    path.write_text(text)
    code, err = _run(OTHER_FORMATS["bench result"], path, tmp_path, capsys)
    _one_line(code, err, path, expect)


def test_fancontrol_setting_given_twice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "fancontrol"
    path.write_text("INTERVAL=10\nDEVNAME=hwmon0=pwmfan\nINTERVAL=5\n")
    code, err = _run(OTHER_FORMATS["fancontrol"], path, tmp_path, capsys)
    _one_line(code, err, path, "INTERVAL: given twice (line 1 and line 3)")


@pytest.mark.parametrize(
    ("edit", "expect"),
    [
        (("size_gb: 16", "size_gb: true"), "expected a number, not true/false"),
        (("ram_gb: 1\n", "ram_gb: .inf\n"), ".inf is not a finite number"),
    ],
)
def test_spec_validate_rejects_non_numbers(
    edit: tuple[str, str], expect: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(CLUSTER.read_text().replace(*edit))
    code = main(["spec", "validate", str(path)])
    out = capsys.readouterr()
    assert code == 1 and expect in out.err + out.out


def test_many_junk_keys_are_rejected_before_validation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cluster.yaml"
    path.write_text(CLUSTER.read_text() + "".join(f"k{i}: {i}\n" for i in range(200_000)))
    code, err = _run(YAML_FORMATS["cluster.yaml"], path, tmp_path, capsys)
    _one_line(code, err, path, "more than 100000 values")


# -- no silent overwrite ---------------------------------------------------------------


def _fancontrol(tmp_path: Path) -> Path:
    p = tmp_path / "fancontrol"
    p.write_text(
        "INTERVAL=10\nDEVPATH=hwmon1=devices/platform/pwm-fan\nDEVNAME=hwmon1=pwmfan "
        "hwmon0=cpu_thermal\nFCTEMPS=hwmon1/pwm1=hwmon0/temp1_input\n"
        "FCFANS=hwmon1/pwm1=hwmon1/fan1_input\nMINTEMP=hwmon1/pwm1=40\n"
        "MAXTEMP=hwmon1/pwm1=70\nMINSTART=hwmon1/pwm1=150\nMINSTOP=hwmon1/pwm1=100\n"
    )
    return p


def test_output_onto_its_own_input_is_refused_even_with_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _fancontrol(tmp_path)
    before = src.read_bytes()
    for extra in ([], ["--force"]):
        code = main(["fan", "--import-fancontrol", str(src), "--output", str(src), *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and "also an input" in err[0], err
        assert src.read_bytes() == before


def test_import_fancontrol_output_needs_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src, out = _fancontrol(tmp_path), tmp_path / "fan.yaml"
    out.write_text("# my own fan.yaml\n")
    code = main(["fan", "--import-fancontrol", str(src), "--output", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "--output" in err[0] and "--force" in err[0]
    assert out.read_text() == "# my own fan.yaml\n"
    assert main(["fan", "--import-fancontrol", str(src), "--output", str(out), "--force"]) == 0
    assert "sensors:" in out.read_text()


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["plan", str(REQUIREMENTS), "--emit-spec", "OUT"], "--emit-spec"),
        (["plan", str(REQUIREMENTS), "--html", "OUT"], "--html"),
        (["sim", str(CLUSTER), "--scenario", str(SCENARIO), "--report", "OUT"], "--report"),
        (["spec", "schema", "--out", "OUT"], "--out"),
        (["bench", "cpu", "--json", "OUT", "--no-progress"], "--json"),
        (["bench", "cpu", "--report", "OUT", "--no-progress"], "--report"),
        (
            ["fan", "--config", str(EX / "fan-pi5-pwm.yaml"), "--simulate", "pi5", "--plot", "OUT"],
            "--plot",
        ),
    ],
)
def test_existing_output_is_not_replaced_without_force(
    argv: list[str], flag: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "mine.txt"
    out.write_text("hand-written, keep me\n")
    code = main([str(out) if a == "OUT" else a for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and flag in err[0] and "--force" in err[0], err
    assert out.read_text() == "hand-written, keep me\n"


def test_emit_spec_onto_the_requirements_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    req = tmp_path / "req.yaml"
    shutil.copy(REQUIREMENTS, req)
    before = req.read_bytes()
    code = main(["plan", str(req), "--emit-spec", str(req), "--force"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "also an input" in err[0]
    assert req.read_bytes() == before

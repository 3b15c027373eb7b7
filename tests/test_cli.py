import platform
import subprocess

from microrack import __version__
from microrack.cli import COMMANDS, main
from support import microrack_cmd


def test_version_prints_package_version(capsys):
    try:
        main(["--version"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out.strip()
    where = f"({platform.machine()}, Python {platform.python_version()})"
    assert out == f"microrack {__version__} {where}"


def test_help_lists_every_command():
    out = subprocess.run(microrack_cmd("--help"), capture_output=True, text=True, check=True).stdout
    for name in COMMANDS:
        assert name in out


def test_unknown_command_is_one_line_and_exit_2():
    proc = subprocess.run(microrack_cmd("frobnicate"), capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "frobnicate" in proc.stderr

"""The shared argparse converters of ``microrack.cli._args``."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from microrack.cli import _args


def _bad(convert, text: str, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(argparse.ArgumentTypeError, match=message):
        convert(text)


def test_directory_and_files(tmp_path: Path) -> None:
    f = tmp_path / "f.yaml"
    f.write_text("a: 1\n")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert _args.directory(str(tmp_path)) == str(tmp_path)
    _bad(_args.directory, str(f), "not a directory")
    assert _args.input_file(str(f)) == str(f)
    _bad(_args.input_file, str(fifo), "not a regular file")
    _bad(_args.input_file, str(tmp_path), "not a regular file")
    _bad(_args.input_file, str(tmp_path / "nope"), "No such file")
    assert _args.output_file(str(tmp_path / "new.html")) == str(tmp_path / "new.html")
    _bad(_args.output_file, str(tmp_path), "is a directory")
    _bad(_args.output_file, str(tmp_path / "no" / "x.html"), "no such directory")
    _bad(_args.output_file, "", "empty path")


def test_numbers_and_addresses() -> None:
    assert _args.positive_float("2.5") == 2.5
    for text in ("0", "-1", "nan", "inf", "x"):
        _bad(_args.positive_float, text, "not a positive number")
    assert _args.positive_int("3") == 3
    _bad(_args.positive_int, "1.5", "not a positive whole number")
    assert _args.port("9101") == 9101
    _bad(_args.port, "65536", "not a port")
    assert _args.multicast_group("239.255.77.77") == "239.255.77.77"
    _bad(_args.multicast_group, "198.18.0.1", "not a multicast group")
    _bad(_args.multicast_group, "nope", "not an IPv4 address")


def test_board_id_resolves_aliases_and_names_unknown_boards() -> None:
    assert _args.board_id("pi5") == "rpi-5"  # an alias gives the catalog id
    _bad(_args.board_id, "no-such-board", "no-such-board")

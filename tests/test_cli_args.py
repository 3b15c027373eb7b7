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


def test_host_port_and_urls_and_networks() -> None:
    listen = _args.host_port()
    assert listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert listen(":8080") == ("127.0.0.1", 8080)
    assert listen("[::1]:9101") == ("::1", 9101)
    _bad(listen, "localhost", "not HOST:PORT")
    _bad(listen, "h:http", "is not a number")
    _bad(listen, "h:0", "out of range")
    _bad(listen, "h:65536", "out of range")
    assert _args.host_port(9101)("node1") == ("node1", 9101)
    assert _args.http_url("https://vm:8428/api/v1/write") == "https://vm:8428/api/v1/write"
    _bad(_args.http_url, "victoria:8428", "not an http")
    _bad(_args.http_url, "ftp://x/hook", "not an http")
    _bad(_args.http_url, "http://am:99999", "port is not a number")
    _bad(_args.http_url, "http:///path", "not an http")
    assert str(_args.network("10.0.0.7/24")) == "10.0.0.0/24"
    assert str(_args.network("fd00::/64")) == "fd00::/64"
    _bad(_args.network, "10.0.0.0/33", "not a network")
    assert _args.ipv4_address("0.0.0.0") == "0.0.0.0"
    _bad(_args.ipv4_address, "eth0", "not an IPv4 address")


def test_sizes_durations_and_ranges() -> None:
    size = _args.byte_size(1024, 2**31, "from 1KiB to 2GiB")
    assert size("8MiB") == 8 * 2**20
    assert size("512k") == 512_000
    assert size("2048") == 2048
    _bad(size, "lots", "not a size")
    _bad(size, "10B", "from 1KiB to 2GiB")
    _bad(size, "3GiB", "from 1KiB to 2GiB")
    assert _args.duration()("90s") == 90
    assert _args.duration()("7d") == 7 * 86400
    _bad(_args.duration(), "forever", "not a duration")
    _bad(_args.duration(), "0s", "must be positive")
    _bad(_args.duration(minimum=1), "100ms", "shorter than 1s")
    assert _args.whole_number(1, 100_000)("256") == 256
    _bad(_args.whole_number(1, 100_000), "0", "from 1 to 100000")
    _bad(_args.whole_number(1, 100_000), "2.5", "from 1 to 100000")
    assert _args.non_negative_float("0") == 0
    for text in ("-1", "nan", "inf", "x"):
        _bad(_args.non_negative_float, text, "0 or more")

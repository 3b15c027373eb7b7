"""HTTP hygiene of a running hub: Host allow-list, size limits, 400 (never 500) for bad
parameters; the store lock on the resolved file; exit codes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from hub_helpers import hub

from support import free_port, http_get, microrack_cmd

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("hygiene")
    with hub(tmp / "hub.log", tmp / "hub.db", "--allow-host", "hub.example") as (_, url):
        yield url


def _raw(base: str, request: bytes) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(request)
        data = b""
        while True:
            piece = s.recv(65536)
            if not piece:
                break
            data += piece
            if b"\r\n\r\n" in data:
                head, _, body = data.partition(b"\r\n\r\n")
                length = [
                    int(x.split(b":")[1])
                    for x in head.split(b"\r\n")
                    if x.lower().startswith(b"content-length")
                ]
                if length and len(body) >= length[0]:
                    break
    status = int(data.split(None, 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1", 200),
        ("localhost:8080", 200),
        ("[::1]:8080", 200),
        ("hub.example", 200),
        ("HUB.EXAMPLE:80", 200),
        ("evil.example", 421),
        ("127.0.0.1.evil.example", 421),
        ("", 421),
    ],
)
def test_host_header_allow_list(base: str, host: str, status: int) -> None:
    got, body = _raw(
        base, f"GET /api/v1/nodes HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
    )
    assert got == status, body[:200]
    if status == 421:
        assert json.loads(body)["parameter"] == "Host"


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("metric=m&from=now-" + "9" * 400 + "h", "from"),
        ("metric=m&from=1e400", "from"),
        ("metric=m&to=1e12", "to"),
        ("metric=m&to=nan", "to"),
        ("metric=m&step=" + "9" * 400 + "d", "step"),
        ("metric=m&points=" + "9" * 1000, "points"),
        ("metric=" + "a" * 3000, "metric"),
        ("metric=m&labels=" + "k=v," * 1000, "labels"),
    ],
)
def test_out_of_range_parameters_are_400(base: str, query: str, parameter: str) -> None:
    status, body = http_get(f"{base}/api/v1/query?{query}")
    assert status == 400, body[:300]
    assert json.loads(body)["parameter"] == parameter


def test_over_long_request_target_is_414_and_huge_line_is_refused(base: str) -> None:
    status, _ = http_get(
        f"{base}/api/v1/query?metric=m&" + "&".join(f"x{i}=1" for i in range(1500))
    )
    assert status in (400, 414)
    status, _ = _raw(
        base, b"GET /api/v1/query?metric=" + b"a" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    )
    assert status == 414
    # a 1 MB request line is refused by the HTTP parser, and the hub goes on answering
    with socket.create_connection(tuple(base.removeprefix("http://").split(":")), timeout=30) as s:  # type: ignore[arg-type]
        try:
            s.sendall(b"GET /api/v1/query?metric=" + b"a" * 2**20 + b" HTTP/1.1\r\n\r\n")
            reply = s.recv(100)
        except ConnectionError:
            reply = b""
    assert reply == b"" or reply.startswith(b"HTTP/1.1 4")
    assert http_get(f"{base}/healthz")[0] == 200


def test_store_lock_holds_through_a_symlink(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    link = tmp_path / "other-name.db"
    link.symlink_to(db)
    with hub(tmp_path / "hub.log", db):
        argv = microrack_cmd("hub", "--listen", f"127.0.0.1:{free_port()}", "--db", str(link))
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, out.stderr
        assert "in use by another running hub" in out.stderr


def test_port_in_use_is_exit_1_naming_listen(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        argv = microrack_cmd("hub", "--listen", f"127.0.0.1:{port}", "--db", str(tmp_path / "h.db"))
        out = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "--listen" in out.stderr, out.stderr


def test_sigterm_and_sigint_exit_codes(tmp_path: Path) -> None:
    """After a clean shutdown: SIGTERM leaves the hub as killed by SIGTERM (143 in a shell,
    which systemd counts as a clean stop); SIGINT (Ctrl-C) exits 0."""
    for sig, codes in ((signal.SIGTERM, (143, -signal.SIGTERM)), (signal.SIGINT, (0,))):
        with hub(tmp_path / f"hub{sig}.log", tmp_path / "hub.db") as (proc, _):
            got = proc.stop(sig, timeout=20)
        assert got in codes, (sig, got, proc.output()[-500:])


def test_a_hub_started_from_python_takes_the_store_lock_too(tmp_path: Path) -> None:
    from microrack.errors import ResourceError
    from microrack.hub import Hub, HubConfig

    first = Hub(HubConfig(db=tmp_path / "py.db"))
    try:
        with pytest.raises(ResourceError, match="in use by another running hub"):
            Hub(HubConfig(db=tmp_path / "py.db"))
    finally:
        first.store.close()
        first.release()
    Hub(HubConfig(db=tmp_path / "py.db")).release()  # free again once released

"""The rights a chaos unit renders are enough, and needed: the agent run as an unprivileged
user holding only the capabilities ``spec render`` gives its kinds (setpriv stands in for
systemd's DynamicUser and AmbientCapabilities)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from faults.chaos_support import call, copy_tree, poll, write_token
from microrack.spec import load_spec
from microrack.spec.render._systemd import chaos_rights
from spec.spec_cases import base, write
from support import NetNS, microrack_cmd, require_binary, require_root, started

pytestmark = pytest.mark.integration

NOBODY = 65534
CPU1 = "sys/devices/system/cpu/cpu1/cpufreq/scaling_max_freq"


def _caps(tmp: Path, kind: str) -> list[str]:
    """The ambient capabilities the rendered unit of a node allowing ``kind`` carries."""
    data = base()
    data["nodes"][0]["chaos"] = {"allow": [kind]}
    node = load_spec(write(tmp, data)).nodes[0]
    lines = [x for x in chaos_rights(node).service if x.startswith("AmbientCapabilities=")]
    return [c.lower().removeprefix("cap_") for x in lines for c in x.split("=", 1)[1].split()]


def _setpriv(caps: Sequence[str]) -> list[str]:
    setpriv = require_binary("setpriv")
    keep = "-all" + "".join(f",+{c}" for c in caps)
    return [
        setpriv,
        f"--reuid={NOBODY}",
        f"--regid={NOBODY}",
        "--clear-groups",
        f"--inh-caps={keep}",
        f"--ambient-caps={keep}",
        f"--bounding-set={keep}",
        "--no-new-privs",
    ]


def _own(tmp: Path) -> tuple[Path, bytes]:
    """A token and a state directory the unprivileged agent can use (credential, StateDirectory)."""
    state = tmp / "state"
    state.mkdir()
    os.chown(state, NOBODY, NOBODY)
    tok = tmp / "token"
    secret = write_token(tok)
    os.chown(tok, NOBODY, NOBODY)
    return state, secret


@contextmanager
def _agent(
    tmp: Path,
    caps: Sequence[str],
    kind: str,
    name: str,
    *,
    ns: list[str] | None = None,
    listen: str = "127.0.0.1",
    port: int = 9103,
    root: Path | None = None,
) -> Iterator[None]:
    argv = microrack_cmd(
        "agent", "--listen", f"{listen}:{port}", "--root", str(root or tmp / "root"),
        "--node", "n0", "--chaos-token", str(tmp / "token"), "--chaos-allow", kind,
        "--chaos-state", str(tmp / "state" / f"{name}.json"),
    )  # fmt: skip
    with started([*(ns or []), *_setpriv(caps), *argv], tmp / f"{name}.log", wait=(listen, port)):
        yield


def _post(listen: str, port: int, secret: bytes, body: dict[str, Any]) -> tuple[int, Any]:
    return call(listen, port, secret, "POST", "/api/v1/faults", body)


@pytest.fixture
def tmp_path() -> Iterator[Path]:
    """A directory the unprivileged agent can reach (pytest's own is root's, mode 700)."""
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="microrack-rights-"))
    d.chmod(0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_throttle_needs_and_has_cap_dac_override(tmp_path: Path) -> None:
    require_root()
    caps = _caps(tmp_path, "throttle")
    assert caps == ["dac_override"]
    root = copy_tree("rpi4b", tmp_path / "root")  # root's files, as cpufreq's are
    f = root / CPU1
    assert f.stat().st_uid == 0 and not f.stat().st_mode & 0o022
    _, secret = _own(tmp_path)
    body = {"id": "t", "kind": "throttle", "duration_s": 60, "params": {"max_khz": 700000}}
    port = 9103 + os.getpid() % 500
    with _agent(tmp_path, [], "throttle", "bare", port=port):
        status, obj = _post("127.0.0.1", port, secret, body)
        assert status == 422 and "Permission denied" in obj["error"], obj
    with _agent(tmp_path, caps, "throttle", "capable", port=port):
        status, obj = _post("127.0.0.1", port, secret, body)
        assert status == 201, obj
        assert f.read_text() == "700000\n"
    assert f.read_text() != "700000\n"  # reverted on SIGTERM, with the same rights


PROBE = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1).close()
    print("open")
except OSError:
    print("cut")
"""


def test_partition_needs_and_has_cap_net_admin(tmp_path: Path) -> None:
    require_root()
    require_binary("nft")
    caps = _caps(tmp_path, "partition")
    assert caps == ["net_admin"]
    copy_tree("rpi4b", tmp_path / "root")
    _, secret = _own(tmp_path)
    with NetNS(2, subnet=94, prefix="mrcap") as net:
        a = net.addresses
        subprocess.run(
            ["ip", "addr", "add", "198.18.94.254/24", "dev", net.bridge],
            check=True,
            capture_output=True,
        )
        listener = net.exec_argv(1, [sys.executable, "-m", "http.server", "-b", a[1], "8000"])

        def reach() -> str:
            argv = net.exec_argv(0, [sys.executable, "-c", PROBE, a[1], "8000"])
            return subprocess.run(argv, capture_output=True, text=True, check=True).stdout.strip()

        body = {"id": "p", "kind": "partition", "duration_s": 3, "params": {"peers": [a[1]]}}
        ns = net.exec_argv(0, [])
        with started(listener, tmp_path / "http.log", cwd=tmp_path, wait=(a[1], 8000)):
            assert reach() == "open"
            with _agent(tmp_path, [], "partition", "bare", ns=ns, listen=a[0]):
                status, obj = _post(a[0], 9103, secret, body)
                assert status == 422 and "nft" in obj["error"], obj
                assert reach() == "open"
            with _agent(tmp_path, caps, "partition", "capable", ns=ns, listen=a[0]):
                status, obj = _post(a[0], 9103, secret, body)
                assert status == 201, obj
                assert reach() == "cut"
                poll(lambda: reach() == "open", what="healed at the deadline")


def test_the_other_kinds_need_no_capability(tmp_path: Path) -> None:
    for kind in ("pressure", "crash", "fan_stall", "disk_fill"):
        assert _caps(tmp_path, kind) == [], kind

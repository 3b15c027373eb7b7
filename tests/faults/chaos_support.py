"""Signed calls to an agent's fault endpoints, for the chaos tests."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from microrack.faults import new_secret, sign_headers

TREES = Path(__file__).resolve().parent.parent / "fixtures" / "trees"


def write_token(path: Path) -> bytes:
    path.write_text(new_secret() + "\n")
    os.chmod(path, 0o600)
    return path.read_bytes().strip()


def call(
    host: str,
    port: int,
    secret: bytes | None,
    method: str,
    path: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    now: float | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, Any]:
    """One request; signed with ``secret`` unless it is None. (status, parsed JSON body)."""
    data = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    hdrs = {"Content-Type": "application/json"}
    if secret is not None:
        hdrs.update(sign_headers(secret, method, path, data, now=now))
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        text = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(text) if text else None
    except ValueError:
        return resp.status, text.decode(errors="replace")


def copy_tree(board: str, dest: Path) -> Path:
    shutil.copytree(TREES / board, dest, symlinks=True)
    return dest


def poll(check: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
    """Wait until ``check()`` holds (never asserts on how long it took)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what} did not happen within {timeout:g} s")


def agent_argv(
    listen: str,
    root: Path | None,
    node: str,
    state: Path,
    *,
    token: Path | None = None,
    allow: Sequence[str] = (),
    simulate: str | None = None,
    interval: float = 1,
    extra: Sequence[str] = (),
) -> list[str]:
    """``microrack agent`` with the chaos flags the tests use (one place for every test).

    ``root``: a captured tree (``--root``); ``simulate``: a twin-backed board
    instead.  ``token``/``allow`` give ``--chaos-token``/``--chaos-allow``.
    """
    from support import microrack_cmd

    argv = microrack_cmd("agent", "--listen", listen, "--interval", f"{interval:g}", "--node", node)
    if root is not None:
        argv += ["--root", str(root)]
    if simulate is not None:
        argv += ["--simulate", simulate]
    argv += ["--chaos-state", str(state)]
    if token is not None:
        argv += ["--chaos-token", str(token)]
    if allow:
        argv += ["--chaos-allow", ",".join(allow)]
    return [*argv, *extra]


def finish_json(proc: subprocess.Popen[str], timeout: float = 120) -> dict[str, Any]:
    """The JSON report of a ``microrack ... --json`` run once it exits 0 (killed if it hangs)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    return dict(json.loads(out))

"""The hub's annotations: signed writes only with --chaos-token, checked, kept, listed."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from faults.chaos_support import call, write_token
from hub.hub_helpers import hub
from support import free_port

pytestmark = pytest.mark.integration


def test_annotations_are_signed_checked_stored_and_listed(tmp_path: Path) -> None:
    tok = tmp_path / "token"
    secret = write_token(tok)
    port = free_port()
    db = tmp_path / "h.db"
    now = time.time()
    good = {
        "start": now - 60,
        "end": now - 30,
        "text": "throttle on n1",
        "kind": "throttle",
        "nodes": ["n1"],
        "run": "abc123",
        "fault": 0,
    }
    with hub(tmp_path / "hub.log", db, "--chaos-token", str(tok), port=port):
        assert call("127.0.0.1", port, None, "POST", "/api/v1/annotations", good)[0] == 401
        assert call("127.0.0.1", port, b"x" * 32, "POST", "/api/v1/annotations", good)[0] == 401
        for bad, field in [
            ({**good, "end": now - 90}, "end"),
            ({**good, "colour": 1}, "colour"),
            ({**good, "nodes": ["a b"]}, "nodes[0]"),
            ({"text": "x"}, "start"),
            ([1, 2], "body"),
        ]:
            status, obj = call("127.0.0.1", port, secret, "POST", "/api/v1/annotations", bad)
            assert status == 400 and obj["parameter"] == field, (bad, obj)
        status, _ = call(
            "127.0.0.1",
            port,
            secret,
            "POST",
            "/api/v1/annotations",
            raw=json.dumps({**good, "text": "x" * 20000}).encode(),
        )
        assert status == 413
        status, obj = call("127.0.0.1", port, secret, "POST", "/api/v1/annotations", good)
        assert status == 201 and obj["kind"] == "throttle"
        status, obj = call("127.0.0.1", port, None, "GET", "/api/v1/annotations")
        assert status == 200 and [a["text"] for a in obj["annotations"]] == ["throttle on n1"]
        q = f"/api/v1/annotations?start={now - 20:.0f}&end={now:.0f}"
        assert call("127.0.0.1", port, None, "GET", q)[1]["annotations"] == []
        assert call("127.0.0.1", port, None, "GET", "/api/v1/annotations?start=x")[0] == 400
    # kept in the store: a restarted hub without the token still lists it, but takes no writes
    with hub(tmp_path / "hub2.log", db, port=port):
        status, obj = call("127.0.0.1", port, None, "GET", "/api/v1/annotations")
        assert [a["run"] for a in obj["annotations"]] == ["abc123"]
        assert call("127.0.0.1", port, secret, "POST", "/api/v1/annotations", good)[0] == 405


def test_the_dashboard_shades_an_annotated_window_on_its_charts(tmp_path: Path) -> None:
    from hub.hub_helpers import standin
    from support import browser

    tok = tmp_path / "token"
    secret = write_token(tok)
    agent_port, port = free_port(), free_port()
    with (
        standin(tmp_path / "standin.log", agent_port, name="n1"),
        hub(
            tmp_path / "hub.log",
            tmp_path / "h.db",
            "--chaos-token",
            str(tok),
            "--agent",
            f"127.0.0.1:{agent_port}",
            port=port,
        ) as (_p, base),
        browser() as b,
    ):
        now = time.time()
        ann = {"start": now - 120, "end": now - 60, "kind": "partition", "text": "split"}
        assert call("127.0.0.1", port, secret, "POST", "/api/v1/annotations", ann)[0] == 201
        page = b.new_page(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
        page.goto(base + "/")
        page.wait_for_function(
            "() => { const l = (document.getElementById('cl-temp') || {}).layout;"
            " return l && (l.shapes || []).some(s => s.type === 'rect'); }",
            timeout=60000,
        )
        x0 = page.evaluate(
            "document.getElementById('cl-temp').layout.shapes.find(s => s.type === 'rect').x0"
        )
        assert str(x0)[:4] == time.strftime("%Y", time.localtime(now))

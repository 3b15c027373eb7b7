"""The web dashboard in headless Chromium (Debian), driven by Playwright, over real agents."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from hub_helpers import free_block, hub, standin
from playwright.sync_api import expect

from support import browser, free_port, microrack_cmd, started

pytestmark = pytest.mark.integration


def test_dashboard_live_cards_charts_and_down_alert(tmp_path: Path, artifacts_dir: Path) -> None:
    boards = {"pi-a": "pi5", "rk-b": "rk1", "pi-c": "pi4"}
    ports = {name: free_port() for name in boards}
    agents = {}
    try:
        for name, board in boards.items():
            argv = microrack_cmd(
                "agent",
                "--listen",
                f"127.0.0.1:{ports[name]}",
                "--interval",
                "0.5",
                "--simulate",
                board,
                "--node",
                name,
                "--fan",
                "auto",
            )
            cm = started(
                argv, tmp_path / f"{name}.log", wait=("127.0.0.1", ports[name]), timeout=60
            )
            agents[name] = (cm, cm.__enter__())
        targets = [a for name in boards for a in ("--agent", f"127.0.0.1:{ports[name]}")]
        with (
            hub(
                tmp_path / "hub.log",
                tmp_path / "hub.db",
                *targets,
                "--price-kwh",
                "0.30",
                "--currency",
                "EUR",
            ) as (_, base),
            browser() as b,
        ):
            page = b.new_page(viewport={"width": 1400, "height": 900})
            page.goto(base + "/")
            for name in boards:
                expect(page.locator(f'.card[data-node="{name}"]')).to_have_class(
                    "card up", timeout=30000
                )
            expect(page.locator("#live")).to_have_class("live on")
            # a value changes on screen without a reload
            card = page.locator('.card[data-node="pi-a"]')
            before = card.inner_text()
            page.wait_for_function(
                "(t) => document.querySelector('.card[data-node=\"pi-a\"]').innerText !== t",
                arg=before,
                timeout=30000,
            )
            assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
            assert page.locator("#t-cost").inner_text().endswith("EUR")
            # the cluster view: one trace per node for power and for the hottest SoC sensor
            for chart in ("cl-power", "cl-temp"):
                page.wait_for_function(
                    f"() => (document.getElementById('{chart}').data || []).length === 3"
                    f" && document.getElementById('{chart}').data.every(t => t.y.length > 0)",
                    timeout=60000,
                )
            traces = page.evaluate(
                "(ids) => Object.fromEntries(ids.map(id => [id, document.getElementById(id)"
                ".data.map(t => [t.name, Math.min(...t.y), Math.max(...t.y)])]))",
                ["cl-power", "cl-temp"],
            )
            assert sorted(name for name, _, _ in traces["cl-power"]) == sorted(boards)
            assert sorted(name for name, _, _ in traces["cl-temp"]) == sorted(boards)
            assert all(0 < lo <= hi < 40 for _, lo, hi in traces["cl-power"]), traces
            assert all(15 < lo <= hi < 110 for _, lo, hi in traces["cl-temp"]), traces
            page.screenshot(path=str(artifacts_dir / "hub-dashboard.png"), full_page=True)
            # killing an agent turns its card down and raises an alert
            cm, proc = agents.pop("rk-b")
            os.kill(proc.pid, signal.SIGKILL)
            cm.__exit__(None, None, None)
            expect(page.locator('.card[data-node="rk-b"]')).to_have_class(
                "card down", timeout=30000
            )
            alert = page.locator('.alert[data-alert="NodeDown"][data-node="rk-b"]')
            expect(alert).to_be_visible(timeout=30000)
            page.screenshot(path=str(artifacts_dir / "hub-dashboard-down.png"), full_page=True)
            # a node's page draws its charts with plotly
            card.click()
            expect(page.locator("#nodeview")).to_be_visible()
            expect(page.locator("#ch-cpu .main-svg").first).to_be_attached(timeout=30000)
            page.wait_for_function(
                "() => document.querySelectorAll('#ch-temp .scatterlayer .trace').length > 0",
                timeout=30000,
            )
            page.locator('#ranges button[data-range="900"]').click()
            page.screenshot(path=str(artifacts_dir / "hub-node.png"), full_page=True)
    finally:
        for cm, _ in agents.values():
            cm.__exit__(None, None, None)


def test_dashboard_stays_readable_with_100_nodes(tmp_path: Path, artifacts_dir: Path) -> None:
    port = free_block(100)
    targets = [a for i in range(100) for a in ("--agent", f"127.0.0.1:{port + i}")]
    with (
        standin(
            tmp_path / "agents.log",
            port,
            name="rack",
            count=100,
            interval=1.0,
            series=20,
            wait_port=port + 99,
        ),
        hub(tmp_path / "hub.log", tmp_path / "hub.db", *targets) as (_, base),
        browser() as b,
    ):
        page = b.new_page(viewport={"width": 1600, "height": 1000})
        page.goto(base + "/")
        expect(page.locator(".card.up")).to_have_count(100, timeout=60000)
        assert page.locator("#t-nodes").inner_text() == "100/100"
        # cards keep a readable size: several per row, none squeezed below its minimum width
        boxes = [page.locator(".card").nth(i).bounding_box() for i in (0, 1, 99)]
        assert all(b is not None and b["width"] >= 200 for b in boxes)
        # the cluster charts hold every node, without a legend that would bury them
        page.wait_for_function(
            "() => (document.getElementById('cl-power').data || []).length === 100", timeout=60000
        )
        assert page.evaluate("document.getElementById('cl-power').layout.showlegend") is False
        page.fill("#filter", "rack-042")
        expect(page.locator(".card:visible")).to_have_count(1)
        page.fill("#filter", "")
        page.screenshot(path=str(artifacts_dir / "hub-dashboard-100.png"), full_page=False)

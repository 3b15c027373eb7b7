"""The web dashboard in headless Chromium (Debian), driven by Playwright, over a real hub
started with a cluster.yaml and real simulated agents (the hardware twin)."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hub_helpers import free_block, hub, standin, twin_agent_cmd
from playwright.sync_api import Page, expect

from microrack.hub._standin import NODE_PAGE_CHARTS
from support import browser, free_port, started

pytestmark = pytest.mark.integration

# name, board, loopback address, rack, shelf, switch port, PoE
NODES = [
    ("pi-a", "pi5", "127.0.0.1", "r1", "top", 3, True),
    ("rk-b", "rk1", "127.0.0.2", "r1", "bottom", 5, False),
    ("pi-c", "pi4", "127.0.0.3", "r2", "tray-1", 7, True),
]
# pi-a: full load with an under-voltage episode that ends (twin time runs 20x faster)
HOT_SCRIPT = (
    "speed: 20\nload:\n  - {at: 0, util: 1.0}\n"
    "faults:\n  - {at: 0, kind: under_voltage, duration: 1200}\n"
)


def _spec(path: Path, ports: dict[str, int]) -> Path:
    lines = [
        "cluster: {name: lab, domain: lab.internal}",
        "networks:",
        "- {name: lan, kind: infrastructure, cidr: 127.0.0.0/24}",
        "switches:",
        "- {name: poe-8, ports: 8, poe_budget_w: 60, poe_class: 4}",
        "nodes:",
    ]
    for i, (name, board, addr, rack, shelf, port, poe) in enumerate(NODES):
        lines += [
            f"- name: {name}",
            f"  board: {board}",
            "  ram_gb: 8",
            f"  agent_port: {ports[name]}",
            f"  labels: {{rack: {rack}, shelf: {shelf}}}",
            f'  nics: [{{name: eth0, mac: "02:00:00:00:00:0{i + 1}", network: lan,'
            f" address: {addr}, switch: poe-8, port: {port}, poe: {str(poe).lower()}}}]",
        ]
    path.write_text("\n".join(lines) + "\n")
    return path


class Watch:
    """Console errors, page errors and 4xx/5xx responses of a page."""

    def __init__(self, page: Page) -> None:
        self.problems: list[str] = []
        page.on(
            "console",
            lambda m: (
                self.problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None
            ),
        )
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on(
            "response",
            lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
        )


@contextlib.contextmanager
def _cluster(tmp_path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    ports = {name: free_port() for name, *_ in NODES}
    (tmp_path / "hot.yaml").write_text(HOT_SCRIPT)
    agents: dict[str, Any] = {}
    with contextlib.ExitStack() as stack:
        for name, board, addr, *_ in NODES:
            argv = twin_agent_cmd(
                f"{addr}:{ports[name]}",
                board,
                name,
                "--fan",
                "auto",
                *(["--sim-script", str(tmp_path / "hot.yaml")] if name == "pi-a" else []),
            )
            cm = started(argv, tmp_path / f"{name}.log", wait=(addr, ports[name]), timeout=60)
            agents[name] = (cm, cm.__enter__())
            stack.callback(lambda cm=cm: cm.__exit__(None, None, None))
        spec = _spec(tmp_path / "cluster.yaml", ports)
        _, base = stack.enter_context(
            hub(
                tmp_path / "hub.log",
                tmp_path / "hub.db",
                "--spec",
                str(spec),
                "--price-kwh",
                "0.30",
                "--currency",
                "EUR",
            )
        )
        yield base, agents


def _chart_data(page: Page, chart: str) -> list[list[Any]]:
    """[name, number of points, y axis] of each trace of a plotly chart."""
    result: list[list[Any]] = page.evaluate(
        "(id) => (document.getElementById(id).data || []).map("
        "t => [t.name, (t.y || []).filter(v => v !== null).length, t.yaxis || 'y'])",
        chart,
    )
    return result


def _wait_drawn(page: Page, chart: str, timeout: float = 60000) -> None:
    page.wait_for_function(
        "(id) => { const d = document.getElementById(id).data;"
        " return d && d.some(t => (t.y || []).filter(v => v !== null).length > 0); }",
        arg=chart,
        timeout=timeout,
    )


def test_dashboard_every_panel_alerts_rack_and_phone(tmp_path: Path, artifacts_dir: Path) -> None:
    with _cluster(tmp_path) as (base, agents), browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 900}, color_scheme="dark")
        watch = Watch(page)
        page.goto(base + "/")
        for name, *_ in NODES:
            expect(page.locator(f'.card[data-node="{name}"]')).to_have_class(
                "card up", timeout=30000
            )
        expect(page.locator("#live")).to_have_class("live on")
        # a value changes on screen without a reload
        card = page.locator('.card[data-node="rk-b"]')
        before = card.inner_text()
        page.wait_for_function(
            "(t) => document.querySelector('.card[data-node=\"rk-b\"]').innerText !== t",
            arg=before,
            timeout=30000,
        )
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

        # the cluster strip: watts, energy and cost since a stated time, in the currency
        expect(page.locator("#t-nodes")).to_have_text("3/3", timeout=30000)
        expect(page.locator("#t-since")).to_contain_text("since", timeout=30000)
        assert "€" in page.locator("#t-cost").inner_text()
        assert "€" in page.locator("#t-month").inner_text()
        assert "/kWh" in page.locator("#t-cost-label").inner_text()
        # PoE budget of the switch: pi-a and pi-c are powered from it
        poe = page.locator('.poe-sw[data-switch="poe-8"]')
        expect(poe).to_contain_text("/ 60 W", timeout=30000)
        used = float(poe.locator("b").inner_text().split("/")[0])
        assert 0 < used < 60

        # cluster charts: one trace per node, and a range that fits the data present
        for chart in ("cl-power", "cl-temp"):
            page.wait_for_function(
                f"() => (document.getElementById('{chart}').data || []).length === 3"
                f" && document.getElementById('{chart}').data.every(t => t.y.length > 0)",
                timeout=60000,
            )
        expect(page.locator('#ranges button[data-range="900"]')).to_have_class("on", timeout=30000)
        x0 = page.evaluate("new Date(document.getElementById('cl-power').layout.xaxis.range[0])")
        first = page.evaluate("state.firstSample * 1000")
        assert abs(page.evaluate(f"new Date('{x0}').getTime()") - first) < 5000
        page.screenshot(path=str(artifacts_dir / "hub-overview.png"), full_page=True)

        # the table: every column, sortable
        page.click("#as-table")
        rows = page.locator("#nodetable tbody tr")
        expect(rows).to_have_count(3)
        headers = page.locator("#nodetable th").all_inner_texts()
        for col in ("node", "board", "status", "CPU", "memory", "hottest", "fan", "power"):
            assert any(col in h for h in headers), headers
        assert any("net rx" in h for h in headers) and any("uptime" in h for h in headers)
        page.click('#nodetable th[data-sort="name"]')  # second click: descending
        assert page.locator("#nodetable tbody tr").first.get_attribute("data-node") == "rk-b"
        page.click('#nodetable th[data-sort="power"]')
        powers = [float(x.split()[0]) for x in rows.locator("td:nth-child(8)").all_inner_texts()]
        assert powers == sorted(powers), powers
        page.screenshot(path=str(artifacts_dir / "hub-table.png"), full_page=True)
        page.click("#as-cards")

        # alerts: under-voltage on pi-a fires once, names the flag, then resolves into history
        page.goto(base + "/#alerts")
        active = page.locator('#alerts-active tr[data-alert="Throttling"][data-node="pi-a"]')
        expect(active).to_have_count(1, timeout=60000)
        expect(active).to_contain_text("under-voltage")
        for tr in page.locator("#alerts-active tbody tr[data-alert]").all():
            key = (tr.get_attribute("data-alert"), tr.get_attribute("data-node"))
            same = f'#alerts-active tr[data-alert="{key[0]}"][data-node="{key[1]}"]'
            assert page.locator(same).count() == 1, key
        page.screenshot(path=str(artifacts_dir / "hub-alerts-firing.png"), full_page=True)
        history = page.locator('#alerts-history tr[data-alert="Throttling"][data-node="pi-a"]')
        expect(history.first).to_be_visible(timeout=60000)
        expect(active).to_have_count(0)
        cells = history.first.locator("td").all_inner_texts()
        assert "under-voltage" in cells[2].split(", ") and cells[4] != "–" and cells[5] != "–", (
            cells
        )
        near = page.locator('#alerts-active tr[data-alert="NearThrottleLimit"][data-node="pi-a"]')
        if near.count():
            assert near.count() == 1 and "SoC" in near.inner_text()
        page.screenshot(path=str(artifacts_dir / "hub-alerts.png"), full_page=True)
        # the history links to the node's page at the moment it fired
        history.first.locator("a").click()
        expect(page.locator("#nodeview")).to_be_visible()
        assert "&at=" in page.evaluate("location.hash")
        expect(page.locator("#range-label")).to_contain_text("around")
        _wait_drawn(page, "ch-throttle")
        marks = page.evaluate("document.getElementById('ch-power').layout.shapes.length")
        assert marks >= 1

        # the rack view places each node where cluster.yaml says
        page.goto(base + "/#rack")
        for name, _, _, rack, shelf, port, _ in NODES:
            slot = page.locator(f'#rack .slot[data-node="{name}"]')
            expect(slot).to_have_count(1)
            assert slot.get_attribute("data-rack") == rack
            assert slot.get_attribute("data-shelf") == shelf
            assert page.locator(f'.rackframe[data-rack="{rack}"] .slot[data-node="{name}"]').count()
            assert (
                page.locator(
                    f'.switchbox[data-switch="poe-8"] .port[data-port="{port}"]'
                ).get_attribute("data-node")
                == name
            )
        assert page.locator('.switchbox[data-switch="poe-8"] .port.used').count() == 3
        assert page.locator('.switchbox[data-switch="poe-8"] .port.poe').count() == 2
        page.screenshot(path=str(artifacts_dir / "hub-rack.png"), full_page=True)

        # a node's page: every panel has data, with human names and limits
        page.goto(base + "/#node=pi-a")
        for chart in NODE_PAGE_CHARTS:
            _wait_drawn(page, chart)
        for suffix in ("lat", "iops", "queue", "temp"):
            _wait_drawn(page, f"nv-nvme0n1-{suffix}")
        temps = [t[0] for t in _chart_data(page, "ch-temp")]
        assert "SoC" in temps and "NVMe nvme0n1" in temps, temps
        assert not any("=" in t or "{" in t for t in temps), temps
        assert len([t for t in temps if t == "SoC"]) == 1  # one line per physical sensor
        assert any("soft throttle limit 80" in t for t in temps), temps
        fan = _chart_data(page, "ch-fan")
        assert {t[2] for t in fan} == {"y", "y2"}, fan  # rpm and duty on one chart
        net = [t[0] for t in _chart_data(page, "ch-net")]
        assert "eth0 rx" in net and "eth0 tx" in net
        modes = [t[0] for t in _chart_data(page, "ch-cpu-modes")]
        assert {"user", "system", "iowait", "steal"} <= set(modes), modes
        # shares of the CPU time counted: stacked, they never pass 100 % (pi-a's twin runs
        # its clock 20x fast, so its counters do too)
        peak = page.evaluate(
            "() => { const d = document.getElementById('ch-cpu-modes').data;"
            " return Math.max(...d[0].y.map((_, i) => d.reduce((a, t) => a + (t.y[i] || 0), 0)));"
            " }"
        )
        assert 0.5 < peak <= 1.001, peak
        cores = [t[0] for t in _chart_data(page, "ch-cpu-cores")]
        assert cores == ["cpu0", "cpu1", "cpu2", "cpu3"]
        uv = [t for t in _chart_data(page, "ch-throttle") if t[0] == "under voltage"]
        assert uv and uv[0][1] >= 2, uv  # the episode is drawn on the timeline
        expect(page.locator("#fs-table tbody tr")).to_have_count(1)
        expect(page.locator("#containers")).to_contain_text("does not report containers")
        # zoom on one chart: every chart follows
        page.evaluate(
            "() => { const r = document.getElementById('ch-cpu-modes').layout.xaxis.range;"
            " const a = new Date(r[0]).getTime(), b = new Date(r[1]).getTime();"
            " Plotly.relayout('ch-cpu-modes', {'xaxis.range': [new Date(a + (b - a) / 2),"
            " new Date(b)]}); }"
        )
        page.wait_for_function(
            "() => { const a = document.getElementById('ch-cpu-modes').layout.xaxis.range,"
            " b = document.getElementById('ch-net').layout.xaxis.range;"
            " return new Date(a[0]).getTime() === new Date(b[0]).getTime(); }",
            timeout=10000,
        )
        expect(page.locator("#zoom-reset")).to_be_visible()
        page.click("#zoom-reset")
        page.locator('#ranges button[data-range="3600"]').click()
        expect(page.locator('#ranges button[data-range="3600"]')).to_have_class("on", timeout=30000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(artifacts_dir / "hub-node.png"), full_page=True)
        dark_bg = page.evaluate("document.getElementById('ch-power').layout.paper_bgcolor")

        # killing an agent turns its card down and raises one NodeDown alert
        _, proc = agents["rk-b"]
        os.kill(proc.pid, signal.SIGKILL)
        page.goto(base + "/#overview")
        expect(page.locator('.card[data-node="rk-b"]')).to_have_class("card down", timeout=30000)
        alert = page.locator('#alertbar .alert[data-alert="NodeDown"][data-node="rk-b"]')
        expect(alert).to_have_count(1, timeout=30000)
        expect(alert).to_contain_text("since")
        assert watch.problems == [], watch.problems

        # light theme when the system asks for it, and a 390 px phone draws its charts
        phone = b.new_page(viewport={"width": 390, "height": 844}, color_scheme="light")
        pwatch = Watch(phone)
        phone.goto(base + "/#node=pi-a")
        for chart in ("ch-cpu-modes", "ch-temp", "ch-fan"):
            _wait_drawn(phone, chart)
            box = phone.locator(f"#{chart}").bounding_box()
            assert box is not None and 300 <= box["width"] <= 390 and box["height"] > 150
        assert phone.evaluate("document.documentElement.scrollWidth") <= 390
        light_bg = phone.evaluate("document.getElementById('ch-power').layout.paper_bgcolor")
        assert light_bg != dark_bg
        phone.screenshot(path=str(artifacts_dir / "hub-phone-node.png"))
        phone.goto(base + "/#overview")
        _wait_drawn(phone, "cl-power")
        phone.screenshot(path=str(artifacts_dir / "hub-phone-overview.png"), full_page=True)
        assert pwatch.problems == [], pwatch.problems


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
        watch = Watch(page)
        page.goto(base + "/")
        # many nodes: the table, not cards
        expect(page.locator("#nodetable tbody tr.up")).to_have_count(100, timeout=60000)
        assert page.locator("#t-nodes").inner_text() == "100/100"
        page.click("#as-cards")
        expect(page.locator(".card.up")).to_have_count(100)
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
        # without --spec the rack view says how to get one
        page.goto(base + "/#rack")
        expect(page.locator("#rack .empty")).to_contain_text("--spec")
        page.goto(base + "/#overview")
        page.screenshot(path=str(artifacts_dir / "hub-dashboard-100.png"), full_page=False)
        assert watch.problems == [], watch.problems

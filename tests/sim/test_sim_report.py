"""The ``microrack sim`` HTML report renders offline in a real browser."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from support import browser, microrack_cmd, offline

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_report_plots_every_node_in_three_panels_offline(
    tmp_path: Path, artifacts_dir: Path
) -> None:
    html = tmp_path / "report.html"
    p = subprocess.run(
        microrack_cmd(
            "sim",
            str(ROOT / "examples" / "cluster-pi4-13.yaml"),
            "--scenario",
            str(ROOT / "examples" / "scenarios" / "heatwave.yaml"),
            "--json",
            "--report",
            str(html),
        ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stderr
    result = json.loads(p.stdout)
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 1000})
        offline(page)
        page.goto(html.as_uri())
        page.wait_for_selector(".main-svg", timeout=60_000)
        lines = page.locator(".scatterlayer .trace").count()
        legend = page.locator(".legend .traces").count()
        shaded = page.locator(".shapelayer path").count()
        page.screenshot(path=str(artifacts_dir / "sim-heatwave.png"), full_page=True)
    nodes = len(result["nodes"])
    assert lines == 3 * nodes  # temperature, power and clock per node
    assert legend == nodes
    assert shaded >= len(result["faults"])

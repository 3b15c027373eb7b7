"""The plan chart renders in a real browser with one marker per qualifying build."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from microrack.plan import plan
from support import browser, microrack_cmd, offline

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "requirements"


@pytest.mark.integration
@pytest.mark.parametrize("name", ["quiet-k8s-ceph-lab.yaml", "impossible.yaml"])
def test_plan_html_draws_every_build_offline(tmp_path, artifacts_dir, name):
    html = tmp_path / "plan.html"
    json_out = subprocess.run(
        microrack_cmd("plan", str(EXAMPLES / name), "--top", "4", "--json", "--html", str(html)),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert json_out.returncode in (0, 3), json_out.stderr
    doc = json.loads(json_out.stdout)
    with browser() as b:
        page = b.new_page(viewport={"width": 1400, "height": 700})
        offline(page)  # no network: the page must carry plotly.js itself
        page.goto(html.as_uri())
        page.wait_for_selector(".main-svg", timeout=60_000)
        markers = page.locator(".scatterlayer .point").count()
        bars = page.locator(".barlayer .point").count()
        title = page.locator(".gtitle").first.text_content() or ""
        page.screenshot(path=str(artifacts_dir / f"plan-{Path(name).stem}.png"))
    shown = doc["ranked"] if doc["ranked"] else doc["closest"]
    assert doc["requirements"]["name"] in title
    # the scatter shows every ranked (or closest) build; the bars only the top 4, two parts each
    result = plan(EXAMPLES / name)
    everything = result.ranked or result.closest
    assert markers == len(everything)
    assert bars == 2 * min(4, len(shown))

"""The dashboard page, driven in headless Chromium: every chart renders with data, the KPI panel and the
signal table are filled, and the page needs nothing from the internet."""

from __future__ import annotations

import re

import httpx
import pytest

from featurecast.api.browser import rendered_dom, screenshot, serving

pytestmark = pytest.mark.dbt

CHARTS = ("regime-timeline", "forecast-fan", "coverage", "reliability", "backtest")


@pytest.fixture(scope="module")
def page(served_stack):
    with serving(served_stack) as url:
        raw = httpx.get(f"{url}/dashboard", timeout=30).text
        yield url, raw, rendered_dom(f"{url}/dashboard")


def test_every_chart_renders_with_data_in_headless_chromium(page):
    _, _, dom = page
    assert 'data-ready="true"' in dom, "the page's scripts did not finish drawing"
    for chart in CHARTS:
        found = re.search(rf'id="{chart}"[^>]*data-rendered="(\d+)"', dom)
        assert found, f"{chart} was not drawn"
        assert int(found.group(1)) >= 1, f"{chart} has no trace"
        assert "main-svg" in dom.split(f'id="{chart}"', 1)[1][:5000]


def test_kpi_panel_and_signal_table(page):
    _, _, dom = page
    kpis = dom.split('id="kpis"', 1)[1].split("</div></div></div>", 1)[0]
    for title in ("Market regime", "Signal AUC", "Forecaster 5 sessions: ", "Backtest Sharpe"):
        assert title in kpis, title
    # the regime's confidence and Qlib's signal report are on the panel
    assert re.search(r"direction z [+-]\d\.\d\d \((not )?significant at 5 %\)", kpis)
    assert re.search(r"Qlib: IC [+-]\d\.\d{3}, ICIR [+-]\d+\.\d\d, Rank IC [+-]\d\.\d{3}, Rank ICIR", kpis)
    rows = re.findall(r"<tr><td>SYN\d{3}</td>", dom)
    assert len(rows) == 10  # every symbol of the small universe, with its top contributions


def test_the_page_loads_nothing_from_outside(page):
    url, raw, _ = page
    sources = re.findall(r'<script[^>]+src="([^"]+)"', raw)
    assert sources == ["/dashboard/plotly.min.js"]
    script = httpx.get(f"{url}{sources[0]}", timeout=30)
    assert script.status_code == 200 and len(script.content) > 1_000_000
    assert not re.search(r'(src|href)="https?://', raw)


def test_screenshot_command_writes_a_png(served_stack, tmp_path):
    with serving(served_stack) as url:
        path = screenshot(f"{url}/dashboard", tmp_path / "dashboard.png", width=1200, height=1600)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 50_000

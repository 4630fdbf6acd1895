"""Regimes and KPIs under concurrent requests: correct answers from memory, the store read only on change.

Before the in-memory regime cache, two concurrent clients got HTTP 500s: the embedded store's one SQLite
connection was used from every request thread.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from featurecast.api.browser import serving
from featurecast.api.services import RegimeService
from ml.regimes.store import open_store
from tests.python.conftest import make_settings

pytestmark = pytest.mark.dbt

ROUTES = [
    "/market-data/regime",
    "/market-data/regime?limit=30",
    "/market-data/regime?start=2026-01-01&end=2026-03-31",
    "/dashboard/kpis",
    "/signals/SYN001",
]


def test_regime_and_kpi_routes_answer_every_concurrent_request(served_stack) -> None:
    with serving(served_stack) as url, ThreadPoolExecutor(max_workers=16) as pool:
        with httpx.Client(base_url=url, timeout=30) as warm:
            expected = {route: warm.get(route).json() for route in ROUTES}

        def hit(i: int) -> tuple[str, int, object]:
            route = ROUTES[i % len(ROUTES)]
            with httpx.Client(base_url=url, timeout=30) as client:  # a connection (and server thread) each
                response = client.get(route)
            return route, response.status_code, response.json()

        results = list(pool.map(hit, range(400)))
    assert [r for r in results if r[1] != 200] == []
    for route, _, body in results:
        if route.startswith("/market-data"):
            assert body == expected[route]
    regime = expected["/market-data/regime?start=2026-01-01&end=2026-03-31"]["history"]
    assert regime and all("2026-01-01" <= day["date"] <= "2026-03-31" for day in regime)
    assert [d["date"] for d in regime] == sorted((d["date"] for d in regime), reverse=True)
    assert expected["/dashboard/kpis"]["regime"]["as_of"] == expected["/market-data/regime"]["as_of"]


def test_regimes_are_served_from_memory_and_reloaded_only_when_the_store_changes(served_stack, tmp_path) -> None:
    import shutil

    settings = make_settings(tmp_path)  # a private copy of the served stack's store and warehouse
    shutil.copytree(served_stack.regime_store_dir, settings.regime_store_dir)
    opened = []

    def factory():
        opened.append(1)
        return open_store(None, settings.regime_store_dir, reader=True)

    service = RegimeService(factory, check_interval=3600.0)
    first = service.regime("market", limit=5)
    for _ in range(200):  # within the interval: answered from memory, the store is not opened again
        assert service.regime("market", limit=5) == first
    assert len(opened) == 1

    # Tomorrow's batch: one more label, and the change marker the refresh writes after its labels.
    tomorrow = {
        key: first[key] for key in ("scope", "model_version", "fit_end", "regime", "probability", "probabilities")
    }
    tomorrow |= {"date": "2026-11-02", "rule_regime": first["rule_regime"]}
    store, client = open_store(None, settings.regime_store_dir)
    try:
        store.upsert_history([tomorrow])
        assert service.regime("market", limit=5) == first  # not yet checked: still the view in memory
        store.mark_labels_written("market", first["model_version"], "2026-11-02")
    finally:
        client.close()
    service.check_interval = 0.0
    after = service.regime("market", limit=5)
    assert after["as_of"] == "2026-11-02" and after["history"][0]["date"] == "2026-11-02"
    assert after["history"][1:] == first["history"][:4] and len(opened) == 2


def test_an_unreachable_store_keeps_the_last_regimes_served(served_stack) -> None:
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) > 1:
            raise OSError("store down")
        return open_store(None, served_stack.regime_store_dir, reader=True)

    service = RegimeService(flaky, check_interval=0.0)
    first = service.regime("market")
    assert service.regime("market") == first and len(calls) >= 2


def test_the_kpi_panel_is_computed_once_per_publish_and_follows_the_next(served_stack, tmp_path) -> None:
    import shutil

    from featurecast.api.services import DashboardService, MLSignalService
    from featurecast.api.snapshot import SnapshotStore
    from flows.publish import publish_snapshot

    serving = tmp_path / "serving"
    shutil.copytree(served_stack.serving_dir, serving)
    signals = MLSignalService(SnapshotStore(serving, check_interval=0.0))
    regimes = RegimeService(lambda: open_store(None, served_stack.regime_store_dir, reader=True), check_interval=0)
    dashboard = DashboardService(signals, regimes)
    first = dashboard.kpis()
    assert dashboard.kpis() is first  # nothing changed: the same panel, not recomputed
    newer = publish_snapshot(served_stack.warehouse_path, serving)
    after = dashboard.kpis()
    assert after is not first and after["data"]["snapshot"] == newer.name != first["data"]["snapshot"]
    assert after["regime"] == first["regime"] and after["signals"] == first["signals"]

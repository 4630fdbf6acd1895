"""The HTTP API: contract, errors, the ServiceFactory, snapshot swaps under load on loopback."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import date

import httpx
import pytest
from fastapi.testclient import TestClient

from featurecast.api.main import build_services, create_app
from featurecast.api.services import MLSignalService, ServiceFactory
from featurecast.api.snapshot import SnapshotStore
from flows.publish import publish_snapshot
from tests.python.conftest import SERVICES, make_settings

pytestmark = pytest.mark.dbt


@pytest.fixture()
def served(served_stack):
    return served_stack


def client_for(settings, today: date | None = None) -> TestClient:
    services = ServiceFactory()
    store = SnapshotStore(settings.serving_dir, check_interval=0.0)
    services.register("MLSignalService", lambda: MLSignalService(store, today=(lambda: today) if today else None))
    return TestClient(create_app(settings, services))


def test_signal_contract(served) -> None:
    client = client_for(served, today=date(2026, 10, 30))
    response = client.get("/signals/syn003", params={"k": 3})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "symbol",
        "as_of",
        "probability",
        "raw_score",
        "base_value",
        "horizon_sessions",
        "model_version",
        "model_family",
        "top_contributions",
        "data_last_date",
        "snapshot",
        "stale",
        "stale_reasons",
    }
    assert body["symbol"] == "SYN003" and body["horizon_sessions"] == 5 and body["model_family"] == "lightgbm"
    assert 0 < body["probability"] < 1 and body["as_of"] == body["data_last_date"]
    assert len(body["top_contributions"]) == 3
    magnitudes = [abs(c["contribution"]) for c in body["top_contributions"]]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert body["stale"] is False and body["stale_reasons"] == []


def test_as_of_returns_the_signal_on_or_before_the_date(served) -> None:
    client = client_for(served)
    latest = client.get("/signals/SYN001").json()
    earlier = client.get("/signals/SYN001", params={"as_of": "2026-10-25"}).json()  # a Sunday
    assert earlier["as_of"] == "2026-10-23" and earlier["as_of"] < latest["as_of"]
    assert client.get("/signals/SYN001", params={"as_of": "2000-01-03"}).status_code == 404


def test_old_data_is_marked_stale(served) -> None:
    body = client_for(served, today=date(2026, 11, 24)).get("/signals/SYN001").json()
    assert body["stale"] is True and "25 days ago" in body["stale_reasons"][0]


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/signals/NOPE", 404, "unknown symbol 'NOPE'"),
        ("/signals/bad;symbol", 422, None),
        ("/signals/" + "A" * 30, 422, None),
        ("/signals/SYN001?k=0", 422, None),
        ("/signals/SYN001?as_of=yesterday", 422, None),
    ],
)
def test_errors(served, path, status, detail) -> None:
    response = client_for(served).get(path)
    assert response.status_code == status
    if detail:
        assert detail in response.json()["detail"]


def test_no_snapshot_yet_is_503(tmp_path) -> None:
    response = client_for(make_settings(tmp_path)).get("/signals/SYN001")
    assert response.status_code == 503 and "featurecast run" in response.json()["detail"]


def test_service_factory_registers_the_signal_service(served) -> None:
    factory = build_services(served)
    assert factory.names() == SERVICES
    assert isinstance(factory.get("MLSignalService"), MLSignalService)
    assert factory.get("MLSignalService") is factory.get("MLSignalService")
    with pytest.raises(ValueError, match="already registered"):
        factory.register("MLSignalService", lambda: None)
    with pytest.raises(KeyError):
        factory.get("NoSuchService")
    health = TestClient(create_app(served)).get("/health").json()
    assert health["status"] == "ok" and health["services"] == SERVICES
    assert health["pid"] > 0 and health["snapshot"].startswith("snapshot-")


def test_openapi_document_is_up_to_date(served) -> None:
    import json

    from featurecast.config import PROJECT_ROOT

    generated = json.dumps(create_app(served).openapi(), indent=2, sort_keys=True) + "\n"
    assert (PROJECT_ROOT / "docs" / "openapi.json").read_text() == generated, "run `featurecast openapi`"


def test_no_request_fails_while_snapshots_are_swapped(served, unused_port) -> None:
    """Real uvicorn on loopback; a bounded load runs while new snapshots are published."""
    import uvicorn

    settings = replace(served)
    app = create_app(settings, build_services(settings, check_interval=0.0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=unused_port, log_level="error", log_config=None))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    url = f"http://127.0.0.1:{unused_port}/signals/SYN00"
    seen: set[str] = set()
    failures: list[str] = []
    stop = threading.Event()

    def hammer(worker: int) -> int:
        done = 0
        with httpx.Client(timeout=5) as http:
            while not stop.is_set() and done < 400:
                response = http.get(f"{url}{worker % 10}")
                if response.status_code != 200:
                    failures.append(f"{response.status_code} {response.text[:100]}")
                else:
                    seen.add(response.json()["snapshot"])
                done += 1
        return done

    try:
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(hammer, w) for w in range(4)]
            for _ in range(4):
                publish_snapshot(settings.warehouse_path, settings.serving_dir)
                time.sleep(0.2)
            stop.set()
            requests = sum(f.result() for f in futures)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert failures == []
    assert requests > 100
    assert len(seen) >= 2  # the new snapshots were picked up without a restart


def test_concurrent_first_requests_wait_for_the_first_snapshot(served) -> None:
    """At cold start no request may be told 'no snapshot' while the first one is loading."""
    store = SnapshotStore(served.serving_dir, check_interval=1.0)
    service = MLSignalService(store)
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda i: service.signal(f"SYN00{i % 10}").snapshot, range(32)))
    assert len(set(results)) == 1

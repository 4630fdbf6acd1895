"""The API offline and by the book: local docs assets, HEAD everywhere, short echoes, honest 503/404s,
and a publish killed at any step never takes the served snapshot away."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from featurecast.api.main import create_app
from featurecast.api.snapshot import POINTER, SnapshotStore
from flows.publish import publish_snapshot
from tests.python.conftest import run_killed_at

pytestmark = pytest.mark.dbt


@pytest.fixture()
def client(served_stack) -> TestClient:
    return TestClient(create_app(served_stack))


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_every_asset_from_the_app(client, page) -> None:
    html = client.get(page).text
    assert "http://" not in html and "https://" not in html  # no CDN, no web fonts
    assets = [part.split('"')[1] for part in html.split("src=")[1:]] + [
        part.split('"')[1] for part in html.split("href=")[1:]
    ]
    assert assets and all(a.startswith("/") for a in assets)
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset


def test_head_answers_on_every_get_route_without_a_body(client, served_stack) -> None:
    samples = {"{symbol}": "SYN001", "{name}": "equal_weight", "{scope}": "market"}
    documented = [path for path, methods in client.app.openapi()["paths"].items() if "get" in methods]
    assert len(documented) >= 8
    for path in [*documented, "/docs", "/redoc", "/dashboard/plotly.min.js", "/static-offline-docs/swagger-ui.css"]:
        for placeholder, value in samples.items():
            path = path.replace(placeholder, value)
        get, head = client.get(path), client.head(path)
        assert get.status_code == 200 and head.status_code == 200 and head.content == b"", path
        assert head.headers["content-type"] == get.headers["content-type"], path


def test_error_bodies_echo_only_a_short_prefix_of_the_input(client) -> None:
    long_symbol = "A" * 10_000
    response = client.get(f"/signals/{long_symbol}")
    assert response.status_code == 422
    assert len(response.text) < 1_000 and "(10000 characters)" in response.text
    response = client.get("/market-data/regime", params={"start": "9" * 5_000})
    assert response.status_code == 422 and len(response.text) < 1_000


def test_a_forecaster_that_never_issues_for_a_portfolio_is_a_404_that_says_why(client, served_stack) -> None:
    snapshot = SnapshotStore(served_stack.serving_dir).current()
    issued = snapshot.forecasts.groupby("portfolio")["model"].unique().to_dict()
    models = ("conformal", "vol_normal", "lgbm_quantile")
    missing = [(p, m) for p, have in issued.items() for m in models if m not in have]
    assert missing, "the fixture's short signal_strategy book has too little history for some forecaster"
    for portfolio, model in missing:
        response = client.get(f"/portfolio/{portfolio}/forecast", params={"model": model})
        assert response.status_code == 404, (portfolio, model)
        assert "issues no forecasts" in response.json()["detail"] and "too short" in response.json()["detail"]
    for portfolio, have in issued.items():
        for model in have:
            assert client.get(f"/portfolio/{portfolio}/forecast", params={"model": model}).status_code == 200


def test_every_503_names_the_step_that_publishes_it(tmp_path) -> None:
    from tests.python.conftest import make_settings

    empty = TestClient(create_app(make_settings(tmp_path)))
    for path in ("/signals/SYN001", "/portfolio/equal_weight/forecast", "/backtests/latest", "/market-data/regime"):
        response = empty.get(path)
        detail = response.json()["detail"]
        assert response.status_code == 503 and "yet" in detail and "featurecast run" in detail, path


PUBLISH = "from pathlib import Path\nfrom flows.publish import publish_snapshot as p\np(*map(Path, sys.argv[3:]))"

# publish_snapshot's steps: fsync the snapshot, rename it into place, fsync the directory, then the same
# three for CURRENT. Killing before each one covers every point where a crash can happen.
KILL_POINTS = [("fsync", 1), ("replace", 1), ("fsync", 2), ("fsync", 3), ("replace", 2), ("fsync", 4)]


@pytest.mark.parametrize(("operation", "nth"), KILL_POINTS)
def test_a_publish_killed_at_any_step_leaves_the_previous_snapshot_served(
    served_stack, tmp_path, operation, nth
) -> None:
    serving = tmp_path / "serving"
    first = publish_snapshot(served_stack.warehouse_path, serving)
    killed = run_killed_at(operation, nth, PUBLISH, str(served_stack.warehouse_path), str(serving))
    assert killed.returncode == 9, killed.stderr[-2000:]
    current = (serving / POINTER).read_text().strip()
    served = SnapshotStore(serving, check_interval=0).current()
    assert served is not None and served.name == current
    if (operation, nth) != ("fsync", 4):  # killed before CURRENT was renamed: the old snapshot is current
        assert current == first.name
    # The next publish removes what the killed one left behind and becomes current.
    second = publish_snapshot(served_stack.warehouse_path, serving)
    assert (serving / POINTER).read_text().strip() == second.name
    assert not list(serving.glob(".*.partial")) and not list(serving.glob(".*.tmp"))
    assert SnapshotStore(serving, check_interval=0).current().name == second.name


def test_the_signal_fast_path_answers_exactly_what_the_route_answers(client, served_stack, tmp_path) -> None:
    from tests.python.conftest import make_settings

    fast = client.get("/signals/SYN001")  # no query string: answered at the ASGI layer from the body cache
    routed = client.get("/signals/SYN001", params={"k": 5})  # through FastAPI: validation, response model
    assert fast.status_code == routed.status_code == 200 and fast.content == routed.content
    assert fast.headers["content-type"] == routed.headers["content-type"] == "application/json"
    assert client.get("/signals/syn001").content == fast.content  # symbols are case-insensitive either way
    head = client.head("/signals/SYN001")
    assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(fast.content))
    # What the fast path cannot answer falls through to the route and its error contract.
    unknown = client.get("/signals/NOPE")
    assert unknown.status_code == 404 and "unknown symbol 'NOPE'" in unknown.json()["detail"]
    assert client.get("/signals/" + "A" * 300).status_code == 422
    empty = TestClient(create_app(make_settings(tmp_path))).get("/signals/SYN001")
    assert empty.status_code == 503 and "yet" in empty.json()["detail"]

"""GET /features/{symbol}: the online store serves what point-in-time retrieval gives, from the snapshot."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from featurecast.api.main import create_app
from featurecast.api.services import ServiceFactory
from featurecast.api.services.features import FeatureService
from featurecast.api.snapshot import SnapshotStore
from featurecast.features import get_historical_features
from flows.publish import publish_snapshot
from tests.python.conftest import make_settings

pytestmark = pytest.mark.dbt
NAMES = ["ret_21d", "rsi_14", "vol_21d", "history_rows", "mkt_vol_21d", "breadth_above_ma21", "is_small_universe"]


def client_for(settings, serving_dir=None) -> TestClient:
    services = ServiceFactory()
    store = SnapshotStore(serving_dir or settings.serving_dir, check_interval=0.0)
    services.register("FeatureService", lambda: FeatureService(store, today=lambda: date(2026, 10, 30)))
    return TestClient(create_app(settings, services))


def test_online_values_equal_point_in_time_retrieval(served_stack) -> None:
    """Every answer, at random as_of dates (weekends included), is the historical retrieval at that day's
    close: same bar, same values, and never a bar dated after as_of."""
    client = client_for(served_stack)
    latest = client.get("/features/syn003", params={"names": ",".join(NAMES)}).json()
    last = date.fromisoformat(latest["feature_date"])
    assert latest["symbol"] == "SYN003" and latest["as_of"] == latest["feature_date"] == latest["data_last_date"]
    assert list(latest["features"]) == NAMES and isinstance(latest["features"]["history_rows"], int)
    rng = np.random.default_rng(5)
    days = [last] + [last - timedelta(days=int(d)) for d in rng.choice(300, size=24, replace=False)]
    answers = [
        client.get("/features/SYN003", params={"names": ",".join(NAMES), "as_of": d.isoformat()}).json() for d in days
    ]
    entities = pd.DataFrame({"symbol": "SYN003", "timestamp": pd.to_datetime(days)})
    expected = get_historical_features(
        entities, NAMES, at_close=True, settings=served_stack, source=served_stack.warehouse_path
    )
    for day, answer, (_, row) in zip(days, answers, expected.iterrows(), strict=True):
        assert date.fromisoformat(answer["feature_date"]) <= day
        assert answer["feature_date"] == pd.Timestamp(row["feature_date"]).date().isoformat()
        for name in NAMES:
            served, wanted = answer["features"][name], row[name]
            assert (served is None and pd.isna(wanted)) or served == pytest.approx(wanted), (day, name)


def test_every_feature_by_default_and_names_kept_in_order(served_stack) -> None:
    client = client_for(served_stack)
    everything = client.get("/features/SYN001").json()["features"]
    assert {"ret_21d", "cs_rank_rsi_14", "mkt_ret_1d", "dispersion_21d"} <= set(everything)
    assert "symbol" not in everything and "source_loaded_at" not in everything
    picked = client.get("/features/SYN001", params={"names": "mkt_ret_1d, ret_1d,mkt_ret_1d"}).json()["features"]
    assert list(picked) == ["mkt_ret_1d", "ret_1d"]


@pytest.mark.parametrize(
    ("path", "params", "status", "says"),
    [
        ("/features/NOPE", {}, 404, "unknown symbol 'NOPE'"),
        ("/features/SYN00", {}, 404, "did you mean SYN00"),
        ("/features/SYN001", {"names": "ret21d"}, 422, "did you mean ret_21d"),
        ("/features/SYN001", {"names": "rsi_14,nope_1"}, 422, "unknown feature 'nope_1'"),
        ("/features/SYN001", {"names": ",".join(["ret_1d"] * 201)}, 422, "at most 200"),
        ("/features/SYN001", {"names": "ret_1d;drop table x"}, 422, "string_pattern_mismatch"),
        ("/features/SYN001", {"as_of": "1990-01-01"}, 404, "get_historical_features"),
        ("/features/SYN001", {"as_of": "yesterday"}, 422, "date"),
        ("/features/" + "A" * 5000, {}, 422, "characters"),
    ],
)
def test_bad_requests_get_the_documented_errors(served_stack, path, params, status, says) -> None:
    response = client_for(served_stack).get(path, params=params)
    assert response.status_code == status
    assert says in response.text
    assert len(response.content) < 2000  # a long input is never echoed back whole


def test_no_snapshot_is_503_and_head_answers(served_stack, tmp_path) -> None:
    response = client_for(make_settings(tmp_path)).get("/features/SYN001")
    assert response.status_code == 503 and "featurecast run" in response.json()["detail"]
    head = client_for(served_stack).head("/features/SYN001")
    assert head.status_code == 200 and head.content == b""


def test_snapshot_keeps_the_newest_sessions_only(served_stack, tmp_path) -> None:
    """The online store holds each symbol's newest N bars; older as_of dates point to offline retrieval."""
    publish_snapshot(served_stack.warehouse_path, tmp_path, feature_sessions=5)
    client = client_for(served_stack, serving_dir=tmp_path)
    newest = date.fromisoformat(client.get("/features/SYN002").json()["feature_date"])
    inside = client.get("/features/SYN002", params={"as_of": (newest - timedelta(days=3)).isoformat()})
    assert inside.status_code == 200
    outside = client.get("/features/SYN002", params={"as_of": (newest - timedelta(days=14)).isoformat()})
    assert outside.status_code == 404 and "the newest 5" in outside.json()["detail"]

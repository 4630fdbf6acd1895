"""API contract for /market-data/regime and /dashboard/kpis, including the empty store and bad input."""

from __future__ import annotations

import math
from datetime import date

import pytest
from fastapi.testclient import TestClient

from featurecast.api.main import create_app
from featurecast.api.services import (
    DashboardService,
    ForecastService,
    MLSignalService,
    PortfolioService,
    RegimeService,
    ServiceFactory,
)
from featurecast.api.snapshot import SnapshotStore
from ml.regimes.store import open_store
from tests.python.conftest import SERVICES, make_settings

pytestmark = pytest.mark.dbt


@pytest.fixture()
def full_stack(served_stack):
    return served_stack


def client_for(settings, today: date = date(2026, 11, 2)) -> TestClient:
    factory = ServiceFactory()
    signals = MLSignalService(SnapshotStore(settings.serving_dir, check_interval=0.0), today=lambda: today)
    regimes = RegimeService(lambda: open_store(None, settings.regime_store_dir, reader=True), check_interval=0.0)
    factory.register("MLSignalService", lambda: signals)
    factory.register("RegimeService", lambda: regimes)
    portfolios = PortfolioService(signals.store)
    factory.register("PortfolioService", lambda: portfolios)
    factory.register("ForecastService", lambda: ForecastService(signals.store, portfolios))
    factory.register("DashboardService", lambda: DashboardService(signals, regimes))
    return TestClient(create_app(settings, factory))


def test_current_regime_contract(full_stack) -> None:
    body = client_for(full_stack).get("/market-data/regime").json()
    assert set(body) == {
        "scope",
        "as_of",
        "regime",
        "mean_return_z",
        "probability",
        "probabilities",
        "rule_regime",
        "model_version",
        "fit_end",
        "model_fit_window",
        "metadata",
        "labelling",
        "history",
    }
    assert body["labelling"] == "point_in_time" and body["fit_end"] < body["as_of"]
    assert body["metadata"]["selection"]["criterion"] == "lowest BIC"
    assert body["scope"] == "market" and body["as_of"] == "2026-10-30" and body["history"] is None
    assert body["regime"] in body["probabilities"] and abs(sum(body["probabilities"].values()) - 1) < 1e-9
    assert body["probability"] == max(body["probabilities"].values())
    # the label's confidence: the z of its state's mean, from the version that labelled the day; the name's
    # direction is that mean's sign
    assert isinstance(body["mean_return_z"], float)
    assert body["regime"].startswith("bull_" if body["mean_return_z"] > 0 else "bear_")
    assert {"regimes", "transition_matrix", "fit"} <= set(body["metadata"])
    for regime in body["metadata"]["regimes"].values():
        assert {"annualised_mean_return", "annualised_volatility", "expected_duration_days", "days_in_regime"} <= set(
            regime
        )


def test_history_by_range_and_limit(full_stack) -> None:
    client = client_for(full_stack)
    newest = client.get("/market-data/regime", params={"limit": 3}).json()["history"]
    assert [d["date"] for d in newest] == ["2026-10-30", "2026-10-29", "2026-10-28"]
    window = client.get("/market-data/regime", params={"start": "2026-10-01", "end": "2026-10-09"}).json()["history"]
    assert [d["date"] for d in window[:1]] == ["2026-10-09"] and window[-1]["date"] == "2026-10-01"
    assert len(window) == 7
    assert all(d["regime"].startswith("bull_" if d["mean_return_z"] > 0 else "bear_") for d in window)


def test_history_is_point_in_time_and_the_in_sample_relabelling_is_asked_for_by_name(full_stack) -> None:
    client = client_for(full_stack)
    history = client.get("/market-data/regime", params={"limit": 5000}).json()["history"]
    assert history and all(day["fit_end"] < day["date"] for day in history)
    in_sample = client.get("/market-data/regime", params={"limit": 5000, "labelling": "in_sample"}).json()
    current = in_sample["model_version"]
    assert in_sample["labelling"] == "in_sample" and len(in_sample["history"]) > len(history)
    assert {day["model_version"] for day in in_sample["history"]} == {current}
    assert in_sample["history"][-1]["date"] < history[-1]["date"]  # it labels days before its own fit too
    bad = client.get("/market-data/regime", params={"labelling": "hindsight"})
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("params", "status", "detail"),
    [
        ({"start": "2026-10-09", "end": "2026-10-01"}, 422, "start 2026-10-09 is after end 2026-10-01"),
        ({"limit": 0}, 422, None),
        ({"limit": 100000}, 422, None),
        ({"start": "last week"}, 422, None),
        ({"scope": "Bad Scope!"}, 422, None),
        ({"scope": "sector_tech"}, 404, "unknown regime scope 'sector_tech'"),
    ],
)
def test_regime_errors(full_stack, params, status, detail) -> None:
    response = client_for(full_stack).get("/market-data/regime", params=params)
    assert response.status_code == status
    if detail:
        assert detail in response.json()["detail"]


def test_empty_store_is_503_and_the_panel_still_answers(tmp_path) -> None:
    settings = make_settings(tmp_path)
    client = client_for(settings)
    response = client.get("/market-data/regime")
    assert response.status_code == 503 and "no regime labels yet" in response.json()["detail"]
    assert client.get("/dashboard/kpis").json() == {
        "regime": None,
        "signals": None,
        "data": None,
        "anomalies": None,
        "forecasts": None,
        "backtest": None,
    }
    assert client.get("/portfolio/equal_weight/forecast").status_code == 503


def test_dashboard_kpi_panel(full_stack) -> None:
    body = client_for(full_stack, today=date(2026, 11, 2)).get("/dashboard/kpis").json()
    assert body["regime"]["regime"] in body["regime"]["probabilities"]
    assert isinstance(body["regime"]["mean_return_z"], float)
    for figure in ("ic", "icir", "rank_icir", "baseline_ic", "baseline_icir", "baseline_rank_icir"):
        assert isinstance(body["signals"][figure], float), figure  # Qlib's report, model and baseline
    low, high = body["signals"]["rank_ic_difference_interval"]
    assert low <= body["signals"]["rank_ic"] - body["signals"]["baseline_rank_ic"] <= high
    signals = body["signals"]
    assert signals["model_version"].startswith("lightgbm-h5-") and signals["coverage"] == 1.0
    assert signals["symbols_with_signal"] == signals["symbols"] == 10
    assert 0 < signals["auc"] < 1 and 0 < signals["baseline_auc"] < 1 and signals["ece"] >= 0
    assert body["data"]["data_last_date"] == "2026-10-30" and body["data"]["age_days"] == 3
    assert body["data"]["stale_symbols"] == []
    assert isinstance(body["anomalies"], list)


def test_every_service_is_registered_by_name(full_stack) -> None:
    from featurecast.api.main import build_services

    factory = build_services(full_stack)
    assert factory.names() == SERVICES
    assert factory.get("DashboardService").signals is factory.get("MLSignalService")


def test_a_book_that_ends_before_the_data_says_when_its_forecast_is_from(full_stack) -> None:
    """signal_strategy holds out-of-fold signals, which end where their labels matured: its newest forecast
    is older than the data, says so and why, and a target already passed is marked, not projected."""
    body = client_for(full_stack).get("/portfolio/signal_strategy/forecast").json()
    assert body["as_of"] < body["data_last_date"] == "2026-10-30"
    assert body["behind_data"].startswith(f"as of {body['as_of']}, ")
    assert "out-of-fold signals, which end where their labels have matured" in body["behind_data"]
    assert body["model_versions"] and all(v for v in body["model_versions"])
    for h in body["horizons"]:
        assert h["target_passed"] is (h["target_date"] <= body["data_last_date"])
    assert any(h["target_passed"] for h in body["horizons"])


def test_portfolio_forecast_contract(full_stack) -> None:
    body = client_for(full_stack).get("/portfolio/equal_weight/forecast").json()
    assert set(body) == {
        "portfolio",
        "as_of",
        "data_last_date",
        "behind_data",
        "equity_at_issue",
        "equity_last_date",
        "model",
        "model_version",
        "model_versions",
        "horizons",
    }
    assert body["model"] == "champion" and body["as_of"] == "2026-10-30"
    # the equal-weight book is as of the newest data: nothing is behind, every target is ahead
    assert body["data_last_date"] == "2026-10-30" and body["behind_data"] is None
    assert not any(h["target_passed"] for h in body["horizons"])
    assert body["model_versions"] == sorted({h["model_version"] for h in body["horizons"]})
    assert [h["horizon_sessions"] for h in body["horizons"]] == [5, 21, 63]
    selection = client_for(full_stack).get("/portfolio/equal_weight/forecast/evaluation").json()["selection"]
    champions = {r["horizon"]: r["model"] for r in selection if r["is_champion"]}
    for h in body["horizons"]:  # by default each horizon serves its champion, with the rule's verdict
        assert h["champion"] is True and h["model"] == champions[h["horizon_sessions"]]
        assert h["eligible"] is (h["ineligible_because"] is None)
    for h in body["horizons"]:
        assert h["target_date"] > body["as_of"]
        assert h["return_q05"] <= h["return_q50"] <= h["return_q95"]
        assert h["equity_q05"] <= h["equity_q50"] <= h["equity_q95"]
        assert abs(h["equity_q50"] - body["equity_at_issue"] * math.exp(h["return_q50"])) < 1e-9
    assert body["horizons"][0]["target_date"] == "2026-11-06"  # five sessions after Friday 30 October
    one = (
        client_for(full_stack)
        .get("/portfolio/equal_weight/forecast", params={"horizon": 21, "model": "vol_normal"})
        .json()
    )
    assert [h["horizon_sessions"] for h in one["horizons"]] == [21] and one["model"] == "vol_normal"
    assert one["horizons"][0]["model"] == "vol_normal" and one["model_version"].startswith("vol_normal-")


def test_the_champion_forecaster_follows_the_written_rule(full_stack) -> None:
    """Recomputed from the evaluation marts: eligible means enough independent outcomes, coverage within
    90 +/- 4 points, Kupiec passing and no band beyond the sanity bound; the champion is the eligible one
    with the lowest CRPS, and exactly one per (portfolio, horizon)."""
    import duckdb

    with duckdb.connect(str(full_stack.warehouse_path), read_only=True) as con:
        selection = con.execute("select * from marts.fct_forecaster_selection").df()
        backtest = con.execute("select portfolio, model_version, horizon, kupiec_pass from marts.fct_var_backtest").df()
    assert len(selection) > 0
    assert (selection.groupby(["portfolio", "horizon"])["is_champion"].sum() == 1).all()
    judged = selection.merge(backtest, on=["portfolio", "model_version", "horizon"], how="left")
    expected = (
        (judged["independent_forecasts"] >= 30)
        & ((judged["coverage_5_95"] - 0.90).abs() <= 0.04)
        & judged["kupiec_pass"].fillna(False).astype(bool)
        & (judged["band_breaches"] == 0)
    )
    assert (judged["eligible"] == expected).all()
    assert judged.loc[~judged["eligible"], "ineligible_because"].notna().all()
    for _, group in judged.groupby(["portfolio", "horizon"]):
        champion = group[group["is_champion"]].iloc[0]
        if group["eligible"].any():
            best = group[group["eligible"]].sort_values(["mean_crps_approx", "mean_pinball_q05"]).iloc[0]
            assert champion["eligible"] and champion["model"] == best["model"]
        else:
            assert not champion["eligible"]


@pytest.mark.parametrize(
    ("path", "params", "status", "detail"),
    [
        ("/portfolio/nope/forecast", {}, 404, "unknown portfolio 'nope'"),
        ("/portfolio/nope/forecast/evaluation", {}, 404, "unknown portfolio 'nope'"),
        ("/portfolio/equal_weight/forecast", {"horizon": 7}, 422, "horizon must be one of 5, 21, 63"),
        ("/portfolio/equal_weight/forecast", {"horizon": "soon"}, 422, None),
        ("/portfolio/equal_weight/forecast", {"model": "crystal_ball"}, 422, None),
        ("/portfolio/Bad-Name/forecast", {}, 422, None),
    ],
)
def test_portfolio_forecast_errors(full_stack, path, params, status, detail) -> None:
    response = client_for(full_stack).get(path, params=params)
    assert response.status_code == status
    if detail:
        assert detail in response.json()["detail"]


def test_forecast_evaluation_and_kpis(full_stack) -> None:
    client = client_for(full_stack)
    body = client.get("/portfolio/equal_weight/forecast/evaluation").json()
    pairs = {(r["model"], r["horizon"]) for r in body["calibration"]}
    assert {(m, h) for m in ("conformal", "vol_normal") for h in (5, 21, 63)} <= pairs
    # Three years are too short for the quantile model at long horizons: it appears only where it has forecasts.
    assert {m for m, _ in pairs} <= {"conformal", "vol_normal", "lgbm_quantile"}
    for row in body["calibration"]:
        assert 0 <= row["coverage_5_95"] <= 1 and row["forecasts"] > 0
    assert all(isinstance(r["kupiec_pass"], bool) for r in body["var_backtest"])
    by_regime: dict[tuple[str, int], int] = {}
    regimes = {row["regime"] for row in body["by_regime"]}
    assert regimes - {"unlabelled"}  # issue dates carry the market regime (early ones may predate the labels)
    for row in body["by_regime"]:
        key = (row["model"], row["horizon"])
        by_regime[key] = by_regime.get(key, 0) + row["forecasts"]
    assert by_regime == {(r["model"], r["horizon"]): r["forecasts"] for r in body["calibration"]}
    kpis = [k for k in client.get("/dashboard/kpis").json()["forecasts"] if k["portfolio"] == "equal_weight"]
    assert len(kpis) == len(body["calibration"]) and {k["horizon"] for k in kpis} == {5, 21, 63}
    assert sorted(k["horizon"] for k in kpis if k["champion"]) == [5, 21, 63]

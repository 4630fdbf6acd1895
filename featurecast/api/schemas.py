"""Response models: the API contract, and the source of the generated OpenAPI schema."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class ContributionOut(BaseModel):
    feature: str = Field(description="Feature name (see docs/feature_spec.md).")
    value: float | None = Field(description="The feature's value on the signal date (null: not yet defined).")
    contribution: float = Field(description="SHAP contribution to the raw score, in log-odds.")


class SignalOut(BaseModel):
    symbol: str
    as_of: date = Field(description="Date of the features the signal was computed from (market close).")
    probability: float = Field(
        ge=0,
        le=1,
        description="Calibrated probability that the forward return over "
        "horizon_sessions trading sessions is positive.",
    )
    raw_score: float = Field(
        description="Model output in log-odds, before calibration: base_value plus the sum of "
        "all feature contributions."
    )
    base_value: float = Field(description="Expected raw score over the training data (SHAP base value).")
    horizon_sessions: int
    model_version: str
    model_family: str
    top_contributions: list[ContributionOut] = Field(description="The k largest contributions by magnitude.")
    data_last_date: date = Field(description="Newest date in the published feature data.")
    snapshot: str = Field(description="Serving snapshot that answered.")
    stale: bool = Field(description="True when the data or the symbol's feed is older than the freshness limits.")
    stale_reasons: list[str]


class FeaturesOut(BaseModel):
    symbol: str
    as_of: date = Field(description="The date asked for (the latest bar's date when as_of is not given).")
    feature_date: date = Field(
        description="Date of the symbol's bar the values come from: the newest on or before as_of."
    )
    market_feature_date: date | None = Field(description="Date of the market-wide features served (same rule).")
    features: dict[str, float | int | bool | None] = Field(
        description="Feature name to value (null: not defined on that bar, e.g. before its lookback is filled). "
        "Names and meanings: docs/feature_spec.md."
    )
    data_last_date: date = Field(description="Newest date in the published feature data.")
    snapshot: str = Field(description="Serving snapshot that answered.")
    stale: bool = Field(description="True when the data or the symbol's feed is older than the freshness limits.")
    stale_reasons: list[str]


class ErrorOut(BaseModel):
    detail: str


class RegimeDayOut(BaseModel):
    date: date
    regime: str = Field(description="Most probable regime that day (filtered: uses data up to that day only).")
    mean_return_z: float | None = Field(
        default=None,
        description="Confidence of the label's direction: the z of the labelled state's estimated mean return "
        "(point in time). bull/bear is the sign of that mean; |z| > 1.96 is significant at 5 %, a smaller |z| "
        "names the direction with doubt. Null on labels written before labels carried it.",
    )
    probability: float = Field(ge=0, le=1)
    probabilities: dict[str, float] = Field(description="Filtered probability of every regime.")
    rule_regime: str | None = Field(description="The rule-based baseline's label (trend x volatility).")
    model_version: str = Field(description="The regime model version that made this label.")
    fit_end: dt.date = Field(
        description="Last day that version was fitted on (before `date` in the point-in-time history)."
    )


class RegimeOut(BaseModel):
    scope: str = Field(
        description="'market': the configured benchmark (FEATURECAST_MARKET_SERIES) or equal-weight index."
    )
    as_of: date
    regime: str
    mean_return_z: float | None = Field(
        default=None,
        description="Confidence of the label's direction: the z of the labelled state's estimated mean return "
        "(point in time). bull/bear is the sign of that mean; |z| > 1.96 is significant at 5 %, a smaller |z| "
        "names the direction with doubt. Null on labels written before labels carried it.",
    )
    probability: float = Field(ge=0, le=1)
    probabilities: dict[str, float]
    rule_regime: str | None
    model_version: str = Field(description="The version that labelled `as_of`.")
    fit_end: date
    model_fit_window: list[date] = Field(description="First and last day the current model was fitted on.")
    metadata: dict[str, object] = Field(
        description="Per-regime return, volatility, expected duration and days; transition matrix; fit diagnostics."
    )
    labelling: Literal["point_in_time", "in_sample"] = Field(
        description="Which labels `history` holds: point_in_time (each day by the version current then, fitted "
        "before it) or in_sample (the current version's relabelling of every day)."
    )
    history: list[RegimeDayOut] | None = Field(description="Newest first; present when start, end or limit is given.")


class SignalKpis(BaseModel):
    model_version: str
    horizon_sessions: int
    auc: float = Field(description="Out-of-sample AUC (walk-forward, calibrated).")
    baseline_auc: float = Field(description="The momentum baseline's AUC on the same rows.")
    auc_difference: float | None = Field(
        None, description="Model minus baseline AUC on the same rows (None for models trained before it was kept)."
    )
    auc_difference_interval: list[float] | None = Field(
        None, description="90% paired bootstrap interval over dates of the AUC difference."
    )
    predicts_base_rate: bool | None = Field(
        None, description="True when the probabilities' resolution is no higher than shuffled labels give."
    )
    rank_ic: float = Field(description="Mean daily cross-sectional Rank IC (Spearman) out of fold (Qlib's Rank IC).")
    baseline_rank_ic: float
    ic: float | None = Field(None, description="Mean daily cross-sectional IC (Pearson), Qlib's IC.")
    icir: float | None = Field(None, description="Mean over standard deviation of the daily IC (Qlib's ICIR).")
    rank_icir: float | None = Field(None, description="Mean over standard deviation of the daily Rank IC.")
    baseline_ic: float | None = Field(None, description="The momentum baseline's IC on the same dates.")
    baseline_icir: float | None = None
    baseline_rank_icir: float | None = None
    rank_ic_difference_interval: list[float] | None = Field(
        None, description="90% paired bootstrap interval over days of the model-minus-baseline Rank IC."
    )
    log_loss: float
    ece: float = Field(description="Expected calibration error of the calibrated probabilities.")
    coverage: float = Field(description="Share of symbols with a signal on the newest data date.")
    symbols_with_signal: int
    symbols: int


class DataKpis(BaseModel):
    data_last_date: date
    age_days: int
    stale_symbols: list[str]
    snapshot: str
    published_at: datetime


class AnomalyKpi(BaseModel):
    rule: str
    action: str
    findings: int
    findings_30d: int = Field(description="Findings in the 30 days up to the newest data date.")


class ForecastKpi(BaseModel):
    portfolio: str
    model: str
    horizon: int
    coverage_5_95: float = Field(description="Share of matured outcomes inside the 5-95 band (target 0.90).")
    hit_rate_q05: float
    mean_pinball_q50: float
    kupiec_pass: bool | None
    christoffersen_pass: bool | None
    champion: bool = Field(description="The forecaster the API serves by default for this portfolio and horizon.")
    eligible: bool | None = Field(description="It meets the selection rule (null: not judged yet).")


class HorizonForecastOut(BaseModel):
    horizon_sessions: int
    model: str = Field(description="The forecaster of this horizon: the one asked for, or the champion.")
    model_version: str
    champion: bool = Field(description="The forecaster is this horizon's champion (marts.fct_forecaster_selection).")
    eligible: bool | None = Field(
        description="It meets the selection rule (calibrated and sane); null before any of its forecasts matured."
    )
    ineligible_because: str | None = Field(description="The first condition of the rule it fails; null if none.")
    target_date: date = Field(description="The session the forecast is about.")
    target_passed: bool = Field(
        False,
        description="True when target_date is on or before the newest data: history to evaluate "
        "(/portfolio/{name}/forecast-evaluation), not a projection.",
    )
    return_q05: float = Field(description="5th percentile of the log return from as_of to target_date.")
    return_q50: float
    return_q95: float
    equity_q05: float = Field(description="5th percentile of equity on target_date.")
    equity_q50: float
    equity_q95: float


class PortfolioForecastOut(BaseModel):
    portfolio: str
    as_of: date = Field(description="Issue date: the forecast uses data up to this close.")
    data_last_date: date | None = Field(None, description="The newest data date of the snapshot.")
    behind_data: str | None = Field(
        None,
        description="Why `as_of` is before the data, when it is (a backtest book ends where its signals' labels "
        "matured); null when the forecast is as of the newest data.",
    )
    equity_at_issue: float
    equity_last_date: date
    model: str = Field(description="The forecaster asked for, or `champion`: each horizon's champion (the default).")
    model_version: str | None = Field(description="The version, when every horizon has the same one.")
    model_versions: list[str] = Field(default_factory=list, description="Every horizon's forecaster version.")
    horizons: list[HorizonForecastOut]


class ForecastEvaluationOut(BaseModel):
    portfolio: str
    calibration: list[dict[str, object]] = Field(
        description="marts.fct_forecast_calibration rows: coverage, hit "
        "rates, pinball, Winkler, CRPS per model and horizon."
    )
    var_backtest: list[dict[str, object]] = Field(
        description="marts.fct_var_backtest rows: exceedances, Kupiec and "
        "Christoffersen statistics per model and horizon."
    )
    by_regime: list[dict[str, object]] = Field(
        description="marts.fct_forecast_calibration_by_regime rows: calibration per model, horizon and the market "
        "regime on the issue date."
    )
    selection: list[dict[str, object]] = Field(
        description="marts.fct_forecaster_selection rows: each forecaster's standing under the selection rule per "
        "horizon, the champion first, with the evidence."
    )


class BacktestMetricOut(BaseModel):
    metric: str
    value: float | None
    ci_low: float | None = Field(description="Lower end of the 90% stationary-bootstrap interval, where computed.")
    ci_high: float | None


class BacktestBookOut(BaseModel):
    book: str = Field(description="strategy, momentum (same rules on the baseline's signals) or buy_and_hold.")
    metrics: list[BacktestMetricOut]


class BacktestOut(BaseModel):
    run_id: str
    created_at: datetime = Field(description="When the run was made, in UTC, to the microsecond.")
    model_version: str = Field(description="The champion whose out-of-fold probabilities were traded.")
    horizon_sessions: int
    strategy: dict[str, object] = Field(description="The rules: selection, limits, rebalancing, costs, gates.")
    start_date: date
    end_date: date
    sessions: int
    symbols: int
    warnings: list[str] = Field(
        description="What the comparison cannot show, e.g. a rule that holds the whole universe (empty when none)."
    )
    books: list[BacktestBookOut]
    sharpe_improvement_vs_buy_and_hold: BacktestMetricOut
    sharpe_improvement_vs_momentum: BacktestMetricOut


class BacktestKpi(BaseModel):
    run_id: str
    sharpe: float | None
    buy_and_hold_sharpe: float | None
    momentum_sharpe: float | None
    sharpe_improvement_vs_buy_and_hold: float | None
    ci_low: float | None
    ci_high: float | None
    max_drawdown: float | None
    annual_turnover: float | None


class DashboardKpisOut(BaseModel):
    regime: dict[str, object] | None = Field(description="Current market regime with its metadata.")
    signals: SignalKpis | None
    data: DataKpis | None
    anomalies: list[AnomalyKpi] | None
    forecasts: list[ForecastKpi] | None = Field(description="Forecast calibration and VaR backtest per horizon.")
    backtest: BacktestKpi | None = Field(default=None, description="The newest backtest of the champion's signals.")

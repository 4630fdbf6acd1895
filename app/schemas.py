"""Response models: the API contract, and the source of the generated OpenAPI schema."""

from __future__ import annotations

from datetime import date

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


class ErrorOut(BaseModel):
    detail: str

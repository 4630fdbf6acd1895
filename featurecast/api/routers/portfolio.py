"""GET /portfolio/{name}/forecast and /portfolio/{name}/forecast/evaluation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request

from featurecast.api.schemas import ErrorOut, ForecastEvaluationOut, PortfolioForecastOut
from featurecast.api.services import (
    BadHorizonError,
    ForecastNotIssuedError,
    ForecastService,
    ForecastsUnavailableError,
    SignalsUnavailableError,
    UnknownPortfolioError,
)
from ml.forecasts.names import ForecasterName

router = APIRouter(tags=["portfolio"])
NAME = Path(pattern=r"^[a-z0-9_]{1,40}$", description="Portfolio name, e.g. equal_weight")
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "Unknown portfolio, or a forecaster that issues none for it (says why)"},
    503: {"model": ErrorOut, "description": "Nothing published yet"},
}


def forecast_service(request: Request) -> ForecastService:
    return request.app.state.services.get("ForecastService")


def _unavailable(exc: Exception) -> HTTPException:
    if isinstance(exc, (UnknownPortfolioError, ForecastNotIssuedError)):
        return HTTPException(404, str(exc))
    return HTTPException(503, str(exc))


@router.get(
    "/portfolio/{name}/forecast",
    response_model=PortfolioForecastOut,
    responses=ERRORS,
    summary="5th/50th/95th percentile projections of a portfolio's equity",
)
def get_forecast(
    service: Annotated[ForecastService, Depends(forecast_service)],
    name: Annotated[str, NAME],
    horizon: Annotated[int | None, Query(description="Trading sessions ahead (default: every horizon)")] = None,
    model: Annotated[
        ForecasterName | None,
        Query(description="Forecaster (default: each horizon's champion, chosen by the selection rule)"),
    ] = None,
) -> PortfolioForecastOut:
    try:
        forecast = service.forecast(name, model=model, horizon=horizon)
    except BadHorizonError as exc:
        raise HTTPException(422, str(exc)) from None
    except (UnknownPortfolioError, ForecastNotIssuedError, ForecastsUnavailableError, SignalsUnavailableError) as exc:
        raise _unavailable(exc) from None
    # Built outside the try: a body that fails its own schema is a server fault (500), not the caller's 422.
    return PortfolioForecastOut(**forecast)


@router.get(
    "/portfolio/{name}/forecast/evaluation",
    response_model=ForecastEvaluationOut,
    responses=ERRORS,
    summary="How past forecasts of the portfolio scored",
)
def get_evaluation(
    service: Annotated[ForecastService, Depends(forecast_service)], name: Annotated[str, NAME]
) -> ForecastEvaluationOut:
    try:
        return ForecastEvaluationOut(**service.evaluation(name))
    except (UnknownPortfolioError, SignalsUnavailableError) as exc:
        raise _unavailable(exc) from None

"""GET /backtests/latest: the newest backtest of the champion's signals against its baselines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request

from featurecast.api.schemas import BacktestOut, ErrorOut
from featurecast.api.services import BacktestService, BacktestsUnavailableError

router = APIRouter(tags=["backtests"])


def backtest_service(request: Request) -> BacktestService:
    return request.app.state.services.get("BacktestService")


@router.get(
    "/backtests/latest",
    response_model=BacktestOut,
    responses={503: {"model": ErrorOut, "description": "No backtest published yet"}},
    summary="The newest backtest: metrics per book and the Sharpe improvement with its interval",
)
def get_latest(service: Annotated[BacktestService, Depends(backtest_service)]) -> BacktestOut:
    try:
        return BacktestOut(**service.latest())
    except BacktestsUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None

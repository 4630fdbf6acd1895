"""GET /signals/{symbol}: the latest (or an as-of) signal with its top feature contributions."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from featurecast.api.schemas import ErrorOut, SignalOut
from featurecast.api.services import MLSignalService, NoSignalError, SignalsUnavailableError, UnknownSymbolError

router = APIRouter(tags=["signals"])
SYMBOL_PATTERN = r"^[A-Za-z0-9^][A-Za-z0-9.\-^=]{0,19}$"


def signal_service(request: Request) -> MLSignalService:
    return request.app.state.services.get("MLSignalService")


@router.get(
    "/signals/{symbol}",
    response_model=SignalOut,
    responses={
        404: {"model": ErrorOut, "description": "Unknown symbol, or no signal on or before as_of"},
        503: {"model": ErrorOut, "description": "No serving snapshot published yet"},
    },
    summary="Direction signal for one symbol",
)
async def get_signal(
    service: Annotated[MLSignalService, Depends(signal_service)],
    symbol: Annotated[str, Path(pattern=SYMBOL_PATTERN, description="Ticker, e.g. IBM")],
    as_of: Annotated[date | None, Query(description="Signal on or before this date (default: latest)")] = None,
    k: Annotated[int, Query(ge=1, le=100, description="How many top contributions to return")] = 5,
) -> Response:
    try:
        body = service.signal_json(symbol.upper(), as_of, k)
    except UnknownSymbolError:
        raise HTTPException(404, f"unknown symbol {symbol.upper()!r}: no signals are published for it") from None
    except NoSignalError as exc:
        raise HTTPException(404, str(exc)) from None
    except SignalsUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    return Response(content=body, media_type="application/json")  # validated by SignalOut when rendered

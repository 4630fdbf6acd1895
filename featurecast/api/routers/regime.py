"""GET /market-data/regime: the current market regime, its probabilities and metadata, and history."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from featurecast.api.schemas import ErrorOut, RegimeOut
from featurecast.api.services import BadRegimeQueryError, RegimeService, RegimesUnavailableError, UnknownScopeError

router = APIRouter(tags=["regimes"])


def regime_service(request: Request) -> RegimeService:
    return request.app.state.services.get("RegimeService")


@router.get(
    "/market-data/regime",
    response_model=RegimeOut,
    responses={
        404: {"model": ErrorOut, "description": "Unknown scope"},
        422: {"description": "Bad date range or limit"},
        503: {"model": ErrorOut, "description": "No regime labels yet"},
    },
    summary="Current market regime, with history on request",
)
def get_regime(
    service: Annotated[RegimeService, Depends(regime_service)],
    scope: Annotated[str, Query(pattern=r"^[a-z0-9_\-]{1,40}$", description="Regime scope")] = "market",
    start: Annotated[date | None, Query(description="History from this date (inclusive)")] = None,
    end: Annotated[date | None, Query(description="History up to this date (inclusive)")] = None,
    limit: Annotated[int | None, Query(ge=1, le=5000, description="Newest N days of history")] = None,
    labelling: Annotated[
        Literal["point_in_time", "in_sample"],
        Query(
            description="point_in_time (default): each day by the model current then; "
            "in_sample: the current model's relabelling"
        ),
    ] = "point_in_time",
) -> Response:
    try:
        body = service.regime_json(scope, start=start, end=end, limit=limit, labelling=labelling)
    except BadRegimeQueryError as exc:
        raise HTTPException(422, str(exc)) from None
    except UnknownScopeError:
        raise HTTPException(404, f"unknown regime scope {scope!r}; known: market") from None
    except RegimesUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    return Response(content=body, media_type="application/json")  # validated by RegimeOut when rendered

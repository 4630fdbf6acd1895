"""GET /features/{symbol}: a symbol's features as of a date, from the serving snapshot (online store)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, Response

from featurecast.api.routers.signals import SYMBOL_PATTERN
from featurecast.api.schemas import ErrorOut, FeaturesOut
from featurecast.api.services import SignalsUnavailableError, UnknownSymbolError
from featurecast.api.services.features import FeatureService, NoFeaturesError, UnknownFeatureError

router = APIRouter(tags=["features"])
NAMES_PATTERN = r"^[A-Za-z0-9_, ]*$"


def feature_service(request: Request) -> FeatureService:
    return request.app.state.services.get("FeatureService")


@router.get(
    "/features/{symbol}",
    response_model=FeaturesOut,
    responses={
        404: {"model": ErrorOut, "description": "Unknown symbol, or no bar on or before as_of in the snapshot"},
        422: {"description": "Unknown feature names (with near matches), or malformed parameters"},
        503: {"model": ErrorOut, "description": "No serving snapshot published yet"},
    },
    summary="Features of one symbol as of a date (online feature store)",
)
async def get_features(
    service: Annotated[FeatureService, Depends(feature_service)],
    symbol: Annotated[str, Path(pattern=SYMBOL_PATTERN, description="Ticker, e.g. IBM")],
    names: Annotated[
        str | None,
        Query(
            max_length=4000,
            pattern=NAMES_PATTERN,
            description="Comma-separated feature names (default: every feature); see `featurecast features list`",
        ),
    ] = None,
    as_of: Annotated[
        date | None, Query(description="Values from the newest bar on or before this date (default: latest)")
    ] = None,
) -> Response:
    wanted = [n.strip() for n in names.split(",") if n.strip()] if names else None
    try:
        body = service.features_json(symbol.upper(), wanted, as_of)
    except UnknownFeatureError as exc:
        raise HTTPException(422, str(exc)) from None
    except (UnknownSymbolError, NoFeaturesError) as exc:
        raise HTTPException(404, str(exc)) from None
    except SignalsUnavailableError as exc:
        raise HTTPException(503, str(exc)) from None
    return Response(content=body, media_type="application/json")  # shaped as FeaturesOut

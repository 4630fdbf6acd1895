"""GET /dashboard (the page), /dashboard/kpis (the KPI panel as JSON) and the page's local plotly.js."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import plotly
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, HTMLResponse

from featurecast.api.schemas import DashboardKpisOut
from featurecast.api.services import DashboardService

router = APIRouter(tags=["dashboard"])
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def dashboard_service(request: Request) -> DashboardService:
    return request.app.state.services.get("DashboardService")


@router.get("/dashboard/kpis", response_model=DashboardKpisOut, summary="Regime metadata and the KPI panel")
def get_kpis(service: Annotated[DashboardService, Depends(dashboard_service)]) -> Response:
    return Response(content=service.kpis_json(), media_type="application/json")  # validated when rendered


@router.get(
    "/dashboard",
    response_class=HTMLResponse,
    summary="The dashboard page: KPI panel, regime timeline, forecast fan, calibration, backtest, signals",
)
def get_dashboard(service: Annotated[DashboardService, Depends(dashboard_service)]) -> HTMLResponse:
    return HTMLResponse(service.page())


@router.get("/dashboard/plotly.min.js", include_in_schema=False)
def get_plotly_js() -> FileResponse:
    """The plotly.js bundled with the plotly package, so the page works offline."""
    return FileResponse(PLOTLY_JS, media_type="application/javascript", headers={"Cache-Control": "max-age=86400"})

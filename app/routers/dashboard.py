"""GET /dashboard/kpis: regime metadata beside the KPI panel."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from app.schemas import DashboardKpisOut
from app.services import DashboardService

router = APIRouter(tags=["dashboard"])


def dashboard_service(request: Request) -> DashboardService:
    return request.app.state.services.get("DashboardService")


@router.get("/dashboard/kpis", response_model=DashboardKpisOut, summary="Regime metadata and the KPI panel")
def get_kpis(service: Annotated[DashboardService, Depends(dashboard_service)]) -> DashboardKpisOut:
    return DashboardKpisOut(**service.kpis())

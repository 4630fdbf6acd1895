"""The FastAPI application. Start it with `featurecast serve` (uvicorn on 127.0.0.1:8000)."""

from __future__ import annotations

import os
from importlib.metadata import version as package_version
from typing import Any, cast

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi_offline import FastAPIOffline

from featurecast.api.protocol import HeadAsGet, SignalFastPath, validation_error
from featurecast.api.routers import backtests, dashboard, features, portfolio, regime, signals
from featurecast.api.services import (
    BacktestService,
    DashboardService,
    ForecastService,
    MLSignalService,
    PortfolioService,
    RegimeService,
    ServiceFactory,
)
from featurecast.api.services.features import FeatureService
from featurecast.api.snapshot import SnapshotStore
from featurecast.config import Settings


def build_services(settings: Settings, *, check_interval: float = 1.0) -> ServiceFactory:
    """Register every service by name; each is built on first use."""
    from ml.regimes.store import open_store

    factory = ServiceFactory()
    store = SnapshotStore(settings.serving_dir, check_interval=check_interval)
    factory.register(
        "MLSignalService",
        lambda: MLSignalService(
            store, max_data_age_days=settings.max_data_age_days, max_sessions_behind=settings.max_sessions_behind
        ),
    )
    factory.register(
        "RegimeService",
        lambda: RegimeService(
            lambda: open_store(settings.mongodb_uri, settings.regime_store_dir, reader=True),
            check_interval=check_interval,
            background=True,
        ),
    )
    factory.register(
        "FeatureService",
        lambda: FeatureService(
            store, max_data_age_days=settings.max_data_age_days, max_sessions_behind=settings.max_sessions_behind
        ),
    )
    factory.register("PortfolioService", lambda: PortfolioService(store))
    factory.register("ForecastService", lambda: ForecastService(store, factory.get("PortfolioService")))
    factory.register("BacktestService", lambda: BacktestService(store))
    factory.register(
        "DashboardService",
        lambda: DashboardService(
            factory.get("MLSignalService"), factory.get("RegimeService"), factory.get("BacktestService")
        ),
    )
    return factory


def create_app(settings: Settings | None = None, services: ServiceFactory | None = None) -> FastAPI:
    settings = settings or Settings.from_env()
    # FastAPIOffline: /docs and /redoc load Swagger UI and ReDoc from the app, not from a CDN.
    app = FastAPIOffline(
        title="featurecast",
        version=package_version("featurecast"),
        description="Features, predictive signals and market regimes over the featurecast feature store. Features and "
        "signals are "
        "read from a published serving snapshot and regimes from the regime store; nothing is computed per "
        "request.",
    )
    app.state.services = services or build_services(settings)
    # Starlette types handlers as taking any Exception; this one is registered for RequestValidationError only.
    app.add_exception_handler(RequestValidationError, cast(Any, validation_error))
    app.add_middleware(HeadAsGet)
    app.add_middleware(SignalFastPath)  # outermost: the hottest route skips the framework
    app.include_router(signals.router)
    app.include_router(features.router)
    app.include_router(regime.router)
    app.include_router(portfolio.router)
    app.include_router(backtests.router)
    app.include_router(dashboard.router)

    @app.get("/health", tags=["meta"], summary="Liveness, the registered services, and what this worker serves")
    async def health() -> dict[str, object]:
        # async: answered on the event loop, never queued behind busy handlers in the thread pool
        # pid and snapshot tell an operator which worker answered and whether it follows CURRENT.
        snapshot = app.state.services.get("MLSignalService").store.current()
        return {
            "status": "ok",
            "services": app.state.services.names(),
            "pid": os.getpid(),
            "snapshot": snapshot.name if snapshot else None,
        }

    return app

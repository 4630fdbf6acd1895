"""The services behind the API, one module per route family, each registered by name in the
ServiceFactory (routes never build services themselves):

- `factory`: the ServiceFactory;
- `signals`: MLSignalService, `/signals/{symbol}`;
- `features`: FeatureService, `/features/{symbol}` (the online feature store);
- `regimes`: RegimeService, `/market-data/regime`;
- `portfolio`: PortfolioService and ForecastService, `/portfolio/{name}/forecast[/evaluation]`;
- `backtests`: BacktestService, `/backtests/latest`;
- `dashboard`: DashboardService, `/dashboard` and `/dashboard/kpis`;
- `common`: what they share (the no-snapshot contract, freshness, the rendered-body cache).

The names below are re-exported so callers import from `featurecast.api.services`.
"""

from featurecast.api.services.backtests import BacktestService, BacktestsUnavailableError
from featurecast.api.services.common import (
    NO_SNAPSHOT,
    FreshnessAwareService,
    RenderedBodies,
    SignalsUnavailableError,
    UnknownSymbolError,
)
from featurecast.api.services.dashboard import DashboardService, dashboard_page
from featurecast.api.services.factory import ServiceFactory, UnknownServiceError
from featurecast.api.services.features import FeatureService, NoFeaturesError, UnknownFeatureError
from featurecast.api.services.portfolio import (
    BadHorizonError,
    ForecastNotIssuedError,
    ForecastService,
    ForecastsUnavailableError,
    PortfolioService,
    UnknownPortfolioError,
)
from featurecast.api.services.regimes import (
    BadRegimeQueryError,
    RegimeService,
    RegimesUnavailableError,
    RegimeView,
    UnknownScopeError,
)
from featurecast.api.services.signals import Contribution, MLSignalService, NoSignalError, Signal

__all__ = [
    "NO_SNAPSHOT",
    "BacktestService",
    "BacktestsUnavailableError",
    "BadHorizonError",
    "BadRegimeQueryError",
    "Contribution",
    "DashboardService",
    "FeatureService",
    "ForecastNotIssuedError",
    "ForecastService",
    "ForecastsUnavailableError",
    "FreshnessAwareService",
    "MLSignalService",
    "NoFeaturesError",
    "NoSignalError",
    "PortfolioService",
    "RegimeService",
    "RegimeView",
    "RegimesUnavailableError",
    "RenderedBodies",
    "ServiceFactory",
    "Signal",
    "SignalsUnavailableError",
    "UnknownFeatureError",
    "UnknownPortfolioError",
    "UnknownScopeError",
    "UnknownServiceError",
    "UnknownSymbolError",
    "dashboard_page",
]

"""featurecast: a SQL-first feature store with signals, regimes and forecasts over daily market data.

main job      featurecast run                         daily_refresh on the embedded synthetic market
flows         featurecast flow daily-refresh|train-models|serve
ingest        featurecast ingest synthetic|csv|alphavantage ...
build         featurecast build [--full-refresh] [--selector S] | release SYMBOL DATE RULE --reason ... | docs
features      featurecast features list [--family F] | sync [--check]  (Python: featurecast.features)
signals       featurecast signals train|promote VERSION|score           (D1)
regimes       featurecast regimes refresh [--refit]                     (D2)
forecasts     featurecast forecasts issue [--full]                      (D3)
backtest      featurecast backtest [--k 5 --cost-bps 5 ...]
serve         featurecast publish | serve | openapi | screenshot
admin         featurecast sql "select ..." | calendar | config

Exit codes: 0 done; 1 a step failed (the failing rules are printed); 2 input rejected, nothing written;
3 usage or configuration error; 4 not ready (run an earlier step first); 5 busy (another command holds
the warehouse); 70 unexpected error (traceback in $FEATURECAST_DATA_DIR/logs/cli-errors.log);
130 interrupted.
"""

from featurecast.cli.main import build_parser, main

__all__ = ["build_parser", "main"]

"""`featurecast forecasts issue`: percentile forecasts and the evaluation of past ones (D3)."""

from __future__ import annotations

import argparse

from featurecast.cli.shared import writer_action
from featurecast.config import Settings
from featurecast.marts import mart_reader, write_back


def issue(args: argparse.Namespace, settings: Settings) -> int:
    from dbt_project.runner import EVALUATION_SELECTOR, build
    from ml.forecasts.issue import issue_forecasts

    marts = mart_reader(settings)
    report = issue_forecasts(settings.warehouse_path, full=args.full, marts=marts)
    write_back(settings, "forecasts")
    build(settings, selector=EVALUATION_SELECTOR, quiet=True, target=settings.dbt_target)
    rows = marts.rows(
        "select c.horizon, c.model, c.coverage_5_95, c.hit_rate_q05, c.mean_pinball_q50, v.kupiec_pass "
        "from marts.fct_forecast_calibration c join marts.fct_var_backtest v using (portfolio, model_version, "
        "horizon) where c.portfolio = 'equal_weight' order by c.horizon, c.model"
    )
    print(
        f"forecasts: {report.forecasts:,} issued for {report.new_issue_dates:,} new issue dates of "
        f"{', '.join(report.portfolios)}, up to {report.latest_issue_date:%Y-%m-%d}, in {report.seconds:.1f} s; "
        "evaluated in marts.fct_forecast_calibration:"
    )
    for note in report.full:
        print(f"  re-issued {note}")
    for horizon, model, coverage, q05, pinball, kupiec in rows:
        print(
            f"  {horizon:>2} sessions {model:<10} 5-95 coverage {coverage:.1%} (target 90%), q05 hit {q05:.1%}, "
            f"median pinball {pinball:.4f}, Kupiec {'pass' if kupiec else 'FAIL'}"
        )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = "issue percentile forecasts and evaluate past ones (D3)"
    leaf = writer_action(sub, "forecasts", help_, "issue", "issue forecasts and rebuild their evaluation", issue)
    leaf.add_argument(
        "--full", action="store_true", help="re-issue every date (default: only the dates not issued yet)"
    )

"""`featurecast regimes refresh`: the daily regime batch (D2), persisted to MongoDB and DuckDB."""

from __future__ import annotations

import argparse

from featurecast.cli.shared import writer_action
from featurecast.config import Settings
from featurecast.marts import mart_reader, write_back


def refresh(args: argparse.Namespace, settings: Settings) -> int:
    from ml.regimes.refresh import refresh_regimes
    from ml.regimes.store import open_store

    store, client = open_store(settings.mongodb_uri, settings.regime_store_dir)
    try:
        report = refresh_regimes(
            settings.warehouse_path,
            store,
            refit=args.refit,
            marts=mart_reader(settings),
            **settings.regime_options(),
        )
    finally:
        client.close()
    write_back(settings, "regimes")
    probabilities = ", ".join(f"{name} {p:.2f}" for name, p in report.latest_probabilities.items())
    where = "MongoDB" if settings.mongodb_uri else f"the embedded store {settings.regime_store_dir}"
    print(
        f"regimes: {report.latest_date} is {report.latest_regime} ({probabilities}); model {report.model_version}"
        f"{' (fitted now)' if report.fitted else ''}; {report.days_written} days written to {where} and DuckDB "
        f"in {report.seconds:.2f} s"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    help_ = "the daily regime batch: label new days, persist to MongoDB"
    refresher = writer_action(sub, "regimes", help_, "refresh", "label the days not labelled yet", refresh)
    refresher.add_argument("--refit", action="store_true", help="fit a new model version first")

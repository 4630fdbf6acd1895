"""MarketDataService: the plan's market-data entry point. Fetch from a provider, land in the warehouse.

Each ingest is all-or-nothing: every symbol is fetched and validated before one transaction lands
the batch, so a provider failure on the last symbol leaves the warehouse exactly as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from featurecast.config import Settings
from featurecast.marketdata.alphavantage import AlphaVantageClient, fetch_many
from featurecast.marketdata.csv_import import read_ohlcv_csv
from featurecast.marketdata.errors import EmptyDataError, InvalidValueError
from featurecast.marketdata.landing import LoadReport, declare_role, declare_volume, land
from featurecast.marketdata.synthetic import DefectSpec, SyntheticSpec, generate, inject_defects
from featurecast.marketdata.validation import normalize_symbol


class MarketDataService:
    """Ingests daily OHLCV from the synthetic, Alpha Vantage and CSV providers into `raw.daily_ohlcv`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def default_synthetic_spec(self) -> SyntheticSpec:
        s = self.settings
        return SyntheticSpec(
            n_symbols=s.synthetic_symbols, years=s.synthetic_years, end=s.synthetic_end, seed=s.synthetic_seed
        )

    def ingest_synthetic(
        self, spec: SyntheticSpec | None = None, *, defects: DefectSpec | None = None, last_sessions: int | None = None
    ) -> LoadReport:
        """Land the synthetic market (optionally with injected defects, or only its last N sessions)."""
        spec = spec or self.default_synthetic_spec()
        prices = generate(spec).prices
        if defects is not None:
            prices, _ = inject_defects(prices, defects)
        if last_sessions is not None:
            keep = sorted(prices["date"].unique())[-last_sessions:]
            prices = prices[prices["date"].isin(keep)]
        parameters = {
            "n_symbols": spec.n_symbols,
            "years": spec.years,
            "seed": spec.seed,
            "end": spec.end,
            "defects": defects is not None,
            "last_sessions": last_sessions,
        }
        return land(self.settings.warehouse_path, prices, source="synthetic", parameters=parameters)

    def ingest_csv(
        self,
        paths: Iterable[Path],
        *,
        symbol: str | None = None,
        mapping: Mapping[str, str] | None = None,
        ignore: Iterable[str] = (),
        source: str = "csv",
        date_format: str | None = None,
        has_volume: bool | None = None,
        declared_by: str = "featurecast",
        wide: bool | None = None,
        benchmarks: Iterable[str] = (),
    ) -> LoadReport:
        """Land one or more CSV files as one batch (all files or none).

        `has_volume=False` declares the files' symbols as having no traded volume (an index), `True` as
        having one; `None` leaves it to auto-detection (see int_symbols_classified). `wide` is the layout
        (None: found from each header; see csv_import). `benchmarks` names symbols of these files that are
        benchmarks, not holdings (declare_role). The report's notes say how each file was read.
        """
        paths = list(paths)
        if not paths:
            raise EmptyDataError("no CSV files given")
        frames = [
            read_ohlcv_csv(
                p,
                symbol=symbol,
                mapping=mapping,
                ignore=list(ignore),
                date_format=date_format,
                max_bytes=self.settings.import_max_bytes,
                max_rows=self.settings.import_max_rows,
            )
            for p in paths
        ]
        chosen = sorted({normalize_symbol(b) for b in benchmarks})
        present = set().union(*(set(f["symbol"].astype(str).str.strip().str.upper().unique()) for f in frames))
        absent = [b for b in chosen if b not in present]
        if absent:
            raise InvalidValueError(
                f"--benchmark {', '.join(absent)}: not a symbol of the file(s) given (they hold "
                f"{', '.join(sorted(present)[:10])}{' and more' if len(present) > 10 else ''})"
            )
        notes = tuple(_layout_note(p.name, f) for p, f in zip(paths, frames, strict=True))
        report = land(
            self.settings.warehouse_path,
            frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True),
            source=source,
            parameters={
                "files": [str(p) for p in paths],
                "date_format": date_format,
                "has_volume": has_volume,
                "layouts": [f.attrs.get("layout") for f in frames],
                "benchmarks": chosen,
            },
        )
        if has_volume is not None:
            declare_volume(self.settings.warehouse_path, report.symbols, has_volume, declared_by=declared_by)
        if chosen:
            declare_role(self.settings.warehouse_path, chosen, "benchmark", declared_by=declared_by)
        return replace(report, notes=notes)

    def ingest_alphavantage(
        self, symbols: Iterable[str], *, adjusted: bool = True, outputsize: str = "compact", datatype: str = "json"
    ) -> LoadReport:
        """Fetch each symbol from Alpha Vantage, then land them all as one batch."""
        client = AlphaVantageClient(self.settings)
        function = "TIME_SERIES_DAILY_ADJUSTED" if adjusted else "TIME_SERIES_DAILY"
        try:
            frame = fetch_many(client, symbols, function=function, outputsize=outputsize, datatype=datatype)
        finally:
            client.close()
        return land(
            self.settings.warehouse_path,
            frame,
            source="alphavantage",
            parameters={"function": function, "outputsize": outputsize, "datatype": datatype},
        )


def _layout_note(name: str, frame: pd.DataFrame) -> str:
    """One line on how a file was read: its layout and what that means for the features."""
    symbols = sorted(frame["symbol"].astype(str).unique())
    shown = ", ".join(symbols[:6]) + (f" and {len(symbols) - 6} more" if len(symbols) > 6 else "")
    layout = frame.attrs.get("layout", "ohlcv")
    if layout == "wide":
        return (
            f"{name}: read as a wide file, one close per symbol and date ({len(symbols)} symbols: {shown}); "
            "close-only bars: the range features are null for them (docs/ingest.md)"
        )
    if layout == "close_only":
        return (
            f"{name}: read as close-only bars ({shown}): no open, high or low, so the range features are null "
            "for them (docs/ingest.md)"
        )
    return f"{name}: read as OHLCV bars ({shown})"

"""Point-in-time feature retrieval for notebooks and training jobs (Feast's get_historical_features).

    from featurecast.features import get_historical_features
    frame = get_historical_features(entities, ["ret_21d", "rsi_14", "mkt_vol_21d"], max_age="7D")

`entities` is a frame with `symbol` and `timestamp`. Each row gets, for each requested feature, the value
from the newest bar that was *known* at `timestamp`: a bar dated d is known from d's close, 16:00 in New
York. So a timestamp at 15:59 on d gets d-1's bar and one at 16:00 gets d's; nothing dated after the
timestamp can appear. A naive timestamp is New York time; an aware one is converted. `at_close=True` reads
each timestamp as "after that day's close" (for entities given as dates). The bar used is returned as
`feature_date`; a value whose bar is older than `max_age` (a pandas Timedelta string such as "7D") is NULL,
as is everything before a symbol's first bar. Per-symbol features come from marts.fct_daily_features and
market-wide ones from marts.fct_market_features, both as of the same instant.

It reads the analysts' copy of the warehouse (never blocking the nightly build) when one is published,
else the warehouse, read-only. Unknown feature or symbol names raise `FeatureLookupError` with near matches.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from featurecast.config import Settings
from featurecast.errors import NotReadyError

SYMBOL_MART = "marts.fct_daily_features"
MARKET_MART = "marts.fct_market_features"
EXCHANGE_TZ = "America/New_York"
CLOSE = pd.Timedelta(hours=16)
NOT_FEATURES = {"symbol", "date", "source_loaded_at", "market_series", "volume_status", "price_fields"}


class FeatureLookupError(ValueError):
    """A requested feature or symbol does not exist; the message lists the nearest names."""


def _near(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def _source(settings: Settings, source: Path | None) -> Path:
    if source is not None:
        return Path(source)
    if settings.analyst_copy_path.exists():
        return settings.analyst_copy_path
    return settings.warehouse_path


def _columns(con: duckdb.DuckDBPyConnection, mart: str) -> list[str]:
    schema, table = mart.split(".")
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in NOT_FEATURES]


def _known_through(timestamps: pd.Series, at_close: bool) -> pd.Series:
    """The newest bar date known at each timestamp (a bar dated d is known from d 16:00 New York)."""
    stamps = pd.to_datetime(pd.Series(timestamps), errors="raise", format="ISO8601")
    local = stamps if stamps.dt.tz is None else stamps.dt.tz_convert(EXCHANGE_TZ).dt.tz_localize(None)
    if at_close:
        local = local.dt.normalize() + CLOSE
    return local, (local - CLOSE).dt.normalize()


def get_historical_features(
    entities: pd.DataFrame,
    features: Sequence[str],
    *,
    max_age: str | pd.Timedelta | None = None,
    at_close: bool = False,
    source: Path | None = None,
    settings: Settings | None = None,
    as_arrow: bool = False,
) -> Any:
    """Each entity row (symbol, timestamp) with `feature_date` and every feature as known at `timestamp`."""
    settings = settings or Settings.from_env()
    missing = {"symbol", "timestamp"} - set(entities.columns)
    if missing:
        raise FeatureLookupError(f"entities need columns symbol and timestamp; missing: {', '.join(sorted(missing))}")
    if not features:
        raise FeatureLookupError("name at least one feature (featurecast features list shows them)")
    try:
        local, known = _known_through(entities["timestamp"], at_close)
    except (ValueError, TypeError) as exc:
        raise FeatureLookupError(f"timestamps must be dates or datetimes: {exc}") from None
    if known.isna().any():
        raise FeatureLookupError("timestamps must not be missing")
    path = _source(settings, source)
    if not path.exists():
        raise NotReadyError(f"no warehouse at {path}: run `featurecast run` first")
    con = duckdb.connect(str(path), read_only=True)
    try:
        per_symbol, market = _columns(con, SYMBOL_MART), _columns(con, MARKET_MART)
        unknown = [f for f in features if f not in per_symbol and f not in market]
        if unknown:
            raise FeatureLookupError(
                "unknown feature(s): " + "; ".join(f"{f!r}{_near(f, per_symbol + market)}" for f in unknown)
            )
        symbols = [s[0] for s in con.execute(f"select distinct symbol from {SYMBOL_MART}").fetchall()]
        wanted = entities["symbol"].astype(str).str.upper()
        strangers = sorted(set(wanted) - set(symbols))
        if strangers:
            raise FeatureLookupError(
                "unknown symbol(s): " + "; ".join(f"{s!r}{_near(s, symbols)}" for s in strangers[:10])
            )
        keys = pd.DataFrame({"_row": range(len(entities)), "symbol": wanted.to_numpy(), "known": known.dt.date})
        con.register("entity_keys", keys)
        mine = [f for f in features if f in per_symbol]
        theirs = [f for f in features if f not in per_symbol]
        select = ", ".join([f'f."{c}"' for c in mine] + [f'm."{c}"' for c in theirs])
        joined = con.execute(
            f"""
            select e._row, f.date as feature_date, m.date as market_date{', ' + select if select else ''}
            from entity_keys e
            asof left join {SYMBOL_MART} f on e.symbol = f.symbol and e.known >= f.date
            asof left join {MARKET_MART} m on e.known >= m.date
            order by e._row
            """
        ).df()
    finally:
        con.close()
    feature_date = pd.to_datetime(joined["feature_date"])
    market_date = pd.to_datetime(joined["market_date"])
    if max_age is not None:
        limit = pd.Timedelta(max_age)
        age = local.to_numpy() - (feature_date + CLOSE).to_numpy()
        joined.loc[age > limit, mine] = None
        market_age = local.to_numpy() - (market_date + CLOSE).to_numpy()
        joined.loc[market_age > limit, theirs] = None
    out = entities.reset_index(drop=True).copy()
    out["feature_date"] = feature_date.dt.date
    for name in features:
        out[name] = joined[name].to_numpy()
    if as_arrow:
        import pyarrow as pa

        return pa.Table.from_pandas(out, preserve_index=False)
    return out


def list_features(settings: Settings | None = None) -> pd.DataFrame:
    """Every feature of the feature marts: name, mart, family, type, lookback (rows) and description, read
    from the dbt manifest of the last build; `derives_from` (raw columns, by sqlglot lineage) when the
    feature specification's manifest is there (`featurecast docs` writes it)."""
    import json

    from dbt_project.feature_spec import FEATURE_MARTS, build_specs

    settings = settings or Settings.from_env()
    manifest = settings.data_dir / "dbt_target" / "manifest.json"
    if not manifest.exists():
        raise NotReadyError(f"no dbt manifest at {manifest}: run `featurecast build` (or `featurecast run`) first")
    nodes = json.loads(manifest.read_text())["nodes"]
    lineage: dict[tuple[str, str], str] = {}
    spec_manifest = settings.data_dir / "dbt_spec_target" / "manifest.json"
    if spec_manifest.exists():
        try:
            lineage = {(s.mart, s.name): ", ".join(s.derives_from) for s in build_specs(spec_manifest)}
        except ValueError:  # an older or partial spec manifest: list without lineage
            lineage = {}
    rows = []
    for mart in FEATURE_MARTS:
        for name, column in nodes[f"model.featurecast.{mart}"]["columns"].items():
            meta = column.get("meta") or {}
            if not meta.get("feature"):
                continue
            rows.append(
                {
                    "name": name,
                    "mart": f"marts.{mart}",
                    "family": meta.get("family", ""),
                    "type": column.get("data_type") or "",
                    "lookback_rows": meta.get("lookback_rows"),
                    "derives_from": lineage.get((mart, name), "(run `featurecast docs`)" if not lineage else ""),
                    "description": " ".join((column.get("description") or "").split()),
                }
            )
    return pd.DataFrame(rows)

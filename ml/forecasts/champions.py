"""Which forecaster each (portfolio, horizon) serves: the champion `marts.fct_forecaster_selection` names
by the written rule, or the baseline where nothing has matured to judge yet. Everything that shows or uses
a forecast (the run summary, the backtest's risk gate, the API) asks here or reads the same mart."""

from __future__ import annotations

from dataclasses import dataclass

from featurecast.marts import MartReader
from ml.forecasts.names import BASELINE


@dataclass(frozen=True)
class Served:
    model: str
    why: str  # "champion", "champion; none passes the rule yet" or "baseline; nothing matured to judge yet"


def served_forecasters(marts: MartReader) -> dict[tuple[str, int], Served]:
    """(portfolio, horizon) -> the forecaster served there; empty when the selection mart is not built."""
    try:
        rows = marts.frame(
            "select portfolio, horizon, model, eligible from marts.fct_forecaster_selection where is_champion"
        )
    except Exception:  # no evaluation build yet (a first run, another engine's session): nothing chosen
        return {}
    return {
        (str(r.portfolio), int(r.horizon)): Served(
            str(r.model), "champion" if bool(r.eligible) else "champion; none passes the rule yet"
        )
        for r in rows.itertuples(index=False)
    }


def served(choices: dict[tuple[str, int], Served], portfolio: str, horizon: int) -> Served:
    return choices.get((portfolio, horizon)) or Served(BASELINE, "baseline; nothing matured to judge yet")

"""The dashboard page: the KPI panel and the charts analysts look at, as one self-contained HTML page.

Charts are Plotly figures built here from the serving snapshot and the regime store; the page loads
plotly.min.js from the app itself (the copy the plotly package ships), so viewing it needs no internet.
Each chart marks itself `data-rendered` with its trace count once Plotly has drawn it, and the page sets
`data-ready` on <body> when every chart is done: the headless-browser test reads those marks.
"""

from __future__ import annotations

import html
import json
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from featurecast.api.snapshot import Snapshot
from ml.forecasts.names import BASELINE

REGIME_COLOURS = ["#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#b279a2"]
LAYOUT = {"margin": {"l": 50, "r": 20, "t": 40, "b": 40}, "height": 360, "template": "plotly_white"}


def _regime_timeline(equity: pd.DataFrame, regimes: pd.DataFrame) -> go.Figure:
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.8, 0.2], vertical_spacing=0.04)
    fig.add_trace(
        go.Scatter(x=equity["date"], y=equity["equity"], name="equal_weight equity", line={"color": "#333"}),
        row=1,
        col=1,
    )
    for i, (name, group) in enumerate(regimes.groupby("regime", sort=True)):
        colour = REGIME_COLOURS[i % len(REGIME_COLOURS)]
        on_equity = equity.merge(group[["date"]], on="date")
        # The regime's days as markers on the equity curve (row 1) and its probability below (row 2).
        for row, frame, column in ((1, on_equity, "equity"), (2, group, "probability")):
            fig.add_trace(
                go.Scatter(
                    x=frame["date"],
                    y=frame[column],
                    mode="markers",
                    name=name,
                    marker={"color": colour, "size": 4},
                    legendgroup=name,
                    showlegend=row == 1,
                ),
                row=row,
                col=1,
            )
    fig.update_layout(title="Market regime over the equal-weight equity curve", **LAYOUT)
    fig.update_yaxes(title_text="equity", row=1, col=1)
    fig.update_yaxes(title_text="P(regime)", range=[0, 1], row=2, col=1)
    return fig


def _fan_chart(equity: pd.DataFrame, evaluation: pd.DataFrame, latest: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    recent = equity.tail(252)
    fig.add_trace(go.Scatter(x=recent["date"], y=recent["equity"], name="realised equity", line={"color": "#333"}))
    past = evaluation[evaluation["horizon"] == 5]
    past = past[past["target_date"] >= recent["date"].min()].merge(
        equity.rename(columns={"date": "issue_date", "equity": "equity_at_issue"}), on="issue_date"
    )
    if not past.empty:
        for q, name in (("q95", "past 5-session 95%"), ("q05", "past 5-session 5%")):
            fig.add_trace(
                go.Scatter(
                    x=past["target_date"],
                    y=past["equity_at_issue"] * np.exp(past[q]),
                    name=name,
                    line={"color": "#9ecae9", "width": 1},
                )
            )
    if not latest.empty:
        rows = latest.sort_values("horizon")
        start = rows["issue_date"].iloc[0]
        level = float(rows["equity_at_issue"].iloc[0])
        x = [start, *rows["target_date"]]
        upper = [level, *rows["equity_q95"]]
        lower = [level, *rows["equity_q05"]]
        fig.add_trace(go.Scatter(x=x, y=upper, name="forecast 95%", line={"color": "#f58518", "dash": "dot"}))
        fig.add_trace(
            go.Scatter(
                x=x,
                y=lower,
                name="forecast 5%",
                fill="tonexty",
                fillcolor="rgba(245,133,24,0.2)",
                line={"color": "#f58518", "dash": "dot"},
            )
        )
        fig.add_trace(
            go.Scatter(x=x, y=[level, *rows["equity_q50"]], name="forecast median", line={"color": "#e45756"})
        )
    fig.update_layout(
        title="Forecast fan (5/50/95, each horizon's champion) over realised equity, equal_weight", **LAYOUT
    )
    return fig


def _coverage_over_time(evaluation: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for horizon, group in evaluation.sort_values("issue_date").groupby("horizon"):
        rolling = group["in_band"].astype(float).rolling(63, min_periods=20).mean()
        fig.add_trace(go.Scatter(x=group["issue_date"], y=rolling, name=f"{horizon} sessions"))
    fig.add_hline(y=0.9, line={"dash": "dash", "color": "#888"}, annotation_text="target 90%")
    fig.update_layout(
        title="5-95 band coverage of the champions, rolling 63 forecasts", yaxis={"range": [0.5, 1.02]}, **LAYOUT
    )
    return fig


def _reliability(reliability: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], name="perfect", line={"dash": "dash", "color": "#888"}))
    usable = reliability.dropna(subset=["mean_predicted"])
    fig.add_trace(
        go.Scatter(
            x=usable["mean_predicted"],
            y=usable["observed"],
            mode="lines+markers",
            name="signal probabilities",
            text=usable["count"],
            marker={"size": 8},
        )
    )
    fig.update_layout(
        title="Reliability of the champion's calibrated probabilities (out of fold)",
        xaxis={"title": "predicted", "range": [0, 1]},
        yaxis={"title": "observed", "range": [0, 1]},
        **LAYOUT,
    )
    return fig


def _backtest(daily: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    for book, group in daily.groupby("book", sort=True):
        fig.add_trace(go.Scatter(x=group["date"], y=group["equity"], name=book))
    fig.update_layout(title="Backtest equity: the signal strategy against its baselines (net of costs)", **LAYOUT)
    return fig


def _kpi_cards(panel: dict[str, Any]) -> str:
    cards = []

    def card(title: str, value: str, detail: str) -> None:
        cards.append(
            f'<div class="card"><div class="title">{html.escape(title)}</div><div class="value">{html.escape(value)}'
            f'</div><div class="detail">{html.escape(detail)}</div></div>'
        )

    regime = panel.get("regime")
    if regime:
        probs = ", ".join(f"{k} {v:.2f}" for k, v in regime["probabilities"].items())
        z = regime.get("mean_return_z")
        verdict = "significant" if z is not None and abs(z) > 1.96 else "not significant"
        confidence = "" if z is None else f"; direction z {z:+.2f} ({verdict} at 5 %)"
        card("Market regime", regime["regime"], f"as of {regime['as_of']}: {probs}{confidence}")
    signals = panel.get("signals")
    if signals:
        detail = f"momentum baseline {signals['baseline_auc']:.3f} on the same rows"
        if signals.get("auc_difference_interval"):
            low, high = signals["auc_difference_interval"]
            detail += f" (difference {signals['auc_difference']:+.3f}, 90% {low:+.3f} to {high:+.3f})"
        detail += f"; rank IC {signals['rank_ic']:+.3f}"
        if signals.get("rank_icir") is not None:
            detail += (
                f"; Qlib: IC {signals['ic']:+.3f}, ICIR {signals['icir']:+.2f}, Rank IC {signals['rank_ic']:+.3f}, "
                f"Rank ICIR {signals['rank_icir']:+.2f} (baseline Rank IC {signals['baseline_rank_ic']:+.3f}, "
                f"Rank ICIR {signals['baseline_rank_icir']:+.2f})"
            )
        if signals.get("predicts_base_rate"):
            detail += "; predicts the base rate (no resolution)"
        card("Signal AUC (out of fold)", f"{signals['auc']:.3f}", detail)
    data = panel.get("data")
    if data:
        stale = len(data["stale_symbols"])
        card("Data", str(data["data_last_date"]), f"{data['age_days']} days old; {stale} stale symbols")
    for forecast in panel.get("forecasts") or []:
        if forecast["champion"] and forecast["portfolio"] == "equal_weight":
            verdict = "meets the selection rule" if forecast["eligible"] else "no forecaster meets the rule yet"
            card(
                f"Forecaster {forecast['horizon']} sessions: {forecast['model']}",
                f"{forecast['coverage_5_95']:.1%}",
                f"5-95 coverage, target 90%; q05 hit {forecast['hit_rate_q05']:.1%}; Kupiec "
                f"{'pass' if forecast['kupiec_pass'] else 'fail'}; {verdict}",
            )
    backtest = panel.get("backtest")
    if backtest:
        card(
            "Backtest Sharpe",
            f"{backtest['sharpe']:.2f}",
            f"buy-and-hold {backtest['buy_and_hold_sharpe']:.2f}; improvement "
            f"{backtest['sharpe_improvement_vs_buy_and_hold']:+.2f} "
            f"(90% CI {backtest['ci_low']:+.2f} to {backtest['ci_high']:+.2f})",
        )
    return "".join(cards) or '<div class="card">Nothing published yet: run <code>featurecast run</code>.</div>'


def _signal_table(snapshot: Snapshot, top: int = 3) -> str:
    rows = []
    for symbol, signals in sorted(snapshot.symbols.items()):
        contributions = signals.contributions[-1]
        order = np.argsort(-np.abs(contributions))[:top]
        tops = ", ".join(f"{snapshot.features[i]} {contributions[i]:+.3f}" for i in order)
        rows.append(
            f"<tr><td>{html.escape(symbol)}</td><td>{signals.dates[-1]!s}</td>"
            f"<td>{signals.probability[-1]:.3f}</td><td>{html.escape(tops)}</td></tr>"
        )
    return (
        '<table id="signal-table"><thead><tr><th>symbol</th><th>as of</th><th>probability</th>'
        f"<th>top contributions (log-odds)</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>featurecast dashboard</title>
<script src="/dashboard/plotly.min.js"></script>
<style>
body {{ font-family: system-ui, sans-serif; margin: 20px; color: #222; }}
.cards {{ display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 16px; }}
.card {{ border: 1px solid #ddd; border-radius: 6px; padding: 10px 14px; min-width: 180px; }}
.card .title {{ font-size: 12px; color: #666; }} .card .value {{ font-size: 22px; font-weight: 600; }}
.card .detail {{ font-size: 12px; color: #444; max-width: 320px; }}
.grid {{ display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }}
table {{ border-collapse: collapse; font-size: 13px; margin-top: 12px; }}
td, th {{ border-bottom: 1px solid #eee; padding: 3px 8px; text-align: left; }}
</style></head>
<body data-ready="false">
<h1>featurecast</h1>
<p>Snapshot {snapshot} &middot; model {model} &middot; data to {data_last_date}</p>
<div class="cards" id="kpis">{cards}</div>
<div class="grid">{charts}</div>
<h2>Signals</h2>
{table}
{figures}
<script>
const charts = Array.from(document.querySelectorAll("[data-figure]"));
Promise.all(charts.map((div) => {{
  const figure = JSON.parse(document.getElementById(div.dataset.figure).textContent);
  return Plotly.newPlot(div, figure.data, figure.layout, {{displaylogo: false, responsive: true}}).then(() => {{
    div.dataset.rendered = String(div.querySelectorAll("g.trace").length);
  }});
}})).then(() => {{ document.body.dataset.ready = "true"; }});
</script>
</body></html>
"""


def _champions_only(snapshot: Snapshot, forecasts: pd.DataFrame, portfolio: str = "equal_weight") -> pd.DataFrame:
    """The rows of each horizon's champion forecaster (the baseline where none is chosen yet)."""
    selection = snapshot.forecaster_selection
    chosen = selection[(selection["portfolio"] == portfolio) & selection["is_champion"]].set_index("horizon")["model"]
    mine = forecasts[forecasts["portfolio"] == portfolio]
    return mine[mine["model"] == mine["horizon"].map(chosen).fillna(BASELINE)]


def render_dashboard(panel: dict[str, Any], snapshot: Snapshot | None, regimes: list[dict[str, Any]]) -> str:
    """The whole page as HTML. With no snapshot it still renders, with the KPI panel saying so."""
    if snapshot is None:
        return PAGE.format(
            snapshot="none", model="none", data_last_date="-", cards=_kpi_cards(panel), charts="", table="", figures=""
        )
    equity = snapshot.portfolio_daily[snapshot.portfolio_daily["portfolio"] == "equal_weight"][["date", "equity"]]
    regime_frame = pd.DataFrame(regimes, columns=["date", "regime", "probability"])
    if not regime_frame.empty:
        regime_frame["date"] = pd.to_datetime(regime_frame["date"])
    evaluation = _champions_only(snapshot, snapshot.forecast_evaluation)
    latest = _champions_only(snapshot, snapshot.forecasts)
    figures = {
        "regime-timeline": _regime_timeline(equity, regime_frame),
        "forecast-fan": _fan_chart(equity, evaluation, latest),
        "coverage": _coverage_over_time(evaluation),
        "reliability": _reliability(snapshot.reliability),
        "backtest": _backtest(snapshot.backtest_daily),
    }
    charts = "".join(f'<div class="chart" id="{name}" data-figure="fig-{name}"></div>' for name in figures)
    payload = "".join(
        f'<script type="application/json" id="fig-{name}">{_safe_json(fig)}</script>' for name, fig in figures.items()
    )
    return PAGE.format(
        snapshot=html.escape(snapshot.name),
        model=html.escape(snapshot.model_version),
        data_last_date=snapshot.data_last_date,
        cards=_kpi_cards(panel),
        charts=charts,
        table=_signal_table(snapshot),
        figures=payload,
    )


def _safe_json(fig: go.Figure) -> str:
    """Figure JSON that cannot close its <script> element early."""
    return json.dumps(json.loads(fig.to_json())).replace("</", "<\\/")

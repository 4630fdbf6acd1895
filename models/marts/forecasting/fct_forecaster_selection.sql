-- The forecaster each (portfolio, horizon) serves by default, chosen by a written rule on its matured
-- out-of-sample forecasts, with the evidence. The rule (docs/forecasts.md, "The forecaster is earned"):
-- 1. Eligible: at least var('forecaster_min_independent') independent matured forecasts (every h-th
--    issue); 5-95 coverage within 0.90 +/- var('forecaster_coverage_tolerance'); the Kupiec test of the
--    5th percentile passes (LR < 3.841, p > 0.05); and no band outside the sanity bound: a 5th (95th)
--    percentile below (above) var('forecaster_sanity_multiple') times the worst (best) h-session log
--    return the portfolio had realised by the issue date, judged once var('forecaster_sanity_min_returns')
--    such returns exist (a young history's worst move is no yardstick).
-- 2. Among the eligible, the lowest mean CRPS (from the three pinball losses), then the lowest 5th
--    percentile pinball loss.
-- 3. When none is eligible the champion is still named (the API must answer) but flagged eligible =
--    false: sane bands first, then the smallest coverage error, then CRPS.
-- Only each forecaster's newest version (the one still issuing) competes.
{%- set tolerance = var('forecaster_coverage_tolerance') %}
{%- set multiple = var('forecaster_sanity_multiple') %}
{%- set min_independent = var('forecaster_min_independent') %}
{%- set min_returns = var('forecaster_sanity_min_returns') %}

with evaluation as (
    select * from {{ ref('fct_forecast_evaluation') }}
),

calibration as (
    -- The newest calibration window per (portfolio, model, horizon); a subquery, not QUALIFY, which
    -- Spark lacks.
    select * from (
        select
            calibration_rows.*,
            max(calibration_rows.last_target_date) over (
                partition by calibration_rows.portfolio, calibration_rows.model, calibration_rows.horizon
            ) as newest_target_date
        from {{ ref('fct_forecast_calibration') }} as calibration_rows
    ) as windows
    where last_target_date = newest_target_date
),

var_backtest as (
    select * from {{ ref('fct_var_backtest') }}
),

horizons as (
    select distinct horizon from evaluation
),

numbered_days as (
    select
        portfolio,
        date,
        ln(equity)                                                       as log_equity,
        row_number() over (partition by portfolio order by date)         as day_number
    from {{ ref('fct_portfolio_daily') }}
),

-- The log return over each horizon ending on each day: the day `horizon` rows earlier, by a join (a
-- lag whose offset is a column is DuckDB-only).
realised as (
    select
        today.portfolio,
        today.date,
        horizons.horizon,
        today.log_equity - earlier.log_equity                            as realised_return
    from numbered_days as today
    cross join horizons
    left join numbered_days as earlier
      on today.portfolio = earlier.portfolio
     and earlier.day_number = today.day_number - horizons.horizon
),

extremes as (
    select
        portfolio,
        date,
        horizon,
        min(realised_return) over to_date                                                   as worst_to_date,
        max(realised_return) over to_date                                                   as best_to_date,
        count(realised_return) over to_date                                                 as returns_to_date
    from realised
    window to_date as (partition by portfolio, horizon order by date rows between unbounded preceding and current row)
),

breaches as (
    select
        evaluation.portfolio,
        evaluation.model_version,
        evaluation.horizon,
        count(*) filter (
            where extremes.returns_to_date >= {{ min_returns }}
              and ((extremes.worst_to_date < 0 and evaluation.q05 < {{ multiple }} * extremes.worst_to_date)
                or (extremes.best_to_date > 0 and evaluation.q95 > {{ multiple }} * extremes.best_to_date))
        )                                                                                    as band_breaches,
        min(evaluation.q05)                                                                  as lowest_q05
    from evaluation
    inner join extremes
      on evaluation.portfolio = extremes.portfolio
     and evaluation.issue_date = extremes.date
     and evaluation.horizon = extremes.horizon
    group by all
),

judged as (
    select
        calibration.portfolio,
        calibration.horizon,
        calibration.model,
        calibration.model_version,
        calibration.forecasts,
        var_backtest.independent_forecasts,
        calibration.coverage_5_95,
        abs(calibration.coverage_5_95 - 0.90)                                               as coverage_error,
        var_backtest.kupiec_lr,
        var_backtest.kupiec_pass,
        coalesce(breaches.band_breaches, 0)                                                 as band_breaches,
        breaches.lowest_q05,
        calibration.mean_crps_approx,
        calibration.mean_pinball_q05,
        case
            when coalesce(var_backtest.independent_forecasts, 0) < {{ min_independent }}
                then 'fewer than {{ min_independent }} independent matured forecasts'
            when abs(calibration.coverage_5_95 - 0.90) > {{ tolerance }}
                then printf('5-95 coverage %.1f%% is outside 90 +/- {{ tolerance * 100 }} points', 100 * calibration.coverage_5_95)
            when not var_backtest.kupiec_pass
                then printf('the Kupiec test of the 5th percentile fails (LR %.2f >= 3.841)', var_backtest.kupiec_lr)
            when coalesce(breaches.band_breaches, 0) > 0
                then printf('%d bands beyond {{ multiple }}x the worst or best %d-session return realised by then',
                            breaches.band_breaches, calibration.horizon)
        end                                                                                  as ineligible_because
    from calibration
    left join var_backtest
      on calibration.portfolio = var_backtest.portfolio
     and calibration.model_version = var_backtest.model_version
     and calibration.horizon = var_backtest.horizon
    left join breaches
      on calibration.portfolio = breaches.portfolio
     and calibration.model_version = breaches.model_version
     and calibration.horizon = breaches.horizon
),

ranked as (
    select
        *,
        ineligible_because is null                                                           as eligible,
        row_number() over (
            partition by portfolio, horizon
            order by
                ineligible_because is null desc,
                case when ineligible_because is null then mean_crps_approx end,
                band_breaches = 0 desc,
                coverage_error,
                mean_crps_approx asc,
                mean_pinball_q05 asc,
                model asc
        )                                                                                    as selection_rank
    from judged
)

-- The contract's columns in the YAML's order, cast to their declared types (see cast_to_contract).
select {{ cast_to_contract(model.columns, overrides={
    "is_champion": "selection_rank = 1",
    "coverage_error": "round(coverage_error, 10)",
}) }}
from ranked

{{ incremental_by_key(['portfolio', 'issue_date', 'horizon', 'model_version']) }}
{%- if target.type != 'spark' %}
{{ config(post_hook=[
    "delete from {{ this }} where not exists (
        select 1 from {{ ref('stg_ml__forecasts') }} as forecasts
        inner join {{ ref('fct_portfolio_daily') }} as at_issue
          on forecasts.portfolio = at_issue.portfolio and forecasts.issue_date = at_issue.date
        inner join {{ ref('fct_portfolio_daily') }} as at_target
          on forecasts.portfolio = at_target.portfolio and forecasts.target_date = at_target.date
        where forecasts.portfolio = {{ this.identifier }}.portfolio
          and forecasts.issue_date = {{ this.identifier }}.issue_date
          and forecasts.horizon = {{ this.identifier }}.horizon
          and forecasts.model_version = {{ this.identifier }}.model_version)"
]) }}
{%- endif %}

-- Every issued forecast whose target date is in the data, scored against what happened: one row per
-- (portfolio, issue_date, horizon, model_version). A forecast appears here once its target session has
-- a portfolio value, and not before. Statistics are rounded to 10 decimals (exact unit tests).
-- Incremental: a night writes the forecasts that matured since the last build and re-scores a forecast
-- whose inputs changed (a re-issued forecast, restated returns inside its window, a replayed backtest
-- book); the post-hook removes a row whose forecast or target session no longer exists. Scoring every
-- forecast is one hash join on keys; only new or changed rows are written.
with forecasts as (
    select * from {{ ref('stg_ml__forecasts') }}
),

portfolio as (
    select portfolio, date, equity from {{ ref('fct_portfolio_daily') }}
),

realised as (
    select
        forecasts.*,
        ln(at_target.equity / at_issue.equity) as realised_return
    from forecasts
    inner join portfolio as at_issue
      on forecasts.portfolio = at_issue.portfolio and forecasts.issue_date = at_issue.date
    inner join portfolio as at_target
      on forecasts.portfolio = at_target.portfolio and forecasts.target_date = at_target.date
),

scored as (
    select
        *,
        {{ pinball_loss('realised_return', 'q05', 0.05) }} as pinball_q05,
        {{ pinball_loss('realised_return', 'q50', 0.5) }}  as pinball_q50,
        {{ pinball_loss('realised_return', 'q95', 0.95) }} as pinball_q95
    from realised
)

select
    cast(portfolio as string)                                   as portfolio,
    cast(issue_date as date)                                     as issue_date,
    cast(horizon as integer)                                     as horizon,
    cast(target_date as date)                                    as target_date,
    cast(model as string)                                       as model,
    cast(model_version as string)                               as model_version,
    cast(round(q05, 10) as double)                               as q05,
    cast(round(q50, 10) as double)                               as q50,
    cast(round(q95, 10) as double)                               as q95,
    cast(round(realised_return, 10) as double)                   as realised_return,
    cast(realised_return < q05 as boolean)                       as below_q05,
    cast(realised_return < q50 as boolean)                       as below_q50,
    cast(realised_return < q95 as boolean)                       as below_q95,
    cast(realised_return between q05 and q95 as boolean)         as in_band,
    cast(round(q95 - q05, 10) as double)                         as band_width,
    cast(round(pinball_q05, 10) as double)                       as pinball_q05,
    cast(round(pinball_q50, 10) as double)                       as pinball_q50,
    cast(round(pinball_q95, 10) as double)                       as pinball_q95,
    -- Interval (Winkler) score of the 90 % band: width plus 2 / 0.1 times any miss.
    cast(round((q95 - q05) + 20 * greatest(q05 - realised_return, 0) + 20 * greatest(realised_return - q95, 0), 10)
         as double)                                              as winkler_score,
    -- CRPS approximated from the three quantiles: 2 x the mean pinball loss.
    cast(round(2 * (pinball_q05 + pinball_q50 + pinball_q95) / 3, 10) as double) as crps_approx
from scored
{%- if is_incremental() %}
where not exists (
    select 1 from {{ this }} as built
    where built.portfolio = scored.portfolio
      and built.issue_date = scored.issue_date
      and built.horizon = scored.horizon
      and built.model_version = scored.model_version
      and built.target_date = scored.target_date
      and built.model = scored.model
      and built.q05 = round(scored.q05, 10)
      and built.q50 = round(scored.q50, 10)
      and built.q95 = round(scored.q95, 10)
      and built.realised_return = round(scored.realised_return, 10)
)
{%- endif %}

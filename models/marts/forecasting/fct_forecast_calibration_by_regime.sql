-- Forecast calibration per portfolio, model version, horizon and the market regime on the issue date
-- (the point-in-time history: the regime as labelled on that day by the model current then). A
-- forecaster that is calibrated overall can still under-cover in volatile regimes; this is where that
-- shows. Issue dates without a label count as 'unlabelled'.
with evaluation as (
    select * from {{ ref('fct_forecast_evaluation') }}
),

market_regimes as (
    select date, regime
    from {{ ref('stg_ml__regime_history') }}
    where scope = 'market'
)

select
    cast(evaluation.portfolio as string)                             as portfolio,
    cast(evaluation.model as string)                                 as model,
    cast(evaluation.model_version as string)                         as model_version,
    cast(evaluation.horizon as integer)                               as horizon,
    cast(coalesce(market_regimes.regime, 'unlabelled') as string)    as regime,
    cast(count(*) as bigint)                                          as forecasts,
    {{ forecast_calibration_aggregates() }}
from evaluation
left join market_regimes on evaluation.issue_date = market_regimes.date
group by all

-- Forecast calibration per portfolio, model version, horizon and the market regime on the issue date
-- (labels of the newest regime model). A forecaster that is calibrated overall can still under-cover in
-- volatile regimes; this is where that shows. Issue dates without a label count as 'unlabelled'.
with evaluation as (
    select * from {{ ref('fct_forecast_evaluation') }}
),

newest_model as (
    select scope, arg_max(model_version, fitted_at) as model_version
    from {{ ref('stg_ml__regime_models') }}
    group by scope
),

market_regimes as (
    select labels.date, labels.regime
    from {{ ref('stg_ml__regime_labels') }} as labels
    inner join newest_model
        on labels.scope = newest_model.scope and labels.model_version = newest_model.model_version
    where labels.scope = 'market'
)

select
    cast(evaluation.portfolio as varchar)                             as portfolio,
    cast(evaluation.model as varchar)                                 as model,
    cast(evaluation.model_version as varchar)                         as model_version,
    cast(evaluation.horizon as integer)                               as horizon,
    cast(coalesce(market_regimes.regime, 'unlabelled') as varchar)    as regime,
    cast(count(*) as bigint)                                          as forecasts,
    {{ forecast_calibration_aggregates() }}
from evaluation
left join market_regimes on market_regimes.date = evaluation.issue_date
group by all

-- Forecast calibration and accuracy per portfolio, model version and horizon: coverage of the 5-95 band,
-- each quantile's hit rate (should equal its level), band width and the mean scores.
with evaluation as (
    select * from {{ ref('fct_forecast_evaluation') }}
)

select
    cast(portfolio as string)                                        as portfolio,
    cast(model as string)                                            as model,
    cast(model_version as string)                                    as model_version,
    cast(horizon as integer)                                          as horizon,
    cast(count(*) as bigint)                                          as forecasts,
    cast(min(target_date) as date)                                    as first_target_date,
    cast(max(target_date) as date)                                    as last_target_date,
    {{ forecast_calibration_aggregates() }}
from evaluation
group by portfolio, model, model_version, horizon

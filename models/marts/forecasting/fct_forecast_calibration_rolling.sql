-- Calibration over time: for each matured forecast, the calibration of the last 252 matured forecasts of
-- the same portfolio, model version and horizon up to its issue date (a trailing window over issue
-- dates, so each row uses forecasts issued on or before it only).
with evaluation as (
    select * from {{ ref('fct_forecast_evaluation') }}
)

select
    cast(portfolio as string)        as portfolio,
    cast(model as string)            as model,
    cast(model_version as string)    as model_version,
    cast(horizon as integer)          as horizon,
    cast(issue_date as date)          as issue_date,
    cast(count(*) over last_252 as bigint) as window_forecasts,
    {{ forecast_calibration_aggregates(over="last_252") }}
from evaluation
window last_252 as (
    partition by portfolio, model_version, horizon
    order by issue_date
    rows between 251 preceding and current row
)

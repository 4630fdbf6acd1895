-- Forecast calibration and accuracy per portfolio, model version and horizon: coverage of the 5-95 band,
-- each quantile's hit rate (should equal its level), band width and the mean scores.
with evaluation as (
    select * from {{ ref('fct_forecast_evaluation') }}
)

select
    cast(portfolio as varchar)                                        as portfolio,
    cast(model as varchar)                                            as model,
    cast(model_version as varchar)                                    as model_version,
    cast(horizon as integer)                                          as horizon,
    cast(count(*) as bigint)                                          as forecasts,
    cast(min(target_date) as date)                                    as first_target_date,
    cast(max(target_date) as date)                                    as last_target_date,
    cast(round(avg(case when in_band then 1.0 else 0.0 end), 10) as double)   as coverage_5_95,
    cast(round(avg(case when below_q05 then 1.0 else 0.0 end), 10) as double) as hit_rate_q05,
    cast(round(avg(case when below_q50 then 1.0 else 0.0 end), 10) as double) as hit_rate_q50,
    cast(round(avg(case when below_q95 then 1.0 else 0.0 end), 10) as double) as hit_rate_q95,
    cast(round(avg(band_width), 10) as double)                        as mean_band_width,
    cast(round(avg(pinball_q05), 10) as double)                       as mean_pinball_q05,
    cast(round(avg(pinball_q50), 10) as double)                       as mean_pinball_q50,
    cast(round(avg(pinball_q95), 10) as double)                       as mean_pinball_q95,
    cast(round(avg(winkler_score), 10) as double)                     as mean_winkler_score,
    cast(round(avg(crps_approx), 10) as double)                       as mean_crps_approx
from evaluation
group by portfolio, model, model_version, horizon

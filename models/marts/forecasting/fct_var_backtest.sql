-- VaR backtest of the 5th percentile per portfolio, model version and horizon. Forecasts over h
-- sessions overlap, so the tests use every h-th issue date only (independent outcomes).
-- Kupiec proportion of failures: LR = -2 ln[(1-p)^(n-x) p^x / (1-x/n)^(n-x) (x/n)^x], chi-square(1).
-- Christoffersen independence: LR from the transition counts of the exceedance sequence, chi-square(1).
-- A test passes below 3.841, the 95 % critical value of chi-square(1).
with evaluation as (
    select * from {{ ref('fct_forecast_evaluation') }}
),

numbered as (
    select *, row_number() over (partition by portfolio, model_version, horizon order by issue_date) as issue_number
    from evaluation
),

independent as (
    select *,
        lag(below_q05) over (partition by portfolio, model_version, horizon order by issue_date) as previous_below
    from numbered
    where mod(issue_number - 1, horizon) = 0
),

counts as (
    select
        portfolio, model, model_version, horizon,
        count(*)                                                                       as n,
        sum(case when below_q05 then 1 else 0 end)                                     as x,
        sum(case when previous_below = false and below_q05 = false then 1 else 0 end)  as n00,
        sum(case when previous_below = false and below_q05 then 1 else 0 end)          as n01,
        sum(case when previous_below and below_q05 = false then 1 else 0 end)          as n10,
        sum(case when previous_below and below_q05 then 1 else 0 end)                  as n11
    from independent
    group by portfolio, model, model_version, horizon
),

rates as (
    select
        *,
        x / n                                     as exceedance_rate,
        n01 / nullif(n00 + n01, 0)                as pi_0,
        n11 / nullif(n10 + n11, 0)                as pi_1,
        (n01 + n11) / nullif(n00 + n01 + n10 + n11, 0) as pi_all
    from counts
),

statistics as (
    select
        *,
        -2 * ({{ xlogy('n - x', '1 - 0.05') }} + {{ xlogy('x', '0.05') }}
              - {{ xlogy('n - x', '1 - exceedance_rate') }} - {{ xlogy('x', 'exceedance_rate') }}) as kupiec_lr,
        -2 * ({{ xlogy('n00 + n10', '1 - pi_all') }} + {{ xlogy('n01 + n11', 'pi_all') }}
              - {{ xlogy('n00', '1 - pi_0') }} - {{ xlogy('n01', 'pi_0') }}
              - {{ xlogy('n10', '1 - pi_1') }} - {{ xlogy('n11', 'pi_1') }})                     as christoffersen_lr
    from rates
)

select
    cast(portfolio as string)                        as portfolio,
    cast(model as string)                            as model,
    cast(model_version as string)                    as model_version,
    cast(horizon as integer)                          as horizon,
    cast(n as bigint)                                 as independent_forecasts,
    cast(x as bigint)                                 as exceedances,
    cast(round(exceedance_rate, 10) as double)        as exceedance_rate,
    cast(round(kupiec_lr, 10) as double)              as kupiec_lr,
    cast(kupiec_lr < 3.841 as boolean)                as kupiec_pass,
    cast(round(christoffersen_lr, 10) as double)      as christoffersen_lr,
    cast(christoffersen_lr < 3.841 as boolean)        as christoffersen_pass
from statistics

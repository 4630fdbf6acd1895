{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key=['symbol', 'date'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('stg_market__daily_ohlcv') }}

-- Statistical guardrails, decided point-in-time: every flag on day t uses rows up to t only, so a
-- flag never changes when later data arrives and an incremental refresh equals a full rebuild.
{%- set training = var('guardrail_training_rows') %}
{%- set min_rows = var('guardrail_min_training_rows') %}
{%- set start = incremental_start_date() %}

with prices as (
    {{ select_with_lookback(ref('int_prices_resolved'), start, training + var('stale_price_sessions') + 5, 'symbol') }}
),

returns as (
    select
        *,
        ln(close / lag(close) over (partition by symbol order by date))     as log_return,
        ln(close / lag(close, 2) over (partition by symbol order by date))  as log_return_2d,
        ln(volume + 1)                                                      as log_volume
    from prices
),

scored as (
    select
        *,
        {{ robust_zscore('log_return', 'symbol', 'date', training, min_rows) }}         as return_robust_z,
        {{ rolling_quantile('log_return', 0.5, "partition by symbol order by date rows between " ~ training ~ " preceding and 1 preceding") }}
                                                                                       as return_trailing_median,
        ({{ rolling_quantile('log_return', 0.75, "partition by symbol order by date rows between " ~ training ~ " preceding and 1 preceding") }}
         - {{ rolling_quantile('log_return', 0.25, "partition by symbol order by date rows between " ~ training ~ " preceding and 1 preceding") }})
         / 1.349                                                                       as return_trailing_scale,
        {{ trailing_zscore('log_volume', 'symbol', 'date', training, min_rows) }}       as volume_z,
        {{ stale_price_flag('close', 'symbol', 'date', var('stale_price_sessions')) }}  as is_stale_price
    from returns
),

spikes as (
    select
        *,
        coalesce(abs(return_robust_z) > {{ var('return_spike_robust_z') }}, false) as is_raw_spike
    from scored
),

judged as (
    select
        *,
        -- The day after a spike is judged against the close before the spike, so a one-day bad
        -- print quarantines the bad day only and not the honest day that reverts it.
        case when lag(is_raw_spike) over (partition by symbol order by date)
             then log_return_2d else log_return
        end as judged_return,
        case when lag(is_raw_spike) over (partition by symbol order by date)
             then (log_return_2d - return_trailing_median) / nullif(return_trailing_scale, 0)
             else return_robust_z
        end as return_spike_z
    from spikes
),

final as (
    select
        symbol,
        date,
        source,
        open,
        high,
        low,
        close,
        close_unadjusted,
        volume,
        log_return,
        judged_return,
        return_spike_z,
        return_trailing_median,
        return_trailing_scale,
        volume_z,
        coalesce(abs(return_spike_z) > {{ var('return_spike_robust_z') }}, false)  as is_return_spike,
        coalesce(is_stale_price, false)                                            as is_stale_price,
        coalesce(abs(volume_z) > {{ var('volume_anomaly_z') }}, false)             as is_volume_anomaly,
        loaded_at                                                                  as source_loaded_at
    from judged
    where date >= {{ start }}
)

select
    *,
    is_return_spike or is_stale_price as is_quarantined
from final

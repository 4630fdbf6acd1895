{{ config(
    materialized='incremental',
    incremental_strategy='delete+insert',
    unique_key='date',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('stg_market__daily_ohlcv') }}

-- Statistical guardrails, decided point-in-time: every flag on day t uses bars up to t only, so a
-- flag never changes when later data arrives and an incremental refresh equals a full rebuild.
-- unique_key='date': an incremental run replaces whole dates.
{%- set training = var('guardrail_training_rows') %}
{%- set min_rows = var('guardrail_min_training_rows') %}
{%- set start = incremental_start_date() %}

with prices as (
    {{ select_with_lookback(ref('int_prices_resolved'), start, training + var('stale_price_sessions') + 5, 'symbol') }}
),

spikes as (
    {{ return_spike_flags('prices', 'close', var('return_spike_robust_z'), training, min_rows) }}
),

scored as (
    select
        *,
        {{ trailing_zscore('ln(volume + 1)', 'symbol', 'date', training, min_rows) }}  as volume_z,
        {{ stale_price_flag('close', 'symbol', 'date', var('stale_price_sessions')) }}  as is_stale_price_raw
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
        is_return_spike,
        coalesce(is_stale_price_raw, false)                                        as is_stale_price,
        coalesce(abs(volume_z) > {{ var('volume_anomaly_z') }}, false)             as is_volume_anomaly,
        loaded_at                                                                  as source_loaded_at
    from scored
    where date >= {{ start }}
)

select
    *,
    is_return_spike or is_stale_price as is_quarantined
from final

{{ incremental_by_date() }}

-- Statistical guardrails, decided point-in-time: every flag on day t uses bars up to t only, so a
-- flag never changes when later data arrives and an incremental refresh equals a full rebuild.
{%- set training = var('guardrail_training_rows') %}
{%- set min_rows = var('guardrail_min_training_rows') %}
{%- set start = incremental_start_date() %}

with prices as (
    {{ select_with_lookback(ref('int_prices_resolved'), start, training + var('stale_price_sessions') + 5, 'symbol') }}
),

releases as (
    select
        symbol,
        date,
        max(case when rule = 'return_spike' then released_at end) as spike_released_at,
        max(case when rule = 'stale_price' then released_at end)  as stale_released_at
    from {{ ref('stg_market__quarantine_releases') }}
    group by symbol, date
),

spikes as (
    {{ return_spike_flags('prices', 'close', var('return_spike_robust_z'), training, min_rows) }}
),

scored as (
    select
        *,
        {{ trailing_zscore('ln(volume + 1)', 'symbol', 'date', training, min_rows) }}  as volume_z,
        {{ stale_bar_flag(['open', 'high', 'low', 'close'], 'symbol', 'date', var('stale_price_sessions')) }} as is_stale_price_raw
    from spikes
),

with_releases as (
    select scored.*, releases.spike_released_at, releases.stale_released_at
    from scored
    left join releases on scored.symbol = releases.symbol and scored.date = releases.date
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
        volume_status,
        log_return,
        judged_return,
        return_spike_z,
        return_trailing_median,
        return_trailing_scale,
        volume_z,
        is_return_spike,
        coalesce(is_stale_price_raw, false)                                        as is_stale_price,
        coalesce(abs(volume_z) > {{ var('volume_anomaly_z') }}, false)             as is_volume_anomaly,
        spike_released_at is not null or stale_released_at is not null             as is_released,
        -- A release changes history: its time joins the watermark incremental runs compare against.
        greatest(loaded_at, coalesce(spike_released_at, loaded_at), coalesce(stale_released_at, loaded_at))
                                                                                   as source_loaded_at,
        (is_return_spike and spike_released_at is null)
            or (coalesce(is_stale_price_raw, false) and stale_released_at is null) as is_quarantined
    from with_releases
    where date >= {{ start }}
)

select * from final

-- The price series features are computed from: every resolved bar except quarantined ones
-- (return spikes and stale prices, see fct_price_quarantine). A quarantined day is a missing day to
-- the features, never a silently used price.
with checked as (
    select * from {{ ref('int_prices_checked') }}
),

calendar as (
    select * from {{ ref('int_calendar_days_spined') }}
),

cleaned as (
    select
        checked.symbol,
        checked.date,
        calendar.session_number,
        checked.open,
        checked.high,
        checked.low,
        checked.close,
        checked.volume,
        checked.volume_status,
        checked.price_fields,
        checked.source_loaded_at
    from checked
    inner join calendar on checked.date = calendar.date
    where not checked.is_quarantined
      and calendar.is_trading_day
)

select * from cleaned

-- One bar per (symbol, date): where several providers delivered the same session, the one ranked
-- first in var('source_priority') wins (then the most recently loaded). Open, high and low are put
-- on the adjusted-close basis so every price column is split- and dividend-consistent.
with prices as (
    select * from {{ ref('stg_market__daily_ohlcv') }}
),

ranked as (
    select
        *,
        row_number() over (
            partition by symbol, date
            order by {{ source_priority_rank('source') }}, loaded_at desc
        ) as source_rank
    from prices
),

resolved as (
    select
        symbol,
        date,
        source,
        adjusted_close / close         as adjustment_factor,
        open * adjusted_close / close  as open,
        high * adjusted_close / close  as high,
        low * adjusted_close / close   as low,
        adjusted_close                 as close,
        close                          as close_unadjusted,
        volume,
        loaded_at
    from ranked
    where source_rank = 1
)

select * from resolved

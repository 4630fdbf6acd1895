-- One bar per (symbol, date): where several providers delivered the same session, the one ranked
-- first in var('source_priority') wins (then the most recently loaded). Open, high and low are put
-- on the adjusted-close basis so every price column is split- and dividend-consistent. Volume is
-- kept only where it is a traded volume: null for a symbol without volume (int_symbols_classified)
-- and on a day that reported zero or nothing, with the reason in volume_status. A close-only bar keeps
-- open, high and low null (price_fields 'close_only').
with prices as (
    select * from {{ ref('stg_market__daily_ohlcv') }}
),

symbols as (
    select * from {{ ref('int_symbols_classified') }}
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
        ranked.symbol,
        ranked.date,
        ranked.source,
        ranked.adjusted_close / ranked.close                 as adjustment_factor,
        ranked.open * ranked.adjusted_close / ranked.close   as open,
        ranked.high * ranked.adjusted_close / ranked.close   as high,
        ranked.low * ranked.adjusted_close / ranked.close    as low,
        ranked.adjusted_close                                as close,
        -- which price fields the source gave: a close-only source (most free daily data) has no
        -- intraday range, and every feature that needs one is null on its bars
        case when ranked.open is null or ranked.high is null or ranked.low is null
             then 'close_only' else 'ohlc' end               as price_fields,
        ranked.close                                         as close_unadjusted,
        case when symbols.has_volume and ranked.volume > 0 then ranked.volume end as volume,
        case
            when not symbols.has_volume then 'no_volume_symbol'
            when ranked.volume is null then 'not_reported'
            when ranked.volume = 0 then 'zero_volume'
            else 'reported'
        end                            as volume_status,
        -- A later declaration about the symbol changes its history: it joins the incremental watermark.
        greatest(ranked.loaded_at, coalesce(symbols.declared_at, ranked.loaded_at)) as loaded_at
    from ranked
    inner join symbols on ranked.symbol = symbols.symbol
    where ranked.source_rank = 1
)

select * from resolved

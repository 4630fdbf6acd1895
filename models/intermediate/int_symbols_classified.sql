-- One row per landed symbol: does its feed carry a traded volume? An explicit declaration wins
-- (`featurecast ingest csv --no-volume`, raw.symbol_properties); otherwise a symbol is treated as
-- having no volume when it is an index by name (a leading ^, as Yahoo writes ^GSPC) or when no bar
-- ever reported a positive volume. Without volume every volume feature is null, and dollar volume is
-- never computed from index points.
with bars as (
    select symbol, max(volume) as max_volume
    from {{ ref('stg_market__daily_ohlcv') }}
    group by symbol
),

declared as (
    select * from {{ ref('stg_market__symbol_properties') }}
),

classified as (
    select
        bars.symbol,
        case
            when declared.has_volume is not null then declared.has_volume
            when bars.symbol like '^%' then false
            else coalesce(bars.max_volume, 0) > 0
        end                                                                  as has_volume,
        case
            when declared.has_volume is not null then 'declared'
            when bars.symbol like '^%' then 'index_symbol'
            when coalesce(bars.max_volume, 0) > 0 then 'reported'
            else 'no_volume_reported'
        end                                                                  as volume_basis,
        declared.declared_at
    from bars
    left join declared on bars.symbol = declared.symbol
)

select * from classified

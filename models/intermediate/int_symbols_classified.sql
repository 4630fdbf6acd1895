-- One row per landed symbol: does its feed carry a traded volume, and is it a holding or a benchmark?
-- Volume: an explicit declaration wins (`featurecast ingest csv --no-volume`, raw.symbol_properties);
-- otherwise a symbol is treated as having no volume when it is an index by name (a leading ^, as Yahoo
-- writes ^GSPC) or when no bar ever reported a positive volume. Without volume every volume feature is
-- null, and dollar volume is never computed from index points.
-- Role: the market series (var('market_series')) is a benchmark; then a declaration (`--benchmark`),
-- the symbol_roles seed, and a leading ^ make one; every other symbol is tradable. A benchmark keeps
-- its features but is never a training row, a signal, a holding or a member of the cross-section.
{%- set market = none if var('market_series') == 'equal_weight' else var('market_series') | upper %}
with bars as (
    select symbol, max(volume) as max_volume
    from {{ ref('stg_market__daily_ohlcv') }}
    group by symbol
),

declared as (
    select * from {{ ref('stg_market__symbol_properties') }}
),

seeded as (
    select upper(trim(symbol)) as symbol, role from {{ ref('symbol_roles') }}
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
        case
            {%- if market %}
            when bars.symbol = '{{ market }}' then 'benchmark'
            {%- endif %}
            when declared.role is not null then declared.role
            when seeded.role is not null then seeded.role
            when bars.symbol like '^%' then 'benchmark'
            else 'tradable'
        end                                                                  as role,
        case
            {%- if market %}
            when bars.symbol = '{{ market }}' then 'market_series'
            {%- endif %}
            when declared.role is not null then 'declared'
            when seeded.role is not null then 'seed'
            when bars.symbol like '^%' then 'index_symbol'
            else 'default'
        end                                                                  as role_basis,
        declared.declared_at
    from bars
    left join declared on bars.symbol = declared.symbol
    left join seeded on bars.symbol = seeded.symbol
)

select
    *,
    role = 'tradable' as is_tradable
from classified

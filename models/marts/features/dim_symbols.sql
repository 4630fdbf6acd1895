-- One row per symbol: coverage, data quality and freshness, its role, and which feature families its
-- data cannot give (and why), for analysts and the serving layer.
{%- set market = none if var('market_series') == 'equal_weight' else var('market_series') | upper %}
{%- set needing = features_needing(['open', 'high', 'low']) %}
-- Coverage counts int_prices_checked, the table holding int_prices_resolved's rows (one bar per symbol
-- and session, the winning provider's): the view would rank every provider's bar of all history again.
with bars as (
    select * from {{ ref('int_prices_checked') }}
),

raw_bars as (
    select * from {{ ref('stg_market__daily_ohlcv') }}
),

cleaned as (
    select * from {{ ref('int_prices_cleaned') }}
),

quarantine as (
    select * from {{ ref('fct_price_quarantine') }}
),

features as (
    select symbol, count(*) as feature_bars from {{ ref('fct_daily_features') }} group by symbol
),

classified as (
    select * from {{ ref('int_symbols_classified') }}
),

calendar as (
    select * from {{ ref('int_calendar_days_spined') }}
),

coverage as (
    select
        symbol,
        min(date)                                  as first_date,
        max(date)                                  as last_date,
        count(*)                                   as bars,
        count(*) filter (where price_fields = 'close_only') as close_only_bars,
        mode(source)                               as primary_source
    from bars
    group by symbol
),

landed as (
    select symbol, max(loaded_at) as last_loaded_at from raw_bars group by symbol
),

clean_counts as (
    select symbol, count(*) as clean_bars from cleaned group by symbol
),

-- A bar several rules exclude counts once; released findings no longer count.
findings as (
    select
        symbol,
        count(distinct date) filter (where action = 'excluded_from_features')               as quarantined_bars,
        count(*) filter (where rule = 'missing_session' and action <> 'released')           as missing_sessions,
        count(*) filter (where rule = 'volume_anomaly' and action <> 'released')            as volume_anomalies
    from quarantine
    group by symbol
),

latest as (
    select max(last_date) as market_last_date from coverage
),

behind as (
    select
        coverage.symbol,
        (select last_day.session_number from calendar as last_day where last_day.date = latest.market_last_date)
          - (select own_day.session_number from calendar as own_day where own_day.date = coverage.last_date)
                                                                                          as sessions_behind
    from coverage cross join latest
)

select
    cast(coverage.symbol as string)                          as symbol,
    cast(coverage.first_date as date)                         as first_date,
    cast(coverage.last_date as date)                          as last_date,
    cast(coverage.bars as bigint)                             as bars,
    cast(coalesce(clean_counts.clean_bars, 0) as bigint)      as clean_bars,
    cast(coalesce(features.feature_bars, 0) as bigint)        as feature_bars,
    cast(coalesce(findings.quarantined_bars, 0) as bigint)    as quarantined_bars,
    cast(coalesce(findings.missing_sessions, 0) as bigint)    as missing_sessions,
    cast(coalesce(findings.volume_anomalies, 0) as bigint)    as volume_anomalies,
    cast(classified.has_volume as boolean)                    as has_volume,
    cast(classified.volume_basis as string)                  as volume_basis,
    cast(coverage.primary_source as string)                  as primary_source,
    cast(landed.last_loaded_at as timestamp)                  as last_loaded_at,
    cast(behind.sessions_behind as integer)                   as sessions_behind,
    cast(behind.sessions_behind > {{ var('max_sessions_behind') }} as boolean) as is_stale,
    cast(case when coverage.close_only_bars = 0 then 'ohlc'
              when coverage.close_only_bars = coverage.bars then 'close_only'
              else 'mixed' end as string)                     as price_fields,
    cast(classified.role as string)                           as role,
    cast(classified.role_basis as string)                     as role_basis,
    cast(classified.is_tradable as boolean)                   as is_tradable,
    -- the feature families the symbol's data cannot give, each with its reason (null: all available)
    cast(nullif(concat_ws('; ',
        case when coverage.close_only_bars > 0
             then 'range (' || case when coverage.close_only_bars = coverage.bars then 'close-only source'
                                    else cast(coverage.close_only_bars as string) || ' close-only bars' end
                  || ', no open/high/low: {{ needing | join(", ") }} null)' end,
        case when not classified.has_volume
             then 'volume (no traded volume, ' || classified.volume_basis || ': volume features null)' end
        {%- if market %},
        case when coverage.symbol = '{{ market }}'
             then 'market-relative (the symbol is the market series: beta, correlation and residuals against itself are null)' end
        {%- endif %}
    ), '') as string)                                         as unavailable_features
from coverage
left join clean_counts on coverage.symbol = clean_counts.symbol
left join features on coverage.symbol = features.symbol
left join classified on coverage.symbol = classified.symbol
left join findings on coverage.symbol = findings.symbol
left join behind on coverage.symbol = behind.symbol
left join landed on coverage.symbol = landed.symbol

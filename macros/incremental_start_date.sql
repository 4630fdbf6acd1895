{% macro incremental_start_date() -%}
    {#- The first date an incremental run must (re)build: the earliest session among raw bars loaded,
        quarantine releases made, or symbol declarations changed (from the symbol's first bar), after the newest input this model has seen (its max
        source_loaded_at). A full build starts at the beginning of time; a run with nothing new starts
        after the end of time (builds nothing). Models calling this need
        `-- depends_on: {{ ref('stg_market__daily_ohlcv') }}` (dbt cannot see refs inside is_incremental). -#}
    {%- if is_incremental() -%}
    (select coalesce(min(date), date '9999-12-31') from (
        select date, loaded_at as changed_at from {{ ref('stg_market__daily_ohlcv') }}
        union all
        select date, released_at from {{ ref('stg_market__quarantine_releases') }}
        union all
        select bars.date, declared.declared_at
        from {{ ref('stg_market__symbol_properties') }} as declared
        join {{ ref('stg_market__daily_ohlcv') }} as bars on bars.symbol = declared.symbol
     ) as changes
     where changed_at > (select coalesce(max(source_loaded_at), timestamp '0001-01-01') from {{ this }}))
    {%- else -%}
    date '0001-01-01'
    {%- endif -%}
{%- endmacro %}

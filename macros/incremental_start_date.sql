{% macro incremental_start_date() -%}
    {#- The first date an incremental run must (re)build: the earliest session among raw bars loaded,
        or quarantine releases made, after the newest input this model has seen (its max
        source_loaded_at). A full build starts at the beginning of time; a run with nothing new starts
        after the end of time (builds nothing). Models calling this need
        `-- depends_on: {{ ref('stg_market__daily_ohlcv') }}` (dbt cannot see refs inside is_incremental). -#}
    {%- if is_incremental() -%}
    (select coalesce(min(date), date '9999-12-31') from (
        select date, loaded_at as changed_at from {{ ref('stg_market__daily_ohlcv') }}
        union all
        select date, released_at from {{ ref('stg_market__quarantine_releases') }}
     ) as changes
     where changed_at > (select coalesce(max(source_loaded_at), timestamp '1900-01-01') from {{ this }}))
    {%- else -%}
    date '1900-01-01'
    {%- endif -%}
{%- endmacro %}

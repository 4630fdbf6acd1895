{% macro incremental_by_date() -%}
    {#- The incremental policy every heavy model shares, in one place: delete+insert keyed on `date`, so
        a run replaces whole dates from incremental_start_date() on (a bar that stops qualifying, e.g.
        newly quarantined, disappears instead of lingering); fail on schema drift. Also declares the
        staging parents incremental_start_date() reads, which dbt cannot see inside is_incremental(). -#}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='date',
        on_schema_change='fail'
    ) }}
    -- depends_on: {{ ref('stg_market__daily_ohlcv') }}, {{ ref('stg_market__quarantine_releases') }}, {{ ref('stg_market__symbol_properties') }}
{%- endmacro %}

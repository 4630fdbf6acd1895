{% macro incremental_by_key(unique_key) -%}
    {#- The incremental configuration of a mart whose rows are added or re-scored by key rather than by date
        (fct_forecast_evaluation: a night adds the forecasts that matured and re-scores the ones whose inputs
        changed). Dispatched: DuckDB deletes and inserts keyed on `unique_key` and fails on schema drift;
        Spark (plain parquet, no deletes) rebuilds the table. -#}
    {{ adapter.dispatch('incremental_by_key', 'featurecast')(unique_key) }}
{%- endmacro %}

{% macro default__incremental_by_key(unique_key) -%}
    {{ config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=unique_key,
        on_schema_change='fail'
    ) }}
{%- endmacro %}

{% macro spark__incremental_by_key(unique_key) -%}
    {{ config(materialized='table', file_format='parquet') }}
{%- endmacro %}

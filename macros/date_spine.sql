{% macro date_spine(start_date, end_date) -%}
    {#- One row per calendar day from start_date to end_date inclusive, column `date_day`. -#}
    {{ return(adapter.dispatch('date_spine', 'featurecast')(start_date, end_date)) }}
{%- endmacro %}

{% macro duckdb__date_spine(start_date, end_date) -%}
    select cast(days.day as date) as date_day
    from range(date '{{ start_date }}', date '{{ end_date }}' + interval 1 day, interval 1 day) as days(day)
{%- endmacro %}

{% macro spark__date_spine(start_date, end_date) -%}
    select explode(sequence(date '{{ start_date }}', date '{{ end_date }}', interval 1 day)) as date_day
{%- endmacro %}

{% macro default__date_spine(start_date, end_date) -%}
    select cast(d as date) as date_day
    from unnest(sequence(date '{{ start_date }}', date '{{ end_date }}', interval '1' day)) as t(d)
{%- endmacro %}

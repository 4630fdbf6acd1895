{% macro iso_day_of_week(date_expr) -%}
    {#- ISO day of the week, Monday 1 to Sunday 7 (each engine spells it its own way). -#}
    {{ return(adapter.dispatch('iso_day_of_week', 'featurecast')(date_expr)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(date_expr) -%}
    extract(isodow from {{ date_expr }})
{%- endmacro %}

{% macro spark__iso_day_of_week(date_expr) -%}
    extract(dayofweek_iso from {{ date_expr }})
{%- endmacro %}

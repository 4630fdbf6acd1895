{% macro sample_excess_kurtosis(expr, over) -%}
    {#- Sample excess kurtosis (bias-corrected, as pandas' kurt) over a window clause `over`. DuckDB's
        kurtosis() is this; Spark's is the population excess kurtosis g2, corrected here by
        ((n + 1) g2 + 6) (n - 1) / ((n - 2) (n - 3)). -#}
    {{ return(adapter.dispatch('sample_excess_kurtosis', 'featurecast')(expr, over)) }}
{%- endmacro %}

{% macro default__sample_excess_kurtosis(expr, over) -%}
    kurtosis({{ expr }}) {{ over }}
{%- endmacro %}

{% macro spark__sample_excess_kurtosis(expr, over) -%}
    {%- set n = "count(" ~ expr ~ ") " ~ over -%}
    (((({{ n }}) + 1) * kurtosis({{ expr }}) {{ over }} + 6) * (({{ n }}) - 1)
        / nullif((({{ n }}) - 2) * (({{ n }}) - 3), 0))
{%- endmacro %}

{% macro sample_skewness(expr, over) -%}
    {#- Sample skewness (bias-corrected, as pandas' skew) over a window clause `over` ("over (...)").
        DuckDB's skewness() is this; Spark's is the population skewness g1, corrected here by
        sqrt(n (n - 1)) / (n - 2). -#}
    {{ return(adapter.dispatch('sample_skewness', 'featurecast')(expr, over)) }}
{%- endmacro %}

{% macro default__sample_skewness(expr, over) -%}
    skewness({{ expr }}) {{ over }}
{%- endmacro %}

{% macro spark__sample_skewness(expr, over) -%}
    {%- set n = "count(" ~ expr ~ ") " ~ over -%}
    (skewness({{ expr }}) {{ over }} * sqrt({{ n }} * ({{ n }} - 1)) / nullif({{ n }} - 2, 0))
{%- endmacro %}

{% macro rolling_quantile(expr, quantile, window) -%}
    {#- Continuous quantile of `expr` over a window clause (e.g. "partition by s order by d rows between
        63 preceding and 1 preceding"). Engine-specific, so it is dispatched; the DuckDB and Spark
        versions are exact and agree. -#}
    {{ return(adapter.dispatch('rolling_quantile', 'featurecast')(expr, quantile, window)) }}
{%- endmacro %}

{% macro duckdb__rolling_quantile(expr, quantile, window) -%}
    quantile_cont({{ expr }}, {{ quantile }}) over ({{ window }})
{%- endmacro %}

{% macro spark__rolling_quantile(expr, quantile, window) -%}
    {#- percentile (exact, linear interpolation) equals DuckDB's quantile_cont; percentile_approx does not. -#}
    percentile({{ expr }}, {{ quantile }}) over ({{ window }})
{%- endmacro %}

{% macro trino__rolling_quantile(expr, quantile, window) -%}
    approx_percentile({{ expr }}, {{ quantile }}) over ({{ window }})
{%- endmacro %}

{% macro default__rolling_quantile(expr, quantile, window) -%}
    percentile_cont({{ quantile }}) within group (order by {{ expr }}) over ({{ window }})
{%- endmacro %}

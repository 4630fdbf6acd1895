{% macro is_finite(expr) -%}
    {#- True for a number that is neither NaN nor infinite (null stays null). Dispatched: Spark has no
        isfinite(). -#}
    {{ return(adapter.dispatch('is_finite', 'featurecast')(expr)) }}
{%- endmacro %}

{% macro default__is_finite(expr) -%}
    isfinite({{ expr }})
{%- endmacro %}

{% macro spark__is_finite(expr) -%}
    (not isnan({{ expr }}) and abs({{ expr }}) <> cast('Infinity' as double))
{%- endmacro %}

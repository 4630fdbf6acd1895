{% macro safe_divide(numerator, denominator) -%}
    {#- numerator / denominator, null when the denominator is zero or null. -#}
    (({{ numerator }}) / nullif({{ denominator }}, 0))
{%- endmacro %}

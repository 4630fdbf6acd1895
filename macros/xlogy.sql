{% macro xlogy(x, y) -%}
    {#- x * ln(y), taken as 0 when x is 0 (the convention likelihood-ratio tests need). Proven by the
        fct_var_backtest unit test. -#}
    (case when ({{ x }}) = 0 then 0.0 else ({{ x }}) * ln({{ y }}) end)
{%- endmacro %}

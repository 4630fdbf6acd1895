{% macro ema_lookback_sessions(alpha, tolerance=1e-6) -%}
    {#- Sessions of history `ema` reads for this alpha (where the weight drops below tolerance). -#}
    {%- set q = 1 - alpha -%}
    {%- set ns = namespace(k=0) -%}
    {%- for i in range(1, 20000) -%}
        {%- if q ** i < tolerance -%}{%- set ns.k = i -%}{%- break -%}{%- endif -%}
    {%- endfor -%}
    {{ return(ns.k) }}
{%- endmacro %}

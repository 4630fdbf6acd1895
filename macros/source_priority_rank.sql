{% macro source_priority_rank(source_column) -%}
    {#- Rank of a provider in var('source_priority') (1 = preferred); unknown providers rank last. -#}
    {%- set priority = var('source_priority') -%}
    (case {{ source_column }}
        {%- for name in priority %}
        when '{{ name }}' then {{ loop.index }}
        {%- endfor %}
        else {{ priority | length + 1 }}
    end)
{%- endmacro %}

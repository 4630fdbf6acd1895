{% macro trailing_window(rows, partition_by='symbol', order_by='date') -%}
    {#- A window clause over the last `rows` rows up to and including the current one. -#}
    over (partition by {{ partition_by }} order by {{ order_by }} rows between {{ rows - 1 }} preceding and current row)
{%- endmacro %}

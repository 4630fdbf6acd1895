{% macro stale_price_flag(price, partition_by, order_by, sessions) -%}
    {#- True when `price` has been identical on this row and the `sessions - 1` rows before it.
        Point-in-time: the first rows of a flat run are not flagged until the run is long enough. -#}
    {%- set window = "over (partition by " ~ partition_by ~ " order by " ~ order_by
        ~ " rows between " ~ (sessions - 1) ~ " preceding and current row)" -%}
    (count({{ price }}) {{ window }} = {{ sessions }} and max({{ price }}) {{ window }} = min({{ price }}) {{ window }})
{%- endmacro %}

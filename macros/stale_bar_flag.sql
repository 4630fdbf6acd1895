{% macro stale_bar_flag(columns, partition_by, order_by, sessions) -%}
    {#- True when every column in `columns` (a bar's open, high, low and close) is identical on this row
        and the `sessions - 1` rows before it: the feed repeated its bar. One repeated column is not
        enough: a low-priced stock rounded to a few decimals repeats its close on busy days while its
        high and low move. Point-in-time: a flat run is flagged once it is long enough. -#}
    {%- set columns = [columns] if columns is string else columns -%}
    {%- set window = "over (partition by " ~ partition_by ~ " order by " ~ order_by
        ~ " rows between " ~ (sessions - 1) ~ " preceding and current row)" -%}
    (count({{ columns[0] }}) {{ window }} = {{ sessions }}
    {%- for column in columns %}
     and max({{ column }}) {{ window }} = min({{ column }}) {{ window }}
    {%- endfor %})
{%- endmacro %}

{% test no_stale_prices(model, column_name, sessions=5, partition_by='symbol', order_by='date') %}
{#- Fails (warns) on rows whose price has not changed for `sessions` rows in a row. -#}
select * from (
    select
        {{ partition_by }}, {{ order_by }}, {{ column_name }},
        {{ stale_price_flag(column_name, partition_by, order_by, sessions) }} as is_stale
    from {{ model }}
) flagged
where is_stale
{% endtest %}

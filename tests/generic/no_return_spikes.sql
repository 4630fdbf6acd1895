{% test no_return_spikes(model, column_name, threshold=20, training_rows=63, min_rows=20, partition_by='symbol', order_by='date') %}
{#- Fails (warns) on rows whose daily log return is more than `threshold` robust standard deviations
    (median / IQR of the trailing `training_rows` returns) from normal. -#}
select * from (
    select *, {{ robust_zscore('log_return', partition_by, order_by, training_rows, min_rows) }} as robust_z
    from (
        select
            {{ partition_by }}, {{ order_by }}, {{ column_name }},
            ln({{ column_name }} / lag({{ column_name }}) over (partition by {{ partition_by }} order by {{ order_by }})) as log_return
        from {{ model }}
    ) returns
) scored
where abs(robust_z) > {{ threshold }}
{% endtest %}

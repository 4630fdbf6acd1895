{% test no_volume_anomalies(model, column_name='volume', threshold=10, training_rows=63, min_rows=20, partition_by='symbol', order_by='date') %}
{#- Fails (warns) on rows whose log volume is more than `threshold` standard deviations from its
    trailing `training_rows`-row mean (Elementary-style training window, detection on the row). -#}
select * from (
    select *, {{ trailing_zscore('log_volume', partition_by, order_by, training_rows, min_rows) }} as volume_z
    from (select {{ partition_by }}, {{ order_by }}, {{ column_name }}, ln({{ column_name }} + 1) as log_volume from {{ model }}) v
) scored
where abs(volume_z) > {{ threshold }}
{% endtest %}

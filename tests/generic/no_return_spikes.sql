{% test no_return_spikes(model, column_name, threshold=20, training_rows=63, min_rows=20, partition_by='symbol', order_by='date') %}
{#- Fails (warns) on bars whose daily log return is a spike by the rule in return_spike_flags: more than
    `threshold` robust standard deviations from the trailing `training_rows` returns. -#}
select {{ partition_by }}, {{ order_by }}, {{ column_name }}, judged_return, return_spike_z
from ({{ return_spike_flags(model, column_name, threshold, training_rows, min_rows, partition_by, order_by) }}) as flagged
where is_return_spike
{% endtest %}

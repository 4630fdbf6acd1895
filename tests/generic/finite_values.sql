{% test finite_values(model, column_name) %}
{#- Fails on NaN or infinite values (an overflowing number such as 1e309 lands as infinity). -#}
select *
from {{ model }}
where {{ column_name }} is not null and not {{ is_finite(column_name) }}
{% endtest %}

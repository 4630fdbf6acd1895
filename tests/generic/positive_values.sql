{% test positive_values(model, column_name) %}
{#- Fails on rows where the column is zero or negative (prices must be strictly positive). -#}
select *
from {{ model }}
where {{ column_name }} <= 0
{% endtest %}

{% test dates_not_in_future(model, column_name='date') %}
{#- Fails on rows dated after today: a bar from the future is a feed or parsing error. -#}
select *
from {{ model }}
where {{ column_name }} > current_date
{% endtest %}

{% test dates_within_span(model, start_date, end_date, date_column='date') %}
{#- Fails on rows dated outside [start_date, end_date]: the trading calendar cannot place them, so they
    could never reach the features. -#}
select *
from {{ model }}
where {{ date_column }} < date '{{ start_date }}' or {{ date_column }} > date '{{ end_date }}'
{% endtest %}

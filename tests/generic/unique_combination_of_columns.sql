{% test unique_combination_of_columns(model, combination_of_columns) %}
{#- Fails on every combination of the given columns that occurs more than once (a grain check). -#}
select {{ combination_of_columns | join(', ') }}, count(*) as occurrences
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}

{% test ohlc_consistent(model, open='open', high='high', low='low', close='close') %}
{#- Fails on bars whose high is below the open, close or low, or whose low is above the open or close, and
    on bars with some but not all of open, high and low (a close-only bar has none of them). -#}
select *
from {{ model }}
where {{ high }} < greatest({{ open }}, {{ close }}, {{ low }})
   or {{ low }} > least({{ open }}, {{ close }}, {{ high }})
   or ({{ open }} is null) <> ({{ high }} is null)
   or ({{ open }} is null) <> ({{ low }} is null)
{% endtest %}

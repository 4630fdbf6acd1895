{% test ohlc_consistent(model, open='open', high='high', low='low', close='close') %}
{#- Fails on bars whose high is below the open, close or low, or whose low is above the open or close. -#}
select *
from {{ model }}
where {{ high }} < greatest({{ open }}, {{ close }}, {{ low }})
   or {{ low }} > least({{ open }}, {{ close }}, {{ high }})
{% endtest %}

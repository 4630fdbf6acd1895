{% test no_open_findings(model, rule) %}
{#- Fails (warns) on each finding of `rule` in the quarantine mart that no operator has released: the
    warning counts are the mart's own rows, so a release clears its bar from the next build's count. -#}
select symbol, date, rule, details
from {{ model }}
where rule = '{{ rule }}' and action <> 'released'
{% endtest %}

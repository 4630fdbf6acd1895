{% test bars_accounted_for(model, landed='bars', in_features='feature_bars', quarantined='quarantined_bars') %}
{#- Fails on each symbol whose landed bars are not exactly its bars in the features plus its bars
    excluded by a named quarantine rule: nothing may vanish between raw and the features. -#}
select *
from {{ model }}
where {{ landed }} <> {{ in_features }} + {{ quarantined }}
{% endtest %}

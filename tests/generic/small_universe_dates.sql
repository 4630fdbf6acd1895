{% test small_universe_dates(model, flag='is_small_universe') %}
{#- Fails (warns) on each date whose universe is below var('min_universe_symbols'): cross-sectional
    features are null there, and an equal-weight market is no market. -#}
select date, n_symbols
from {{ model }}
where {{ flag }}
{% endtest %}

{% test no_missing_sessions(model, calendar, symbol_column='symbol', date_column='date') %}
{#- Fails (warns) on each trading session between a symbol's first and last bar that has no bar. -#}
{{ missing_sessions(model, calendar, symbol_column, date_column) }}
{% endtest %}
